package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/transport"
)

// TestCloseDrainsInput sends the header of a frame over MaxFrameSize and
// part of its payload, and goes on sending after the server's close frame,
// as a client does that has not yet read it. The server must not reset the
// connection: the close frame (1009) arrives whole, every later write of
// the client succeeds while the server drains, and the stream then ends
// cleanly (EOF, not a reset).
func TestCloseDrainsInput(t *testing.T) {
	s, hs := newTestServer(t, &echoHandler{}, Options{MaxFrameSize: 1024, CloseTimeout: 5 * time.Second})
	c, _ := dial(t, hs, phoenixQuery, nil)
	const claimed = 1 << 20
	hdr := []byte{0x80 | opBinary, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, claimed)
	hdr = append(hdr, 1, 2, 3, 4) // mask
	if _, err := c.nc.Write(append(hdr, make([]byte, 64<<10)...)); err != nil {
		t.Fatal(err)
	}
	if code := c.readClose(t); code != transport.CloseTooBig {
		t.Fatalf("close code %d, want %d", code, transport.CloseTooBig)
	}
	// The rest of the payload, written after the close frame was read:
	// the server discards it instead of resetting the connection.
	chunk := make([]byte, 16<<10)
	for sent := 64 << 10; sent < claimed; sent += len(chunk) {
		if _, err := c.nc.Write(chunk); err != nil {
			t.Fatalf("write after the close frame, at byte %d: %v", sent, err)
		}
	}
	var b [1]byte
	if _, err := c.br.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	_ = c.nc.Close()
	waitFor(t, func() bool { return s.Conns() == 0 })
}

// TestSlowConsumerClosesWith1013 fills a client's socket until its queue
// overflows; once the client reads again, what was already on its way
// arrives and then the documented close code, 1013 (try again later).
func TestSlowConsumerClosesWith1013(t *testing.T) {
	s, hs := newTestServer(t, &burstHandler{frames: 20000}, Options{QueueFrames: 64, QueueBytes: 64 << 10, WriteTimeout: 10 * time.Second, CloseTimeout: 10 * time.Second})
	slow, _ := dial(t, hs, phoenixQuery, nil)
	slow.send(t, opText, "go")
	waitFor(t, func() bool { return s.SlowConsumers() == 1 })
	if code := slow.readClose(t); code != transport.CloseTryAgainLater {
		t.Fatalf("close code %d, want %d", code, transport.CloseTryAgainLater)
	}
	slow.writeFrame(t, true, opClose, closePayload(transport.CloseTryAgainLater, ""), true)
	waitFor(t, func() bool { return s.Conns() == 0 })
}

// dialTLS is dial over TLS: the server's connection is a *tls.Conn, which
// has no raw socket, so it is read by a goroutine of its own (readLoop)
// and written by a writer goroutine instead of the poller and flushers.
func dialTLS(t *testing.T, hs *httptest.Server) *client {
	t.Helper()
	nc, err := tls.Dial("tcp", hs.Listener.Addr().String(), hs.Client().Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	req, _ := http.NewRequest("GET", hs.URL+"/socket/websocket?"+phoenixQuery, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		t.Fatalf("TLS upgrade: %d, accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{nc: nc, br: br}
}

// TestOverTLS runs the read and write paths of a connection without a raw
// socket: echo of small, fragmented and large frames, ping, a frame over
// the limit (1009, delivered whole), and the close handshake.
func TestOverTLS(t *testing.T) {
	h := &echoHandler{}
	s := New(h, Options{Logger: slog.New(slog.DiscardHandler), MaxFrameSize: 64 << 10, CloseTimeout: 5 * time.Second})
	hs := httptest.NewTLSServer(s)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})

	c := dialTLS(t, hs)
	big := strings.Repeat("y", 40<<10)
	c.send(t, opText, "hello")
	c.writeFrame(t, false, opText, []byte("frag"), true)
	c.writeFrame(t, true, opContinuation, []byte("mented"), true)
	c.send(t, opText, big)
	for _, want := range []string{"hello", "fragmented", big} {
		if op, p := c.read(t); op != opText || string(p) != want {
			t.Fatalf("got op %d %.20q (%d bytes), want %.20q", op, p, len(p), want)
		}
	}
	c.send(t, opPing, "p")
	if op, p := c.read(t); op != opPong || string(p) != "p" {
		t.Fatalf("got op %d %q, want pong", op, p)
	}
	c.writeFrame(t, true, opClose, closePayload(1000, "bye"), true)
	if code := c.readClose(t); code != 1000 {
		t.Fatalf("close echo %d, want 1000", code)
	}

	tooBig := dialTLS(t, hs)
	tooBig.writeFrame(t, true, opBinary, make([]byte, 100<<10), true)
	if code := tooBig.readClose(t); code != transport.CloseTooBig {
		t.Fatalf("close code %d, want %d", code, transport.CloseTooBig)
	}
	_ = tooBig.nc.Close()
	waitFor(t, func() bool { return s.Conns() == 0 })
	waitFor(t, func() bool { return h.closedCount() == 2 })
}
