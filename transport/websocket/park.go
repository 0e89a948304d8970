package websocket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Reading: parked connections.
//
// Where the system allows it (Linux), a connection between frames has no
// reader goroutine: it is parked on the server's poller (poll_linux.go),
// which starts a reader for it when bytes arrive. The reader reads every
// frame that is there, then parks the connection again. A goroutine costs
// at least a 2 KiB stack and its runtime descriptor, more than everything
// else an idle connection holds, so this is what lets a node keep many
// idle connections. The state of a connection's reading is:
//
//	c.reading  a goroutine reads the connection (or has claimed it to end it)
//	c.poller   the poller the connection is registered with, once parked
//
// Whoever sets reading from false owns the reading: the poller's wake (a
// reader for new bytes), closeWritten (a blocking reader that waits for
// the client's close frame within CloseTimeout), abort and the idle sweep
// (which end the connection). Only a reader that parks sets it back.

// errWouldBlock is tryRead's answer when no byte waits on the socket.
var errWouldBlock = errors.New("websocket: would block")

// errPollerStopping refuses a connection to a poller that has lost its
// last one and is stopping.
var errPollerStopping = errors.New("websocket: poller stopping")

// startReading starts reading a connection that has just been upgraded:
// parked when possible, else with a reader goroutine of its own.
func (c *conn) startReading() {
	c.lastRead.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.reading = true
	c.mu.Unlock()
	if pollSupported && c.raw != nil && c.rd == c.nc && c.park() {
		return
	}
	go c.readLoop()
}

// park registers the connection with a poller, or re-arms it, and gives up
// reading. It returns false when parking failed; the caller still reads.
func (c *conn) park() bool {
	if p := c.poller; p != nil {
		c.mu.Lock()
		c.reading = false
		err := p.rearm(c)
		if err != nil {
			c.reading = true
		}
		c.mu.Unlock()
		return err == nil
	}
	s := c.srv
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	for range 2 { // a poller may stop between the check and the add
		if s.poll == nil || s.poll.isStopping() {
			p, err := newPoller(s)
			if err != nil {
				s.opts.Logger.Warn("websocket: cannot poll; reading with a goroutine per connection", "err", err)
				return false
			}
			s.poll = p
		}
		c.mu.Lock()
		c.reading = false
		err := s.poll.add(c)
		if err == nil {
			c.poller = s.poll
		} else {
			c.reading = true
		}
		c.mu.Unlock()
		if err == nil {
			return true
		}
		if !errors.Is(err, errPollerStopping) {
			s.opts.Logger.Warn("websocket: cannot park a connection", "err", err)
			return false
		}
	}
	return false
}

// wake starts a reader for a parked connection whose socket is readable.
func (c *conn) wake() {
	c.mu.Lock()
	if c.reading || c.dead {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.srv.wg.Add(1)
	c.mu.Unlock()
	go c.readBurst()
}

// claimParked takes the reading of a parked connection, to end it.
func (c *conn) claimParked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.poller == nil || c.reading {
		return false
	}
	c.reading = true
	return true
}

// readBufSize is the size of the buffer a reader borrows for one burst.
const readBufSize = 4 << 10

// burstReader serves the bytes of the reader's last non-blocking read, then
// reads the socket itself (blocking, under the frame's read deadline), for
// a frame that did not arrive whole.
type burstReader struct {
	buf []byte // unread bytes of the last read
	nc  net.Conn
}

func (r *burstReader) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	return r.nc.Read(p)
}

// readBurst reads the frames that have arrived on a woken connection, then
// parks it again. It borrows a buffer from the server's pool for the burst,
// so that a small frame costs one read system call and an idle connection
// holds no buffer. A connection that is closing is read to its end by
// serve instead, which keeps the close deadline.
func (c *conn) readBurst() {
	defer c.srv.wg.Done()
	bp := c.srv.readBufs.Get().(*[]byte)
	br := &burstReader{nc: c.nc}
	c.rd = br
	// done gives the buffer back unless bytes of it are still to be read.
	done := func() {
		if len(br.buf) == 0 {
			c.rd = c.nc
			c.srv.readBufs.Put(bp)
		}
	}
	deadline := false
	for {
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			done()
			c.finish(c.serve())
			return
		}
		if len(br.buf) == 0 {
			n, err := c.tryRead(*bp)
			if errors.Is(err, errWouldBlock) {
				if deadline {
					_ = c.nc.SetReadDeadline(time.Time{})
				}
				done()
				if c.park() {
					return
				}
				c.finish(c.serve())
				return
			}
			if err != nil {
				done()
				c.finish(err)
				return
			}
			br.buf = (*bp)[:n]
		}
		b0 := br.buf[0]
		br.buf = br.buf[1:]
		c.lastRead.Store(time.Now().UnixNano())
		// The rest of the frame may still be on its way: IdleTimeout
		// bounds the wait for it, as in serve.
		_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		deadline = true
		if err := c.frame(b0); err != nil {
			if errors.Is(err, errClosed) {
				err = nil
			}
			done()
			c.finish(err)
			return
		}
	}
}

// endParked ends a parked connection with err from a goroutine of its own,
// if the caller could claim its reading.
func (c *conn) endParked(err error) {
	if !c.claimParked() {
		return
	}
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.finish(err)
	}()
}

// expireIdle ends a parked connection that had no inbound frame for
// IdleTimeout.
func (c *conn) expireIdle() {
	c.endParked(fmt.Errorf("websocket: idle timeout: %w", os.ErrDeadlineExceeded))
}

// readClose waits, in a goroutine of its own, for the client's answer to
// our close frame on a parked connection; serve keeps the close deadline.
func (c *conn) readClose() {
	if !c.claimParked() {
		return
	}
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.finish(c.serve())
	}()
}
