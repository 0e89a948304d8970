// Package wsclient is a minimal RFC 6455 WebSocket client for Parley's load
// tool and tests: plain ws:// only, no extensions, frames as []byte.
//
// Entry points: [Dial] opens a connection (optionally from a chosen local
// source address, to spread many connections over several loopback
// addresses and their ephemeral port ranges); [Conn.Read] returns the next
// data message, answering pings and the peer's close on the way;
// [Conn.Write] sends a masked message; [Conn.Close] runs the close handshake
// and [Conn.CloseNow] cuts the connection; [Conn.Detach] hands the socket
// and its unread bytes to a reader of the caller's own.
//
// Concurrency: one goroutine may Read while others Write, Ping or Close;
// writes are serialised inside the Conn. Everything that blocks takes a
// context: its deadline becomes the socket deadline and its cancellation
// interrupts the call.
package wsclient

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MessageType is the kind of a data message.
type MessageType byte

// Message types (their RFC 6455 opcodes).
const (
	Text   MessageType = 0x1
	Binary MessageType = 0x2
)

const (
	opContinuation = 0x0
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Errors of this package.
var (
	// ErrHandshake is wrapped by every handshake failure.
	ErrHandshake = errors.New("wsclient: handshake failed")
	// ErrProtocol is wrapped when the server breaks RFC 6455.
	ErrProtocol = errors.New("wsclient: protocol error")
	// ErrTooBig is wrapped when a message exceeds Options.MaxMessageSize.
	ErrTooBig = errors.New("wsclient: message too big")
	// ErrClosed is returned after the connection was closed locally.
	ErrClosed = errors.New("wsclient: connection closed")
)

// CloseError is returned by Read once the server has closed the WebSocket
// with a close frame.
type CloseError struct {
	// Code is the close code; 1005 when the frame carried none.
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("wsclient: closed by peer: %d %s", e.Code, e.Reason)
}

// Options configures Dial. The zero value (or nil) gives the defaults.
type Options struct {
	// LocalAddr is the source IP of the TCP connection; the zero Addr
	// lets the kernel choose.
	LocalAddr netip.Addr
	// Header is sent with the handshake request.
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol.
	Subprotocols []string
	// ReadBufferSize is the size of the read buffer; default 4096.
	ReadBufferSize int
	// MaxMessageSize bounds one inbound message; default 16 MiB.
	MaxMessageSize int64
	// Compression offers permessage-deflate (RFC 7692) asking for no
	// context takeover either way; when the server accepts, compressed
	// messages are inflated (each on its own). Messages are written
	// uncompressed.
	Compression bool
}

// Conn is a client WebSocket connection. Build it with [Dial].
type Conn struct {
	nc          net.Conn
	br          *bufio.Reader
	maxSize     int64
	subprotocol string
	// deflate: permessage-deflate was negotiated; inflating holds a
	// decompressor between reads (readMu).
	deflate  bool
	inflater io.ReadCloser

	// readMu is held by the one goroutine reading; it guards the fields
	// below it.
	readMu      sync.Mutex
	readErr     error // terminal read error, returned by every later Read
	readDL      bool  // a read deadline is set on nc
	readClosed  chan struct{}
	closeReadMu sync.Once

	// writeMu serialises frames; it guards the fields below it.
	writeMu   sync.Mutex
	wbuf      []byte
	writeErr  error
	closeSent bool
	writeDL   bool
}

// Dial opens a WebSocket connection to rawURL (ws:// or http://). The
// handshake is bounded by ctx; once Dial returns, ctx no longer matters.
func Dial(ctx context.Context, rawURL string, opts *Options) (*Conn, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 4096
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 16 << 20
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	switch u.Scheme {
	case "ws", "http":
	default:
		return nil, fmt.Errorf("%w: unsupported scheme %q", ErrHandshake, u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{}
	if o.LocalAddr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: o.LocalAddr.AsSlice()}
	}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	stop := watch(ctx, nc.SetDeadline)
	c, err := handshake(nc, u, &o)
	stop()
	if err != nil {
		_ = nc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", err, ctxErr)
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// watch applies ctx to a connection for one blocking call: its deadline,
// and a deadline in the past when it is cancelled. The returned function
// undoes the watching and reports false if ctx fired meanwhile; it returns
// only once the past deadline is set, so that it cannot land on a later
// call.
func watch(ctx context.Context, setDeadline func(time.Time) error) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = setDeadline(dl)
	}
	if ctx.Done() == nil {
		return func() bool { return true }
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		_ = setDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() bool {
		if stopAfter() {
			return true
		}
		<-fired
		return false
	}
}

func handshake(nc net.Conn, u *url.URL, o *Options) (*Conn, error) {
	var keyBytes [16]byte
	_, _ = rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	if len(o.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(o.Subprotocols, ", ") + "\r\n")
	}
	if o.Compression {
		b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	if err := o.Header.Write(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, fmt.Errorf("%w: write request: %w", ErrHandshake, err)
	}
	br := bufio.NewReaderSize(nc, o.ReadBufferSize)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrHandshake, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("%w: status %s", ErrHandshake, resp.Status)
	}
	if !hasToken(resp.Header, "Upgrade", "websocket") || !hasToken(resp.Header, "Connection", "upgrade") {
		return nil, fmt.Errorf("%w: missing Upgrade or Connection header", ErrHandshake)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), AcceptKey(key); got != want {
		return nil, fmt.Errorf("%w: Sec-WebSocket-Accept %q, want %q", ErrHandshake, got, want)
	}
	proto := resp.Header.Get("Sec-WebSocket-Protocol")
	if proto != "" && !contains(o.Subprotocols, proto) {
		return nil, fmt.Errorf("%w: server chose subprotocol %q that was not offered", ErrHandshake, proto)
	}
	deflate := false
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		params := strings.Split(ext, ";")
		if !o.Compression || !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
			return nil, fmt.Errorf("%w: server chose an extension that was not offered: %q", ErrHandshake, ext)
		}
		ok := false
		for _, p := range params[1:] {
			ok = ok || strings.EqualFold(strings.TrimSpace(p), "server_no_context_takeover")
		}
		if !ok {
			return nil, fmt.Errorf("%w: permessage-deflate without server_no_context_takeover: %q", ErrHandshake, ext)
		}
		deflate = true
	}
	return &Conn{
		nc: nc, br: br, maxSize: o.MaxMessageSize, subprotocol: proto, deflate: deflate,
		readClosed: make(chan struct{}),
	}, nil
}

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Subprotocol returns the subprotocol the server selected, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Read returns the next data message. It answers pings with pongs and
// skips pongs. When the server sends a close frame, Read echoes it and
// returns a *[CloseError]; that and any other failure inside a frame are
// terminal and returned again by every later Read. If ctx ends while Read
// waits for the first byte of a frame, Read returns ctx's error and the
// connection stays usable.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.read(ctx)
}

