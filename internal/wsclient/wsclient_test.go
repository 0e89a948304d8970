package wsclient_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/transport/websocket"
	"github.com/parley-go/parley/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// echo is a transport.Handler that sends every frame back and records the
// remote address of each connection.
type echo struct {
	mu      sync.Mutex
	remotes []string
}

func (e *echo) Connect(_ context.Context, info *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	e.mu.Lock()
	e.remotes = append(e.remotes, info.RemoteAddr)
	e.mu.Unlock()
	return echoRecv{c}, nil
}

type echoRecv struct{ c transport.Conn }

func (r echoRecv) Receive(f wire.Frame) error { return r.c.Send(f) }
func (r echoRecv) Closed()                    {}

// newServer serves our transport/websocket server; the URL it returns is
// the socket's ws:// URL with vsn=2.0.0.
func newServer(t *testing.T, h transport.Handler) (*websocket.Server, string) {
	return newServerOpts(t, h, websocket.Options{})
}

func newServerOpts(t *testing.T, h transport.Handler, opts websocket.Options) (*websocket.Server, string) {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	s := websocket.New(h, opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket/websocket?vsn=2.0.0"
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEchoAllLengths(t *testing.T) {
	_, u := newServer(t, &echo{})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, &wsclient.Options{Subprotocols: []string{"phoenix"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "phoenix" {
		t.Errorf("subprotocol %q, want phoenix", c.Subprotocol())
	}
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200000} {
		for _, typ := range []wsclient.MessageType{wsclient.Text, wsclient.Binary} {
			msg := bytes.Repeat([]byte("a"), n)
			if err := c.Write(ctx, typ, msg); err != nil {
				t.Fatalf("write %d: %v", n, err)
			}
			gotTyp, got, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read %d: %v", n, err)
			}
			if gotTyp != typ || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes type %d: got %d bytes type %d", n, typ, len(got), gotTyp)
			}
		}
	}
	if err := c.Close(ctx, 1000, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestLocalAddr(t *testing.T) {
	e := &echo{}
	_, u := newServer(t, e)
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, &wsclient.Options{LocalAddr: netip.MustParseAddr("127.0.0.3")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if host, _, _ := net.SplitHostPort(c.LocalAddr().String()); host != "127.0.0.3" {
		t.Errorf("local address %s, want 127.0.0.3", c.LocalAddr())
	}
	e.mu.Lock()
	remote := e.remotes[0]
	e.mu.Unlock()
	if !strings.HasPrefix(remote, "127.0.0.3:") {
		t.Errorf("server saw %s, want 127.0.0.3:*", remote)
	}
	if err := c.Close(ctx, 1000, ""); err != nil {
		t.Fatal(err)
	}
}

func TestRefusedHandshake(t *testing.T) {
	_, u := newServer(t, &echo{})
	_, err := wsclient.Dial(ctxT(t), strings.Replace(u, "vsn=2.0.0", "vsn=1.0.0", 1), nil)
	if !errors.Is(err, wsclient.ErrHandshake) || !strings.Contains(err.Error(), "403") {
		t.Fatalf("got %v, want a handshake error with status 403", err)
	}
	if _, err := wsclient.Dial(ctxT(t), "wss://127.0.0.1:1/", nil); !errors.Is(err, wsclient.ErrHandshake) {
		t.Fatalf("wss: got %v, want a handshake error", err)
	}
}

// TestServerCloseWhileReading: Shutdown closes with 1012; a blocked Read
// returns that CloseError, and so does every later Read.
func TestServerCloseWhileReading(t *testing.T) {
	s, u := newServer(t, &echo{})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// The server registers a connection just after writing the 101; a
	// Shutdown before that cuts it without a close frame.
	for s.Conns() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the server never registered the connection")
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		done <- err
	}()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v (the client did not echo the close?)", err)
	}
	var ce *wsclient.CloseError
	if err := <-done; !errors.As(err, &ce) || ce.Code != transport.CloseServiceRestart {
		t.Fatalf("read: %v, want CloseError 1012", err)
	}
	if _, _, err := c.Read(ctx); !errors.As(err, &ce) {
		t.Fatalf("second read: %v, want the same CloseError", err)
	}
}

// TestCloseWithConcurrentReader: Close hands the server's close frame to
// the goroutine in Read.
func TestCloseWithConcurrentReader(t *testing.T) {
	_, u := newServer(t, &echo{})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := c.Write(ctx, wsclient.Text, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx, 1000, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	var ce *wsclient.CloseError
	if err := <-done; !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("reader ended with %v, want the echoed CloseError 1000", err)
	}
	if err := c.Write(ctx, wsclient.Text, []byte("late")); !errors.Is(err, wsclient.ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
}

// TestReadCancelKeepsConn: a Read cancelled between frames leaves the
// connection usable.
func TestReadCancelKeepsConn(t *testing.T) {
	_, u := newServer(t, &echo{})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read: %v, want DeadlineExceeded", err)
	}
	cctx, cancel2 := context.WithCancel(ctx)
	time.AfterFunc(30*time.Millisecond, cancel2)
	if _, _, err := c.Read(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read: %v, want Canceled", err)
	}
	if err := c.Write(ctx, wsclient.Text, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(context.Background()); err != nil || string(got) != "still here" {
		t.Fatalf("read after cancel: %q %v", got, err)
	}
	if err := c.Close(ctx, 1000, ""); err != nil {
		t.Fatal(err)
	}
}

// rawServer accepts one connection, answers the handshake with accept (or
// the right key when accept is ""), then runs script on the connection.
func rawServer(t *testing.T, accept string, script func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	go func() {
		defer wg.Done()
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if accept == "" {
			accept = wsclient.AcceptKey(req.Header.Get("Sec-WebSocket-Key"))
		}
		_, _ = io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+accept+"\r\n\r\n")
		script(nc, br)
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// readClientFrame reads one client frame and checks that it is masked.
func readClientFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Errorf("read client frame: %v", err)
		return 0, nil
	}
	if h[1]&0x80 == 0 {
		t.Error("client frame is not masked")
	}
	n := int(h[1] & 0x7f) // short frames only in these tests
	var mask [4]byte
	_, _ = io.ReadFull(br, mask[:])
	p := make([]byte, n)
	_, _ = io.ReadFull(br, p)
	for i := range p {
		p[i] ^= mask[i&3]
	}
	return h[0] & 0x0f, p
}

func TestBadAcceptKey(t *testing.T) {
	u := rawServer(t, "dGhlIHNhbXBsZSBub25jZQ==", func(net.Conn, *bufio.Reader) {})
	_, err := wsclient.Dial(ctxT(t), u, nil)
	if !errors.Is(err, wsclient.ErrHandshake) || !strings.Contains(err.Error(), "Accept") {
		t.Fatalf("got %v, want a Sec-WebSocket-Accept handshake error", err)
	}
}

// TestPingFragmentsAndClose: the client answers a ping with a masked pong
// carrying the same data, reassembles a fragmented message, and echoes the
// server's close code.
func TestPingFragmentsAndClose(t *testing.T) {
	got := make(chan [2][]byte, 1)
	u := rawServer(t, "", func(nc net.Conn, br *bufio.Reader) {
		_, _ = nc.Write([]byte{0x89, 3, 'a', 'b', 'c'})        // ping "abc"
		_, _ = nc.Write([]byte{0x01, 3, 'h', 'e', 'l'})        // text, not final
		_, _ = nc.Write([]byte{0x80, 2, 'l', 'o'})             // final continuation
		_, _ = nc.Write([]byte{0x88, 4, 0x03, 0xf0, 'b', 'y'}) // close 1008 "by"
		op1, p1 := readClientFrame(t, br)
		op2, p2 := readClientFrame(t, br)
		if op1 != 0xA || op2 != 0x8 {
			t.Errorf("client sent opcodes %x, %x; want pong then close", op1, op2)
		}
		got <- [2][]byte{p1, p2}
	})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != wsclient.Text || string(msg) != "hello" {
		t.Fatalf("read: %d %q %v, want text hello", typ, msg, err)
	}
	var ce *wsclient.CloseError
	if _, _, err := c.Read(ctx); !errors.As(err, &ce) || ce.Code != 1008 || ce.Reason != "by" {
		t.Fatalf("read: %v, want CloseError 1008 by", err)
	}
	p := <-got
	if string(p[0]) != "abc" || binary.BigEndian.Uint16(p[1]) != 1008 {
		t.Fatalf("pong %q, close echo %x", p[0], p[1])
	}
}

// TestDetach: after Read returns the first of two frames that arrived in
// one write, Detach gives back the socket and the second frame, already
// buffered; the socket then carries the server's next frame.
func TestDetach(t *testing.T) {
	next := make(chan struct{})
	u := rawServer(t, "", func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write([]byte{0x81, 2, 'h', 'i', 0x81, 3, 'y', 'o', 'u'})
		<-next
		_, _ = nc.Write([]byte{0x81, 1, '!'})
	})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("read: %q %v, want hi", msg, err)
	}
	nc, rest := c.Detach()
	defer nc.Close()
	if want := []byte{0x81, 3, 'y', 'o', 'u'}; !bytes.Equal(rest, want) {
		t.Fatalf("Detach returned %x buffered, want %x", rest, want)
	}
	close(next)
	buf := make([]byte, 3)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, buf); err != nil || !bytes.Equal(buf, []byte{0x81, 1, '!'}) {
		t.Fatalf("socket after Detach: %x %v", buf, err)
	}
}

