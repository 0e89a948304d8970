//go:build linux

package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// poller watches idle connections with an epoll instance of its own, so that
// an idle connection needs no goroutine at all: when a parked connection's
// socket becomes readable, the poller starts a reader goroutine for it,
// which reads every frame that is there and parks the connection again.
// Each registration is one-shot: a connection is reported once, then not
// again until it is re-armed, so a connection has at most one reader.
//
// The poller also expires idle connections, which have no read deadline
// while parked: every sweep interval it ends those with no inbound frame
// for IdleTimeout.
//
// A poller runs while it has connections: the first parked connection
// starts it, and it stops when its last connection is forgotten.
type poller struct {
	srv    *Server
	epfd   int
	wakefd int // an eventfd that interrupts EpollWait when the poller stops
	sweep  time.Duration

	// mu guards conns, nextID and stopping.
	mu       sync.Mutex
	conns    map[uint64]*conn
	nextID   uint64
	stopping bool
}

// pollSupported reports whether connections can be parked on this system.
const pollSupported = true

// newPoller returns a started poller.
func newPoller(s *Server) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("websocket: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("websocket: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	putID(&ev, 0) // 0 is the wake fd; connections are numbered from 1
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("websocket: epoll_ctl wake fd: %w", err)
	}
	sweep := min(s.opts.IdleTimeout/8, 5*time.Second)
	sweep = max(sweep, 10*time.Millisecond)
	p := &poller{srv: s, epfd: epfd, wakefd: wakefd, sweep: sweep, conns: make(map[uint64]*conn)}
	s.wg.Add(1)
	go p.run()
	return p, nil
}

// putID stores a connection number in an epoll event's user data.
func putID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

// getID returns the connection number of an epoll event.
func getID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// add registers c, which its caller has just stopped reading. It fails
// when the poller is stopping; the caller then starts a new one.
func (p *poller) add(c *conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return errPollerStopping
	}
	p.nextID++
	id := p.nextID
	var fd int
	var ctlErr error
	err := c.raw.Control(func(s uintptr) {
		fd = int(s)
		ev := unix.EpollEvent{Events: pollEvents}
		putID(&ev, id)
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return fmt.Errorf("websocket: epoll_ctl add: %w", err)
	}
	p.conns[id] = c
	c.pollID = id
	return nil
}

// rearm asks for one more report of c, registered with p.
func (p *poller) rearm(c *conn) error {
	var ctlErr error
	err := c.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: pollEvents}
		putID(&ev, c.pollID)
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		return fmt.Errorf("websocket: epoll_ctl mod: %w", err)
	}
	return nil
}

// remove forgets c, whose socket is closed or about to be (closing a socket
// also removes it from the epoll set). It reports whether p has no
// connections left and is now stopping.
func (p *poller) remove(c *conn) (stopped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c.pollID)
	if len(p.conns) > 0 || p.stopping {
		return false
	}
	p.stopping = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wakefd, one[:])
	return true
}

// run waits for readable connections and starts their readers, and sweeps
// for idle ones, until the poller stops.
func (p *poller) run() {
	defer p.srv.wg.Done()
	defer unix.Close(p.wakefd)
	defer unix.Close(p.epfd)
	events := make([]unix.EpollEvent, 256)
	ready := make([]*conn, 0, len(events))
	nextSweep := time.Now().Add(p.sweep)
	for {
		n, err := unix.EpollWait(p.epfd, events, int(p.sweep/time.Millisecond)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			p.srv.opts.Logger.Error("websocket: epoll_wait failed; parked connections are cut", "err", err)
			p.abortAll(fmt.Errorf("websocket: epoll_wait: %w", err))
			return
		}
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if c := p.conns[getID(&ev)]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			c.wake()
			ready[i] = nil
		}
		ready = ready[:0]
		if now := time.Now(); now.After(nextSweep) {
			p.expire(now)
			nextSweep = now.Add(p.sweep)
		}
	}
}

// expire ends the parked connections that had no inbound frame for
// IdleTimeout.
func (p *poller) expire(now time.Time) {
	limit := now.Add(-p.srv.opts.IdleTimeout).UnixNano()
	var idle []*conn
	p.mu.Lock()
	for _, c := range p.conns {
		if c.lastRead.Load() < limit {
			idle = append(idle, c)
		}
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.expireIdle()
	}
}

// abortAll cuts every parked connection.
func (p *poller) abortAll(err error) {
	p.mu.Lock()
	all := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		all = append(all, c)
	}
	p.stopping = true
	p.mu.Unlock()
	for _, c := range all {
		c.abort(err)
	}
}

// isStopping reports whether p takes no more connections.
func (p *poller) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// tryRead reads what the socket holds into p without waiting:
// errWouldBlock means nothing is there, io.EOF that the peer closed.
func (c *conn) tryRead(p []byte) (int, error) {
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if !errors.Is(rerr, unix.EINTR) {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(rerr, unix.EAGAIN):
		return 0, errWouldBlock
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