// read is Read with readMu held.
func (c *Conn) read(ctx context.Context) (MessageType, []byte, error) {
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	if ctx.Done() != nil || c.readDL {
		dl, _ := ctx.Deadline()
		_ = c.nc.SetReadDeadline(dl)
		c.readDL = !dl.IsZero()
		stop := watch(ctx, c.nc.SetReadDeadline)
		defer func() {
			if !stop() {
				c.readDL = true // the past deadline set on cancellation
			}
		}()
	}
	var (
		msg        []byte
		msgTyp     MessageType
		inFrag     bool
		compressed bool
	)
	for {
		if !inFrag {
			if _, err := c.br.Peek(1); err != nil {
				if ctxErr := ctxTimeout(ctx, err); ctxErr != nil {
					return 0, nil, ctxErr // between frames: nothing lost
				}
				return 0, nil, c.failRead(err)
			}
		}
		fin, rsv1, op, payload, err := c.readFrame()
		if err != nil {
			return 0, nil, c.failRead(err)
		}
		if rsv1 {
			compressed = true
		}
		switch op {
		case opPing:
			if err := c.writeFrame(ctx, opPong, payload); err != nil && !errors.Is(err, ErrClosed) {
				return 0, nil, c.failRead(err)
			}
			continue
		case opPong:
			continue
		case opClose:
			return 0, nil, c.failRead(c.peerClosed(ctx, payload))
		case byte(Text), byte(Binary):
			if inFrag {
				return 0, nil, c.failRead(fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol))
			}
			msgTyp, msg = MessageType(op), payload
			if !fin {
				inFrag = true
				continue
			}
		case opContinuation:
			if !inFrag {
				return 0, nil, c.failRead(fmt.Errorf("%w: continuation without a message", ErrProtocol))
			}
			if int64(len(msg))+int64(len(payload)) > c.maxSize {
				return 0, nil, c.failRead(fmt.Errorf("%w: over %d bytes", ErrTooBig, c.maxSize))
			}
			msg = append(msg, payload...)
			if !fin {
				continue
			}
		default:
			return 0, nil, c.failRead(fmt.Errorf("%w: opcode %d", ErrProtocol, op))
		}
		if compressed {
			if msg, err = c.inflate(msg); err != nil {
				return 0, nil, c.failRead(err)
			}
		}
		if msgTyp == Text && !utf8.Valid(msg) {
			return 0, nil, c.failRead(fmt.Errorf("%w: text message is not UTF-8", ErrProtocol))
		}
		return msgTyp, msg, nil
	}
}