func TestMaskedServerFrameRejected(t *testing.T) {
	u := rawServer(t, "", func(nc net.Conn, _ *bufio.Reader) {
		_, _ = nc.Write([]byte{0x81, 0x81, 1, 2, 3, 4, 'x'})
	})
	ctx := ctxT(t)
	c, err := wsclient.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); !errors.Is(err, wsclient.ErrProtocol) {
		t.Fatalf("read: %v, want ErrProtocol", err)
	}
}

// TestCompression: with Options.Compression the client offers
// permessage-deflate, and messages the server compresses read back whole;
// without it, or against a server without compression, nothing changes.
func TestCompression(t *testing.T) {
	s, url := newServerOpts(t, &echo{}, websocket.Options{Compression: true})
	_, plainURL := newServer(t, &echo{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := []byte(strings.Repeat(`{"user":"ann","body":"hello there, compressed world"}`, 40))
	for _, tt := range []struct {
		url      string
		compress bool
		want     int64 // server compressions after the echo
	}{{plainURL, true, 0}, {url, false, 0}, {url, true, 1}} {
		c, err := wsclient.Dial(ctx, tt.url, &wsclient.Options{Compression: tt.compress})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, wsclient.Text, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != wsclient.Text || !bytes.Equal(got, msg) {
			t.Fatalf("echo: %v %d bytes, %v", typ, len(got), err)
		}
		if n := s.Compressions(); n != tt.want {
			t.Fatalf("compress %v: %d server compressions, want %d", tt.compress, n, tt.want)
		}
		_ = c.Close(ctx, 1000, "")
	}
}
