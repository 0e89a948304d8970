package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// echoHandler accepts connections and echoes every frame back; it records
// connection infos and closed events.
type echoHandler struct {
	mu     sync.Mutex
	infos  []*transport.ConnectInfo
	closed int
	refuse bool
}

type echoRecv struct {
	h *echoHandler
	c transport.Conn
}

func (h *echoHandler) Connect(_ context.Context, info *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	if h.refuse {
		return nil, errors.New("refused")
	}
	h.mu.Lock()
	h.infos = append(h.infos, info)
	h.mu.Unlock()
	return &echoRecv{h: h, c: c}, nil
}

func (r *echoRecv) Receive(f wire.Frame) error {
	if string(f.Data) == "close-me" {
		return &transport.CloseError{Code: transport.CloseInvalidPayload, Reason: "asked"}
	}
	return r.c.Send(f)
}

func (r *echoRecv) Closed() {
	r.h.mu.Lock()
	r.h.closed++
	r.h.mu.Unlock()
}

func (h *echoHandler) closedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func newTestServer(t *testing.T, h transport.Handler, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := New(h, opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, hs
}

// client is a minimal RFC 6455 client for tests.
type client struct {
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, hs *httptest.Server, query string, header http.Header) (*client, *http.Response) {
	t.Helper()
	nc, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	req, _ := http.NewRequest("GET", hs.URL+"/socket/websocket?"+query, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key[:]))
	for k, v := range header {
		req.Header[k] = v
	}
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		want := acceptKey(base64.StdEncoding.EncodeToString(key[:]))
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != want {
			t.Fatalf("accept key %q, want %q", got, want)
		}
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{nc: nc, br: br}, resp
}

func (c *client) writeFrame(t *testing.T, fin bool, op byte, payload []byte, masked bool) {
	t.Helper()
	if _, err := c.nc.Write(clientFrame(fin, op, payload, masked)); err != nil {
		t.Fatal(err)
	}
}

// clientFrame encodes one frame as a client sends it.
func clientFrame(fin bool, op byte, payload []byte, masked bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	hdr := []byte{b0}
	mbit := byte(0)
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, mbit|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, mbit|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, mbit|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	body := append([]byte(nil), payload...)
	if masked {
		mask := [4]byte{1, 2, 3, 4}
		hdr = append(hdr, mask[:]...)
		unmask(body, mask, 0)
	}
	return append(hdr, body...)
}

func (c *client) send(t *testing.T, op byte, payload string) {
	c.writeFrame(t, true, op, []byte(payload), true)
}

// read returns the next frame's opcode and payload.
func (c *client) read(t *testing.T) (byte, []byte) {
	t.Helper()
	h, err := readHeader(c.br)
	if err != nil {
		t.Fatalf("read header: %v", err)
	}
	if h.masked {
		t.Fatal("server frame is masked")
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatal(err)
	}
	return h.op, p
}

