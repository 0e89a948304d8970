package websocket

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"
)

// Writing: the flusher pool.
//
// A write syscall costs the same whether it carries one small frame or
// twenty, so the server's fan-out cost per delivery is the cost of a write
// divided by the frames it carries. Connections with queued frames are
// therefore not written by a goroutine of their own as soon as a frame
// arrives, but put on the ready list of one of a few flushers (one per P).
// A flusher takes its whole ready list at once and writes each connection's
// entire queue with one non-blocking writev. While a broadcast walks its
// subscribers, the flushers trail behind it, so the later a connection comes
// in the walk the more frames its single write carries: a burst of
// broadcasts coalesces by construction, not by scheduling luck.
//
// A flusher never waits for a socket. When the kernel takes only part of a
// batch (a slow reader's socket buffer is full), the rest moves to a writer
// goroutine of that connection alone, which blocks with the write deadline
// while the flushers go on with everyone else. A flusher goroutine exists
// only while its ready list is non-empty, like every other goroutine of the
// transport, so an idle server holds none.

// flusher is one shard of the server's write scheduling.
type flusher struct {
	srv *Server

	// mu guards ready and running.
	mu      sync.Mutex
	ready   []*conn
	running bool

	// Scratch space, used only by the running flusher goroutine.
	spare   []*conn
	headers []byte
	bufs    [][]byte
}

// schedule appends c, whose writing flag its caller has just set, to the
// ready list and starts the flusher goroutine if none runs. The caller holds
// c.mu.
func (f *flusher) schedule(c *conn) {
	f.mu.Lock()
	f.ready = append(f.ready, c)
	if !f.running {
		f.running = true
		f.srv.wg.Add(1)
		go f.run()
	}
	f.mu.Unlock()
}

// run writes the connections on the ready list until it is empty.
func (f *flusher) run() {
	defer f.srv.wg.Done()
	for {
		f.mu.Lock()
		batch := f.ready
		if len(batch) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.ready, f.spare = f.spare[:0], nil
		f.mu.Unlock()
		for i, c := range batch {
			f.flush(c)
			batch[i] = nil
		}
		f.mu.Lock()
		if f.spare == nil || cap(batch) > cap(f.spare) {
			f.spare = batch[:0]
		}
		f.mu.Unlock()
	}
}

// flush writes everything c has queued with one non-blocking writev. A
// connection that still has frames afterwards goes to the back of the ready
// list; one whose socket is full gets its own writer goroutine.
func (f *flusher) flush(c *conn) {
	c.mu.Lock()
	batch, sendClose := c.takeLocked()
	if batch == nil {
		c.writing = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()

	f.headers = appendHeaders(f.headers[:0], batch)
	f.bufs = appendBufs(f.bufs[:0], f.headers, batch)
	n, err := tryWritev(c.raw, f.bufs)
	if err != nil {
		c.wrote(batch)
		c.abort(fmt.Errorf("websocket: write: %w", err))
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
		return
	}
	clear(f.bufs)
	if n < batchLen(f.headers, batch) {
		// The kernel took only n bytes. The headers are rebuilt in memory
		// of the connection's own: the next flush reuses f.headers.
		rest := skipBytes(appendBufs(nil, bytes.Clone(f.headers), batch), n)
		c.srv.handoffs.Add(1)
		c.srv.wg.Add(1)
		go c.writeLoop(rest, batch, sendClose)
		return
	}
	c.wrote(batch)
	if sendClose {
		c.closeWritten()
	}
	c.mu.Lock()
	if c.hasWorkLocked() && !c.dead {
		f.schedule(c)
	} else {
		c.writing = false
	}
	c.mu.Unlock()
}

// appendHeaders appends the WebSocket header of every frame of batch.
func appendHeaders(headers []byte, batch []outFrame) []byte {
	for _, f := range batch {
		headers = appendHeader(headers, f.op, len(f.data))
	}
	return headers
}

// batchLen returns the bytes on the wire of batch, whose headers are given.
func batchLen(headers []byte, batch []outFrame) int {
	n := len(headers)
	for _, f := range batch {
		n += len(f.data)
	}
	return n
}

// appendBufs appends, for each frame of batch, its header (taken in order
// from headers, as appendHeaders made them) and its payload when non-empty.
func appendBufs(bufs [][]byte, headers []byte, batch []outFrame) [][]byte {
	off := 0
	for _, f := range batch {
		n := headerLen(len(f.data))
		bufs = append(bufs, headers[off:off+n:off+n])
		if len(f.data) > 0 {
			bufs = append(bufs, f.data)
		}
		off += n
	}
	return bufs
}

// skipBytes returns bufs without their first n bytes.
func skipBytes(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// writeLoop is the writer goroutine of a connection whose socket could not
// take a whole batch: it writes rest (what remains of batch), blocking up to
// WriteTimeout, then everything queued meanwhile, until the queue is empty.
// The next frame after that goes through the flushers again.
func (c *conn) writeLoop(rest net.Buffers, batch []outFrame, sendClose bool) {
	defer c.srv.wg.Done()
	var headers []byte
	var bufs [][]byte
	for {
		c.mu.Lock()
		timeout := c.srv.opts.WriteTimeout
		if c.closing {
			// Closing (perhaps as a slow consumer): the close frame gets
			// only CloseTimeout.
			timeout = min(timeout, c.srv.opts.CloseTimeout)
		}
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
		_, err := rest.WriteTo(c.nc)
		c.wrote(batch)
		if err != nil {
			c.abort(fmt.Errorf("websocket: write: %w", err))
			c.mu.Lock()
			c.writing = false
			c.mu.Unlock()
			return
		}
		if sendClose {
			c.closeWritten()
		}
		c.mu.Lock()
		batch, sendClose = c.takeLocked()
		if batch == nil {
			c.writing = false
			c.mu.Unlock()
			// Flushers write without deadlines; clear ours. A deadline
			// set meanwhile to cut a slow consumer is set again by Close.
			_ = c.nc.SetWriteDeadline(time.Time{})
			return
		}
		c.mu.Unlock()
		headers = appendHeaders(headers[:0], batch)
		bufs = appendBufs(bufs[:0], headers, batch)
		rest = bufs
	}
}
