package websocket

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

// outFrame is one queued server frame.
type outFrame struct {
	op   byte
	data []byte
}

// conn is one WebSocket connection. Between frames it is parked on the
// server's poller where the system allows (park.go), else read by a
// goroutine of its own; its frames are written by the server's flushers
// (flush.go). So an idle connection costs no goroutine and no buffer.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     io.Reader // nc, the hijacked reader while it holds buffered bytes, or a burst's buffer (park.go)
	remote string
	recv   transport.Receiver
	// raw writes without blocking (nil when nc is not a socket); shard is
	// the flusher that writes this connection.
	raw   syscall.RawConn
	shard *flusher
	// lastRead is when the last frame began (unix nanoseconds), for the
	// idle sweep of parked connections. poller and pollID say where the
	// connection is parked once it has been (see park.go).
	lastRead atomic.Int64
	poller   *poller
	pollID   uint64
	// first receives the first byte of each frame (see serve); frag,
	// fragOp and inFrag hold a fragmented message being assembled. Only
	// the current reader (one at a time) touches them.
	first  [1]byte
	inFrag bool
	fragOp byte
	frag   []byte
	// text validates the text message being read as its bytes arrive;
	// fragDeflated says the message being assembled is compressed.
	text         utf8State
	fragDeflated bool
	// deflate: permessage-deflate was negotiated (set before the first
	// frame, then read only).
	deflate bool

	// mu guards the fields below.
	mu          sync.Mutex
	queue       []outFrame
	spare       []outFrame
	queuedBytes int
	writing     bool // on a flusher's ready list, being flushed, or a writer goroutine runs
	started     bool // nc is ready for writes
	closing     bool // a close frame is queued; Send refuses new frames
	closeCode   int
	closeReason string
	closeSent   bool
	dead        bool // nc is closed
	reading     bool // a goroutine reads nc, or has claimed it (see park.go)
	idleExpired bool // ended by the idle timeout
	// inbox holds complete inbound messages for the inbox goroutine, which
	// exists only while it is non-empty, so that frame handling (JSON
	// decoding, joins) never grows the reader's stack.
	inbox     []wire.Frame
	inRunning bool
	inErr     error         // the Receiver's error; stops reading
	inSpace   chan struct{} // closed when the reader, waiting on a full inbox, may go on
	inStopped chan struct{} // closed when the inbox goroutine exits, if someone waits

	// closeDone is closed, once, when the close frame is written or nc is
	// dead.
	closeDone chan struct{}
	closeOnce sync.Once
}

// log returns a logger with the connection's attributes. It is built only
// when something is logged: an idle connection holds no logger.
func (c *conn) log() *slog.Logger { return c.srv.opts.Logger.With("remote", c.remote) }

func (c *conn) signalCloseDone() { c.closeOnce.Do(func() { close(c.closeDone) }) }

// Send queues f. It never blocks. When the queue is over its bounds the
// connection is closed with [transport.CloseTryAgainLater].
func (c *conn) Send(f wire.Frame) error {
	op := byte(opText)
	if f.Binary {
		op = opBinary
	}
	if c.deflate {
		if z := c.srv.deflater.compress(f.Data); z != nil {
			return c.enqueue(outFrame{op: op | rsv1Bit, data: z})
		}
	}
	return c.enqueue(outFrame{op: op, data: f.Data})
}

func (c *conn) enqueue(f outFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.dead {
		return transport.ErrConnClosed
	}
	if len(c.queue) >= c.srv.opts.QueueFrames || c.queuedBytes+len(f.data) > c.srv.opts.QueueBytes {
		c.log().Warn("websocket: slow consumer disconnected", "queued_frames", len(c.queue), "queued_bytes", c.queuedBytes)
		c.srv.slowConsumers.Add(1)
		c.srv.m.LimitHit(transport.LimitOutboundQueue)
		// Drop what is queued: the client reconnects and rejoins.
		clear(c.queue)
		c.queue = c.queue[:0]
		c.queuedBytes = 0
		c.startCloseLocked(transport.CloseTryAgainLater, "slow consumer")
		if c.started {
			// Unblock a writer stuck on a full socket buffer soon.
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
		}
		return transport.ErrSlowConsumer
	}
	c.queue = append(c.queue, f)
	c.queuedBytes += len(f.data)
	c.kickLocked()
	return nil
}