// readClose reads frames until a close frame and returns its code.
func (c *client) readClose(t *testing.T) int {
	t.Helper()
	for {
		op, p := c.read(t)
		if op == opClose {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

var phoenixQuery = "vsn=2.0.0&token=abc"

func TestHandshakeAndEcho(t *testing.T) {
	h := &echoHandler{}
	_, hs := newTestServer(t, h, Options{})
	token := base64.RawStdEncoding.EncodeToString([]byte("secret+/token?"))
	c, resp := dial(t, hs, phoenixQuery, http.Header{"Sec-Websocket-Protocol": {"phoenix, base64url.bearer.phx." + token}})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "phoenix" {
		t.Fatalf("subprotocol %q, want phoenix", got)
	}
	c.send(t, opText, `["1","1","t","e",{}]`)
	if op, p := c.read(t); op != opText || string(p) != `["1","1","t","e",{}]` {
		t.Fatalf("echo %d %q", op, p)
	}
	c.send(t, opBinary, "\x00\x01")
	if op, p := c.read(t); op != opBinary || string(p) != "\x00\x01" {
		t.Fatalf("binary echo %d %q", op, p)
	}
	c.send(t, opPing, "hb")
	if op, p := c.read(t); op != opPong || string(p) != "hb" {
		t.Fatalf("pong %d %q", op, p)
	}
	// A fragmented text message is assembled.
	c.writeFrame(t, false, opText, []byte("hel"), true)
	c.writeFrame(t, true, opPing, []byte("x"), true) // control frame between fragments
	c.writeFrame(t, true, opContinuation, []byte("lo"), true)
	if op, p := c.read(t); op != opPong || string(p) != "x" {
		t.Fatalf("pong between fragments %d %q", op, p)
	}
	if op, p := c.read(t); op != opText || string(p) != "hello" {
		t.Fatalf("fragmented echo %d %q", op, p)
	}
	h.mu.Lock()
	info := h.infos[0]
	h.mu.Unlock()
	if info.AuthToken != "secret+/token?" || info.Params.Get("token") != "abc" || info.Transport != "websocket" {
		t.Fatalf("connect info %+v", info)
	}
	// The client closes: the server echoes the code.
	c.writeFrame(t, true, opClose, closePayload(1000, "bye"), true)
	if code := c.readClose(t); code != 1000 {
		t.Fatalf("close echo code %d", code)
	}
	waitFor(t, func() bool { return h.closedCount() == 1 })
}

func TestHandshakeRefusals(t *testing.T) {
	h := &echoHandler{}
	_, hs := newTestServer(t, h, Options{})
	tests := []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"cross origin", phoenixQuery, http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"missing vsn", "token=abc", nil, http.StatusForbidden},
		{"v1 vsn", "vsn=1.0.0", nil, http.StatusForbidden},
		{"bad auth token", phoenixQuery, http.Header{"Sec-Websocket-Protocol": {"phoenix, base64url.bearer.phx.!!!"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp := dial(t, hs, tt.query, tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// Same origin passes.
	host := strings.TrimPrefix(hs.URL, "http://")
	if _, resp := dial(t, hs, phoenixQuery, http.Header{"Origin": {"http://" + host}}); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("same origin refused: %d", resp.StatusCode)
	}
	h.refuse = true
	if _, resp := dial(t, hs, phoenixQuery, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused connect got %d", resp.StatusCode)
	}
	// Not a websocket request at all.
	resp, err := http.Get(hs.URL + "/socket/websocket?" + phoenixQuery)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain GET got %d", resp.StatusCode)
	}
}

func TestBadInputCloses(t *testing.T) {
	tests := []struct {
		name string
		send func(t *testing.T, c *client)
		code int
	}{
		{"oversize", func(t *testing.T, c *client) { c.writeFrame(t, true, opText, make([]byte, 2048), true) }, transport.CloseTooBig},
		{"oversize by fragments", func(t *testing.T, c *client) {
			c.writeFrame(t, false, opText, make([]byte, 800), true)
			c.writeFrame(t, true, opContinuation, make([]byte, 800), true)
		}, transport.CloseTooBig},
		{"invalid utf-8", func(t *testing.T, c *client) { c.send(t, opText, "\xff\xfe") }, transport.CloseInvalidPayload},
		{"unmasked", func(t *testing.T, c *client) { c.writeFrame(t, true, opText, []byte("x"), false) }, transport.CloseProtocolError},
		{"bad opcode", func(t *testing.T, c *client) { c.send(t, 0x3, "x") }, transport.CloseProtocolError},
		{"orphan continuation", func(t *testing.T, c *client) { c.send(t, opContinuation, "x") }, transport.CloseProtocolError},
		{"receiver refuses", func(t *testing.T, c *client) { c.send(t, opText, "close-me") }, transport.CloseInvalidPayload},
	}
	h := &echoHandler{}
	_, hs := newTestServer(t, h, Options{MaxFrameSize: 1024})
	healthy, _ := dial(t, hs, phoenixQuery, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dial(t, hs, phoenixQuery, nil)
			tt.send(t, c)
			if code := c.readClose(t); code != tt.code {
				t.Fatalf("close code %d, want %d", code, tt.code)
			}
			healthy.send(t, opText, "still here")
			if _, p := healthy.read(t); string(p) != "still here" {
				t.Fatalf("healthy connection got %q", p)
			}
		})
	}
}

// stuckRecv sends a burst of frames per inbound frame.
type burstHandler struct{ frames int }

func (b *burstHandler) Connect(_ context.Context, _ *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	return &burstRecv{b: b, c: c}, nil
}

type burstRecv struct {
	b *burstHandler
	c transport.Conn
}

func (r *burstRecv) Receive(f wire.Frame) error {
	for i := 0; i < r.b.frames; i++ {
		if err := r.c.Send(wire.Frame{Data: []byte(fmt.Sprintf("frame %d %s", i, strings.Repeat("x", 1000)))}); err != nil {
			return nil // the transport closes the connection itself
		}
	}
	return nil
}

func (r *burstRecv) Closed() {}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	s, hs := newTestServer(t, &burstHandler{frames: 20000}, Options{QueueFrames: 64, QueueBytes: 64 << 10, WriteTimeout: 2 * time.Second, CloseTimeout: 200 * time.Millisecond})
	slow, _ := dial(t, hs, phoenixQuery, nil)
	slow.send(t, opText, "go") // 20 MB of frames to a client that never reads
	waitFor(t, func() bool { return s.SlowConsumers() == 1 })
	waitFor(t, func() bool { return s.Conns() == 0 })
	// A client that reads gets a burst that fits the queue, coalesced.
	s2, hs2 := newTestServer(t, &burstHandler{frames: 50}, Options{})
	fast, _ := dial(t, hs2, phoenixQuery, nil)
	fast.send(t, opText, "go")
	for i := 0; i < 50; i++ {
		if _, p := fast.read(t); !strings.HasPrefix(string(p), fmt.Sprintf("frame %d ", i)) {
			t.Fatalf("frame %d: %.20q", i, p)
		}
	}
	if s2.SlowConsumers() != 0 {
		t.Fatal("a reading client counted as slow")
	}
}

// TestFullSocketDoesNotStallOthers pauses one client until its socket
// buffers are full, so that its flusher hands the rest of its batch to a
// writer goroutine of its own; a second client on the same flusher must
// still get its frames, and the paused one every frame, in order, once it
// reads again.
func TestFullSocketDoesNotStallOthers(t *testing.T) {
	const frames = 20000 // about 20 MB: more than loopback socket buffers hold
	s, hs := newTestServer(t, &burstHandler{frames: frames}, Options{QueueFrames: 2 * frames, QueueBytes: 64 << 20})
	s.flushers = s.flushers[:1] // every connection on one flusher
	paused, _ := dial(t, hs, phoenixQuery, nil)
	other, _ := dial(t, hs, phoenixQuery, nil)
	paused.send(t, opText, "go")
	waitFor(t, func() bool { return s.handoffs.Load() > 0 })

	other.send(t, opText, "go")
	for i := range frames {
		if _, p := other.read(t); !strings.HasPrefix(string(p), fmt.Sprintf("frame %d ", i)) {
			t.Fatalf("other client, frame %d: %.20q", i, p)
		}
	}
	_ = paused.nc.SetDeadline(time.Now().Add(30 * time.Second))
	for i := range frames {
		if _, p := paused.read(t); !strings.HasPrefix(string(p), fmt.Sprintf("frame %d ", i)) {
			t.Fatalf("paused client, frame %d: %.20q", i, p)
		}
	}
	if n := s.SlowConsumers(); n != 0 {
		t.Fatalf("%d slow consumers, want 0: the queue bound was not reached", n)
	}
}

// TestParkedConnectionsHaveNoGoroutine opens idle connections and checks
// that they add no goroutines, that each still answers once bytes arrive,
// and that an idle one is ended by the idle timeout while one that keeps
// talking is not.
func TestParkedConnectionsHaveNoGoroutine(t *testing.T) {
	if !pollSupported {
		t.Skip("connections are parked only on Linux")
	}
	reg := metrics.NewRegistry()
	s, hs := newTestServer(t, &echoHandler{}, Options{IdleTimeout: time.Second, Metrics: reg})
	base := runtime.NumGoroutine()
	const n = 50
	clients := make([]*client, n)
	for i := range clients {
		clients[i], _ = dial(t, hs, phoenixQuery, nil)
	}
	waitFor(t, func() bool { return s.Conns() == n })
	// The poller is one goroutine; the handshakes' goroutines end.
	waitFor(t, func() bool { return runtime.NumGoroutine()-base < 5 })
	for i, c := range clients {
		c.send(t, opText, fmt.Sprintf("hello %d", i))
	}
	for i, c := range clients {
		if _, p := c.read(t); string(p) != fmt.Sprintf("hello %d", i) {
			t.Fatalf("client %d echoed %q", i, p)
		}
	}
	waitFor(t, func() bool { return runtime.NumGoroutine()-base < 5 })

	// Client 0 pings ten times a second for twice the idle timeout; the
	// others say nothing and are closed.
	talker := clients[0]
	for range 20 {
		talker.send(t, opPing, "")
		if op, _ := talker.read(t); op != opPong {
			t.Fatalf("answer to a ping: opcode %d", op)
		}
		time.Sleep(100 * time.Millisecond) // the client's cadence, not synchronisation
	}
	waitFor(t, func() bool { return s.Conns() == 1 })
	talker.send(t, opText, "still here")
	if _, p := talker.read(t); string(p) != "still here" {
		t.Fatalf("talker echoed %q", p)
	}
	var text strings.Builder
	_, _ = reg.WriteTo(&text)
	want := fmt.Sprintf(`parley_disconnects_total{transport="websocket",code="1006",reason="idle timeout"} %d`, n-1)
	if !strings.Contains(text.String(), want) {
		t.Fatalf("metrics lack %s:\n%s", want, text.String())
	}
}

// TestBurstReads sends several frames in one write, one of them larger
// than a reader's burst buffer, and a frame split over two writes: every
// frame must be echoed whole and in order.
func TestBurstReads(t *testing.T) {
	_, hs := newTestServer(t, &echoHandler{}, Options{})
	c, _ := dial(t, hs, phoenixQuery, nil)
	frame := func(payload string) []byte { return clientFrame(true, opText, []byte(payload), true) }
	big := strings.Repeat("x", 3*readBufSize+17)
	want := []string{"one", big, "three"}
	var all []byte
	for _, p := range want {
		all = append(all, frame(p)...)
	}
	if _, err := c.nc.Write(all); err != nil {
		t.Fatal(err)
	}
	// A frame split after its first three bytes, in two writes.
	split := frame("split in two")
	if _, err := c.nc.Write(split[:3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the first part arrive alone; the test holds either way
	if _, err := c.nc.Write(split[3:]); err != nil {
		t.Fatal(err)
	}
	for _, w := range append(want, "split in two") {
		if _, p := c.read(t); string(p) != w {
			t.Fatalf("echo %.20q (%d bytes), want %.20q (%d bytes)", p, len(p), w, len(w))
		}
	}
}

func TestShutdownClosesWith1012(t *testing.T) {
	h := &echoHandler{}
	s := New(h, Options{Logger: slog.New(slog.DiscardHandler), DrainBatch: 2, DrainInterval: 10 * time.Millisecond})
	hs := httptest.NewServer(s)
	defer hs.Close()
	clients := make([]*client, 5)
	for i := range clients {
		clients[i], _ = dial(t, hs, phoenixQuery, nil)
	}
	waitFor(t, func() bool { return s.Conns() == 5 })
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	for _, c := range clients {
		if code := c.readClose(t); code != transport.CloseServiceRestart {
			t.Fatalf("close code %d, want 1012", code)
		}
		c.writeFrame(t, true, opClose, closePayload(1012, ""), true)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h.closedCount() != 5 {
		t.Fatalf("closed %d receivers, want 5", h.closedCount())
	}
	// After shutdown new connections are refused.
	_, resp := dial(t, hs, phoenixQuery, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d", resp.StatusCode)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func FuzzReadHeader(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x82, 0xfe, 0x01, 0x00})
	f.Add([]byte{0x88, 0xff, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		if h.length < 0 || (h.op >= opClose && h.length > 125) {
			t.Fatalf("accepted header %+v", h)
		}
	})
}

// FuzzUTF8State checks that validating a text in pieces, split anywhere,
// agrees with utf8.Valid on the whole, and fails no later than the piece
// that makes it invalid.
func FuzzUTF8State(f *testing.F) {
	f.Add([]byte("κόσμε\xf4\x90\x80\x80edited"), uint8(3), uint8(7))
	f.Add([]byte("\xed\xa0\x80"), uint8(1), uint8(2))
	f.Add([]byte("a\U0001F600b"), uint8(2), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, a, b uint8) {
		i, j := min(int(a), len(data)), min(int(b), len(data))
		if i > j {
			i, j = j, i
		}
		var s utf8State
		ok := true
		for k, piece := range [][]byte{data[:i], data[i:j], data[j:]} {
			if !s.feed(piece) {
				ok = false
				// Nothing valid is refused: the text up to here cannot
				// be a prefix of valid UTF-8.
				upTo := [][]byte{data[:i], data[:j], data}[k]
				for _, tail := range []string{"", "\x80", "\x80\x80", "\x80\x80\x80"} {
					if utf8.Valid(append(append([]byte(nil), upTo...), tail...)) {
						t.Fatalf("%q refused, but %q is valid", upTo, tail)
					}
				}
				break
			}
		}
		if ok {
			ok = s.end()
		}
		if ok != utf8.Valid(data) {
			t.Fatalf("pieces %q %q %q: %v, utf8.Valid %v", data[:i], data[i:j], data[j:], ok, utf8.Valid(data))
		}
	})
}