// inflate decompresses one message (no context takeover: each message
// starts with an empty window), at most maxSize bytes.
func (c *Conn) inflate(p []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff}))
	if c.inflater == nil {
		c.inflater = flate.NewReader(src)
	} else if err := c.inflater.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("%w: inflate: %w", ErrProtocol, err)
	}
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(c.inflater, c.maxSize+1))
	switch {
	case n > c.maxSize:
		return nil, fmt.Errorf("%w: inflates past %d bytes", ErrTooBig, c.maxSize)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: inflate: %w", ErrProtocol, err)
	}
	return out.Bytes(), nil
}

// ctxTimeout returns ctx's error if err is a socket timeout caused by ctx
// (its cancellation, or its deadline, which the socket may reach a moment
// before ctx notices), else nil.
func ctxTimeout(ctx context.Context, err error) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// failRead records a terminal read error and wakes a waiting Close.
func (c *Conn) failRead(err error) error {
	c.readErr = err
	c.closeReadMu.Do(func() { close(c.readClosed) })
	return err
}

// peerClosed handles the server's close frame: echo it (unless we sent
// ours first) and return the CloseError.
func (c *Conn) peerClosed(ctx context.Context, payload []byte) error {
	ce := &CloseError{Code: 1005}
	switch {
	case len(payload) == 1:
		return fmt.Errorf("%w: one-byte close payload", ErrProtocol)
	case len(payload) >= 2:
		ce.Code = int(binary.BigEndian.Uint16(payload))
		ce.Reason = string(payload[2:])
	}
	echo := payload
	if len(echo) > 2 {
		echo = echo[:2]
	}
	_ = c.writeFrame(ctx, opClose, echo) // a no-op if our close went first
	return ce
}

// readFrame reads one whole frame.
func (c *Conn) readFrame() (fin, rsv1 bool, op byte, payload []byte, err error) {
	var b [8]byte
	if _, err := io.ReadFull(c.br, b[:2]); err != nil {
		return false, false, 0, nil, err
	}
	fin = b[0]&0x80 != 0
	rsv1 = b[0]&0x40 != 0
	op = b[0] & 0x0f
	if b[0]&0x30 != 0 || (rsv1 && (!c.deflate || op == opContinuation || op >= opClose)) {
		return false, false, 0, nil, fmt.Errorf("%w: reserved bits set", ErrProtocol)
	}
	if b[1]&0x80 != 0 {
		return false, false, 0, nil, fmt.Errorf("%w: masked server frame", ErrProtocol)
	}
	n := int64(b[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, b[:2]); err != nil {
			return false, false, 0, nil, err
		}
		n = int64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, b[:8]); err != nil {
			return false, false, 0, nil, err
		}
		u := binary.BigEndian.Uint64(b[:8])
		if u > 1<<62 {
			return false, false, 0, nil, fmt.Errorf("%w: length %d", ErrTooBig, u)
		}
		n = int64(u)
	}
	if op >= opClose && (!fin || n > 125) {
		return false, false, 0, nil, fmt.Errorf("%w: fragmented or long control frame", ErrProtocol)
	}
	if n > c.maxSize {
		return false, false, 0, nil, fmt.Errorf("%w: %d bytes", ErrTooBig, n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return false, false, 0, nil, err
	}
	return fin, rsv1, op, payload, nil
}