// Close queues a close frame after the frames already queued.
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.startCloseLocked(code, reason)
}

func (c *conn) startCloseLocked(code int, reason string) {
	if c.closing || c.dead {
		return
	}
	c.closing = true
	c.closeCode, c.closeReason = code, reason
	c.kickLocked()
}

// kickLocked schedules the connection for writing if there is work and it
// is not already scheduled or being written.
func (c *conn) kickLocked() {
	if c.writing || !c.started || c.dead || !c.hasWorkLocked() {
		return
	}
	c.writing = true
	if c.raw == nil {
		// No non-blocking writes on this connection (not a socket): a
		// writer goroutine of its own.
		batch, sendClose := c.takeLocked()
		c.srv.wg.Add(1)
		go c.writeLoop(appendBufs(nil, appendHeaders(nil, batch), batch), batch, sendClose)
		return
	}
	c.shard.schedule(c)
}

// hasWorkLocked reports whether frames or a close frame wait to be written.
func (c *conn) hasWorkLocked() bool {
	return len(c.queue) > 0 || (c.closing && !c.closeSent)
}

// takeLocked takes everything queued for one write, with the close frame
// last when it is due. It returns nil when there is nothing to write.
func (c *conn) takeLocked() (batch []outFrame, sendClose bool) {
	if c.dead || !c.hasWorkLocked() {
		return nil, false
	}
	batch = c.queue
	c.queue, c.spare = c.spare[:0], nil
	c.queuedBytes = 0
	if c.closing && !c.closeSent {
		// Frames queued after this batch are refused (Send checks
		// closing), so the close frame is the last one written.
		c.closeSent = true
		sendClose = true
		batch = append(batch, outFrame{op: opClose, data: closePayload(c.closeCode, c.closeReason)})
	}
	return batch, sendClose
}

// wrote recycles the slice of a written batch as the next queue.
func (c *conn) wrote(batch []outFrame) {
	clear(batch)
	c.mu.Lock()
	c.spare = batch[:0]
	c.mu.Unlock()
}

// closeWritten runs once the close frame is on the wire: the client has
// CloseTimeout to answer it.
func (c *conn) closeWritten() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
	c.signalCloseDone()
	c.readClose()
}

func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// abort closes the network connection at once.
func (c *conn) abort(err error) {
	c.mu.Lock()
	already := c.dead
	c.dead = true
	c.mu.Unlock()
	if !already {
		c.log().Debug("websocket: connection closed", "err", err)
		_ = c.nc.Close()
		c.signalCloseDone()
		c.endParked(err)
	}
}

// readLoop reads frames until the connection ends, then reports Closed.
func (c *conn) readLoop() {
	c.finish(c.serve())
}

