// Command raw is the machine's write limit for Parley's load tool: not a
// WebSocket library but the least a server can do. It answers the
// WebSocket handshake itself, keeps the raw socket, reads and discards
// client frames (answering close), and broadcasts by writing pre-built
// server frames with plain write(2) system calls through the socket's
// syscall.RawConn: with -coalesce=false one write per frame per
// connection, with -coalesce=true one write per connection carrying every
// frame of a burst. The writes are spread over GOMAXPROCS goroutines, each
// owning a shard of the connections. No queues, no per-connection
// goroutine besides the reader.
package main

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/parley-go/parley/bench/peers/ctl"
)

type conn struct {
	nc    *net.TCPConn
	rc    syscall.RawConn
	topic string
	// mu serialises writes (broadcasts and the reader's close reply).
	mu sync.Mutex
}

// write writes b with write(2) calls: one, unless the kernel takes part.
func (c *conn) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		var n int
		var werr error
		err := c.rc.Write(func(fd uintptr) bool {
			n, werr = syscall.Write(int(fd), b)
			return !errors.Is(werr, syscall.EAGAIN)
		})
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		b = b[n:]
	}
	return nil
}

type server struct {
	coalesce bool
	sockets  atomic.Int64

	// mu guards topics.
	mu     sync.RWMutex
	topics map[string]map[*conn]struct{}
}

// Sockets implements ctl.Server.
func (s *server) Sockets() int64 { return s.sockets.Load() }

// Broadcast implements ctl.Server: one write per connection.
func (s *server) Broadcast(topic, event string, payload []byte) error {
	frame := appendFrame(nil, ctl.Frame(nil, topic, event, payload))
	s.each(topic, func(c *conn) { _ = c.write(frame) })
	return nil
}

// BroadcastBatch implements ctl.Batcher: with -coalesce every frame of the
// burst in one write per connection, else one write per frame.
func (s *server) BroadcastBatch(topic, event string, payloads [][]byte) error {
	frames := make([][]byte, len(payloads))
	var all []byte
	for i, p := range payloads {
		frames[i] = appendFrame(nil, ctl.Frame(nil, topic, event, p))
		all = append(all, frames[i]...)
	}
	if s.coalesce {
		s.each(topic, func(c *conn) { _ = c.write(all) })
		return nil
	}
	for _, f := range frames {
		s.each(topic, func(c *conn) { _ = c.write(f) })
	}
	return nil
}

// each runs fn for every connection of topic on GOMAXPROCS goroutines.
func (s *server) each(topic string, fn func(*conn)) {
	s.mu.RLock()
	conns := make([]*conn, 0, len(s.topics[topic]))
	for c := range s.topics[topic] {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(conns); i += workers {
				fn(conns[i])
			}
		})
	}
	wg.Wait()
}

// appendFrame appends an unmasked final text frame carrying p.
func appendFrame(dst, p []byte) []byte {
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n < 1<<16:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, p...)
}

func (s *server) upgrade(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		http.Error(w, "not a websocket handshake", http.StatusBadRequest)
		return
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok || brw.Reader.Buffered() > 0 {
		_ = nc.Close()
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		_ = nc.Close()
		return
	}
	c := &conn{nc: tc, rc: rc, topic: ctl.Topic(r)}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n"
	if err := c.write([]byte(resp)); err != nil {
		_ = nc.Close()
		return
	}
	s.sockets.Add(1)
	s.mu.Lock()
	set := s.topics[c.topic]
	if set == nil {
		set = map[*conn]struct{}{}
		s.topics[c.topic] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	_ = c.write(appendFrame(nil, []byte(ctl.Hello)))
	go s.readLoop(c)
}

// readLoop discards client frames; it answers a close frame and ends.
func (s *server) readLoop(c *conn) {
	defer func() {
		s.mu.Lock()
		delete(s.topics[c.topic], c)
		s.mu.Unlock()
		s.sockets.Add(-1)
		_ = c.nc.Close()
	}()
	var hdr [14]byte
	for {
		if _, err := io.ReadFull(c.nc, hdr[:2]); err != nil {
			return
		}
		op, n := hdr[0]&0x0f, uint64(hdr[1]&0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.nc, hdr[2:4]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.nc, hdr[2:10]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		if hdr[1]&0x80 != 0 {
			if _, err := io.ReadFull(c.nc, hdr[10:14]); err != nil {
				return
			}
		}
		if op == 0x8 {
			_ = c.write([]byte{0x88, 2, 0x03, 0xe8})
			return
		}
		if _, err := io.CopyN(io.Discard, c.nc, int64(n)); err != nil {
			return
		}
	}
}

func main() {
	coalesce := flag.Bool("coalesce", false, "write every frame of a burst to a connection in one write")
	s := &server{topics: map[string]map[*conn]struct{}{}}
	ctl.Main(ctl.Peer{
		Proto:  "plain",
		Server: &lateFlag{s: s, coalesce: coalesce},
		Routes: func(mux *http.ServeMux) { mux.HandleFunc("GET /ws", s.upgrade) },
	})
}

// lateFlag reads -coalesce after ctl.Main has parsed the command line.
type lateFlag struct {
	s        *server
	coalesce *bool
}

func (l *lateFlag) Sockets() int64 { return l.s.Sockets() }

func (l *lateFlag) Broadcast(topic, event string, payload []byte) error {
	return l.s.Broadcast(topic, event, payload)
}

func (l *lateFlag) BroadcastBatch(topic, event string, payloads [][]byte) error {
	l.s.coalesce = *l.coalesce
	return l.s.BroadcastBatch(topic, event, payloads)
}