// Write sends one unfragmented data message.
func (c *Conn) Write(ctx context.Context, typ MessageType, data []byte) error {
	if typ != Text && typ != Binary {
		return fmt.Errorf("wsclient: bad message type %d", typ)
	}
	return c.writeFrame(ctx, byte(typ), data)
}

// Ping sends a ping frame; the pong is consumed by Read.
func (c *Conn) Ping(ctx context.Context, data []byte) error {
	if len(data) > 125 {
		return fmt.Errorf("%w: ping payload over 125 bytes", ErrProtocol)
	}
	return c.writeFrame(ctx, opPing, data)
}

// writeFrame writes one masked frame. After a close frame nothing more is
// written. A failed write is terminal for writing.
func (c *Conn) writeFrame(ctx context.Context, op byte, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	if ctx.Done() != nil || c.writeDL {
		dl, _ := ctx.Deadline()
		_ = c.nc.SetWriteDeadline(dl)
		c.writeDL = !dl.IsZero()
		stop := watch(ctx, c.nc.SetWriteDeadline)
		defer func() {
			if !stop() {
				c.writeDL = true
			}
		}()
	}
	c.wbuf = appendFrame(c.wbuf[:0], op, data, mrand.Uint32())
	if _, err := c.nc.Write(c.wbuf); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		c.writeErr = err
		return err
	}
	if op == opClose {
		c.closeSent = true
	}
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil // do not keep a large buffer for an idle connection
	}
	return nil
}

// appendFrame appends a final, masked client frame.
func appendFrame(dst []byte, op byte, data []byte, maskKey uint32) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(data); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	binary.BigEndian.PutUint32(mask[:], maskKey)
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, data...)
	p := dst[start:]
	for i := range p {
		p[i] ^= mask[i&3]
	}
	return dst
}

// Close runs the close handshake: it sends a close frame with code and
// reason, waits (bounded by ctx) for the server's close frame, and closes
// the TCP connection. If another goroutine is in Read, that Read receives
// the server's close; otherwise Close reads and discards messages itself.
func (c *Conn) Close(ctx context.Context, code int, reason string) error {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	payload := binary.BigEndian.AppendUint16(nil, uint16(code))
	payload = append(payload, reason...)
	werr := c.writeFrame(ctx, opClose, payload)
	if errors.Is(werr, ErrClosed) {
		werr = nil // closed already, perhaps as the echo of the peer's close
	}
	if c.readMu.TryLock() {
		for c.readErr == nil {
			if _, _, err := c.read(ctx); err != nil && ctx.Err() != nil {
				break
			}
		}
		c.readMu.Unlock()
	} else {
		select {
		case <-c.readClosed:
		case <-ctx.Done():
		}
	}
	cerr := c.nc.Close()
	if werr != nil {
		return werr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("wsclient: close handshake: %w", ctx.Err())
	}
	return cerr
}

// CloseNow closes the TCP connection without a close handshake.
func (c *Conn) CloseNow() error { return c.nc.Close() }

// Detach hands the connection over to the caller, for a reader of its own
// (the load tool reads many connections with one epoll loop). It returns
// the underlying net.Conn and the bytes already read from it that Read
// has not yet returned: the start of the next frames. The Conn must not be
// used afterwards, and no Read, Write or Close may be running; the caller
// owns the net.Conn and closes it.
func (c *Conn) Detach() (net.Conn, []byte) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	b, _ := c.br.Peek(c.br.Buffered())
	return c.nc, append([]byte(nil), b...)
}