// finish closes the connection after the read loop ended with err, waits
// for the inbox goroutine, and reports Closed.
func (c *conn) finish(err error) {
	defer c.srv.wg.Done()
	defer c.srv.forget(c)
	c.mu.Lock()
	if c.inErr != nil {
		err = c.inErr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.closing {
		c.idleExpired = true
	}
	receiverFailed := c.inErr != nil
	c.mu.Unlock()
	if err != nil && !receiverFailed {
		// A violation: the messages before it are answered first.
		c.settleInbox()
	}
	c.closeFor(err)
	c.abort(err)
	c.mu.Lock()
	if c.inRunning {
		if c.inStopped == nil {
			c.inStopped = make(chan struct{})
		}
		stopped := c.inStopped
		c.mu.Unlock()
		<-stopped
	} else {
		c.mu.Unlock()
	}
	if c.poller != nil {
		c.poller.remove(c)
	}
	c.recv.Closed()
}

// closeFor sends the close frame that err calls for, if any, and then
// drains what the client still sends (see drain).
func (c *conn) closeFor(err error) {
	var ce *transport.CloseError
	switch {
	case err == nil:
		return
	case errors.As(err, &ce):
		c.closeAndLinger(ce.Code, ce.Reason)
	case errors.Is(err, errTooBig):
		c.closeAndLinger(transport.CloseTooBig, "frame too big")
	case errors.Is(err, errUTF8):
		c.closeAndLinger(transport.CloseInvalidPayload, "invalid utf-8")
	case errors.Is(err, errBadDeflate):
		c.closeAndLinger(transport.CloseInvalidPayload, "bad compressed data")
	case errors.Is(err, errProtocol):
		c.closeAndLinger(transport.CloseProtocolError, "protocol error")
	default:
		return
	}
	c.drain()
}

// drainMax bounds the bytes drain discards; past it the client is sending
// on regardless of our close frame, and is reset.
const drainMax = 4 << 20

// drain runs after the server sent a close frame without having read the
// client's: the client may still be sending (the rest of a frame that was
// too big, or frames written before it saw our close). Closing a socket
// with unread input makes the kernel answer with a reset, which can destroy
// the close frame before the client has read it, so that the client sees
// an abnormal closure (1006) instead of our code. So drain stops reading
// frames, half-closes our side (the client sees the end of the stream after
// the close frame), and reads and discards input until the client closes,
// drainMax bytes, or CloseTimeout.
func (c *conn) drain() {
	c.mu.Lock()
	skip := c.dead || !c.closeSent
	c.mu.Unlock()
	if skip {
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
	bp := c.srv.readBufs.Get().(*[]byte)
	defer c.srv.readBufs.Put(bp)
	for n := 0; n < drainMax; {
		k, err := c.nc.Read(*bp)
		n += k
		if err != nil {
			return
		}
	}
}

// inboxMax bounds the inbound messages waiting for the Receiver; a full
// inbox makes the reader wait (TCP backpressure on the client).
const inboxMax = 32

// deliver queues a complete inbound message for the inbox goroutine.
func (c *conn) deliver(f wire.Frame) error {
	c.mu.Lock()
	for len(c.inbox) >= inboxMax && c.inErr == nil {
		wait := make(chan struct{})
		c.inSpace = wait
		c.mu.Unlock()
		<-wait
		c.mu.Lock()
	}
	if err := c.inErr; err != nil {
		c.mu.Unlock()
		return err
	}
	c.inbox = append(c.inbox, f)
	if !c.inRunning {
		c.inRunning = true
		c.srv.wg.Add(1)
		go c.inboxLoop()
	}
	c.mu.Unlock()
	return nil
}

// inboxLoop hands queued messages to the Receiver in order until the inbox
// is empty. On a Receiver error it closes the connection with the code the
// error asks for and stops.
func (c *conn) inboxLoop() {
	defer c.srv.wg.Done()
	for {
		c.mu.Lock()
		if len(c.inbox) == 0 || c.inErr != nil {
			c.inRunning = false
			c.inbox = nil
			c.wakeReaderLocked()
			if c.inStopped != nil {
				close(c.inStopped)
				c.inStopped = nil
			}
			c.mu.Unlock()
			return
		}
		f := c.inbox[0]
		c.inbox[0] = wire.Frame{}
		c.inbox = c.inbox[1:]
		c.wakeReaderLocked()
		c.mu.Unlock()
		if err := c.recv.Receive(f); err != nil {
			c.mu.Lock()
			c.inErr = err
			c.mu.Unlock()
			// The close frame also ends the reader: the client echoes it,
			// or the close timeout expires its read.
			c.closeFor(err)
		}
	}
}

// settleInbox waits, up to CloseTimeout, until the Receiver has handled
// every message delivered so far, so that its answers are queued before a
// close frame: a valid message that arrived before a protocol violation or
// the client's close frame, even in the same read, is answered. Only the
// reader calls it.
func (c *conn) settleInbox() {
	c.mu.Lock()
	if !c.inRunning {
		c.mu.Unlock()
		return
	}
	if c.inStopped == nil {
		c.inStopped = make(chan struct{})
	}
	stopped := c.inStopped
	c.mu.Unlock()
	t := time.NewTimer(c.srv.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
	}
}

func (c *conn) wakeReaderLocked() {
	if c.inSpace != nil {
		close(c.inSpace)
		c.inSpace = nil
	}
}

// errClosed ends serve after the close handshake.
var errClosed = errors.New("websocket: closed")

// serve parks on the first byte of each frame, then handles the frame. While
// parked the stack is only readLoop → serve → Read: under 1 KiB, so the GC
// shrinks an idle reader's stack to 2 KiB. Frame handling (JSON decoding,
// joins) happens in frame, which is off the stack while idle.
func (c *conn) serve() error {
	for {
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		}
		n, err := c.rd.Read(c.first[:])
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if err := c.frame(c.first[0]); err != nil {
			if errors.Is(err, errClosed) {
				return nil
			}
			return err
		}
	}
}

// closeAndLinger sends a close frame and waits briefly for it to be written.
func (c *conn) closeAndLinger(code int, reason string) {
	c.Close(code, reason)
	t := time.NewTimer(c.srv.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-c.closeDone:
	case <-t.C:
	}
}

// frame reads and handles the rest of one frame whose first byte is b0.
// A fragmented message is assembled in c.frag across calls.
func (c *conn) frame(b0 byte) error {
	h, err := readHeaderAfter(b0, c.rd)
	if err != nil {
		return err
	}
	if !h.masked {
		return fmt.Errorf("%w: unmasked client frame", errProtocol)
	}
	maxSize := int64(c.srv.opts.MaxFrameSize)
	if h.length > maxSize || int64(len(c.frag))+h.length > maxSize {
		return fmt.Errorf("%w: %d bytes", errTooBig, int64(len(c.frag))+h.length)
	}
	// The fragmentation state is checked before the payload is read.
	switch h.op {
	case opText, opBinary:
		if c.inFrag {
			return fmt.Errorf("%w: new message inside a fragmented one", errProtocol)
		}
	case opContinuation:
		if !c.inFrag {
			return fmt.Errorf("%w: continuation without a message", errProtocol)
		}
	}
	if h.rsv1 && (!c.deflate || h.op == opContinuation || h.op >= opClose) {
		// RFC 7692 §6.1: only the first frame of a data message may be
		// marked compressed, and only with the extension.
		return fmt.Errorf("%w: RSV1 set", errProtocol)
	}
	deflated := h.rsv1 || (h.op == opContinuation && c.fragDeflated)
	// A compressed text is validated once inflated.
	isText := !deflated && (h.op == opText || (h.op == opContinuation && c.fragOp == opText))
	// The payload is unmasked, and text validated, as each read returns:
	// invalid UTF-8 fails the connection before the rest of it arrives.
	payload := make([]byte, h.length)
	for off := 0; off < len(payload); {
		n, err := c.rd.Read(payload[off:])
		if n > 0 {
			unmask(payload[off:off+n], h.mask, off)
			if isText && !c.text.feed(payload[off:off+n]) {
				c.text.end()
				return errUTF8
			}
			off += n
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	if br, ok := c.rd.(*bufio.Reader); ok && br.Buffered() == 0 {
		c.rd = c.nc // drop the handshake buffer once it is drained
	}
	var msg []byte
	var msgOp byte
	switch h.op {
	case opPing:
		_ = c.enqueue(outFrame{op: opPong, data: payload})
		return nil
	case opPong:
		return nil
	case opClose:
		code, err := parseClose(payload)
		if err != nil {
			return err
		}
		c.mu.Lock()
		sent := c.closeSent || c.closing
		c.mu.Unlock()
		if !sent {
			// Echo the client's close, after the answers to the messages
			// that came before it.
			if code == 1005 {
				code = 1000
			}
			c.settleInbox()
			c.closeAndLinger(code, "")
		}
		return errClosed
	case opText, opBinary:
		if !h.fin {
			c.inFrag, c.fragOp, c.frag, c.fragDeflated = true, h.op, payload, h.rsv1
			return nil
		}
		msgOp, msg = h.op, payload
	case opContinuation:
		c.frag = append(c.frag, payload...)
		if !h.fin {
			return nil
		}
		msgOp, msg = c.fragOp, c.frag
		c.inFrag, c.frag, c.fragDeflated = false, nil, false
	}
	if deflated {
		var err error
		if msg, err = c.srv.deflater.inflate(msg, c.srv.opts.MaxFrameSize); err != nil {
			return err
		}
		if msgOp == opText && !utf8.Valid(msg) {
			return errUTF8
		}
	}
	if msgOp == opText && !c.text.end() {
		return errUTF8 // the message ends inside a rune
	}
	return c.deliver(wire.Frame{Data: msg, Binary: msgOp == opBinary})
}
