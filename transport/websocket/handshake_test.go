package websocket

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawHandshake writes req as is over a fresh TCP connection and returns the
// response and its body; for a request that carries a body, also what the
// server sent after the response until it closed the connection (or a
// short deadline passed).
func rawHandshake(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols || !strings.Contains(req, "from the body") {
		return resp, body
	}
	// What follows the refusal: nothing, until the server closes or the
	// deadline ends the read. Either way the bytes read are returned.
	_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	rest, _ := io.ReadAll(br)
	return resp, append(body, rest...)
}

// logRecorder is a slog handler that keeps the messages logged at debug.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's sample: 16 bytes

// TestStrictHandshake sends raw upgrade requests that RFC 6455 §4.2.1 has a
// server refuse, each over its own TCP connection, and checks the status,
// that no connection reached the Handler, and a debug log line per refusal.
func TestStrictHandshake(t *testing.T) {
	h := &echoHandler{}
	logs := &logRecorder{}
	_, hs := newTestServer(t, h, Options{Logger: slog.New(logs)})
	addr := hs.Listener.Addr().String()
	path := "/socket/websocket?" + phoenixQuery
	req := func(first string, headers ...string) string {
		return first + "\r\nHost: " + addr + "\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
	}
	get := "GET " + path + " HTTP/1.1"
	std := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + testKey}
	with := func(extra ...string) []string { return append(append([]string(nil), std...), extra...) }
	without := func(name string, extra ...string) []string {
		var out []string
		for _, l := range std {
			if !strings.HasPrefix(l, name+":") {
				out = append(out, l)
			}
		}
		return append(out, extra...)
	}
	bodyFrame := clientFrame(true, opText, []byte("from the body"), true)

	tests := []struct {
		name string
		req  string
		want int
	}{
		{"body with Content-Length is a valid frame", req(get, with(fmt.Sprintf("Content-Length: %d", len(bodyFrame)))...) + string(bodyFrame), 400},
		{"chunked body", req(get, with("Transfer-Encoding: chunked")...) + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(bodyFrame), bodyFrame), 400},
		{"HTTP/1.0", req("GET "+path+" HTTP/1.0", std...), 400},
		{"POST", req("POST "+path+" HTTP/1.1", with("Content-Length: 0")...), 400},
		{"PUT", req("PUT "+path+" HTTP/1.1", std...), 400},
		{"no key", req(get, without("Sec-WebSocket-Key")...), 400},
		{"two keys", req(get, with("Sec-WebSocket-Key: "+testKey)...), 400},
		{"key of 15 bytes", req(get, without("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA")...), 400},
		{"key of 17 bytes", req(get, without("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=")...), 400},
		{"key not base64", req(get, without("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!!")...), 400},
		{"no version", req(get, without("Sec-WebSocket-Version")...), 426},
		{"version 8", req(get, without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")...), 426},
		{"two versions", req(get, with("Sec-WebSocket-Version: 8")...), 426},
		{"no Upgrade", req(get, without("Upgrade")...), 400},
		{"Upgrade of another protocol", req(get, without("Upgrade", "Upgrade: h2c")...), 400},
		{"Upgrade token as a substring", req(get, without("Upgrade", "Upgrade: notwebsocket")...), 400},
		{"no Connection", req(get, without("Connection")...), 400},
		{"Connection token as a substring", req(get, without("Connection", "Connection: keep-alive-upgrade")...), 400},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, rest := rawHandshake(t, addr, tt.req)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("426 without Sec-WebSocket-Version: 13: %v", resp.Header)
			}
			if bytes.Contains(rest, []byte("from the body")) {
				t.Fatalf("the body was handled as a frame: %q", rest)
			}
			waitFor(t, func() bool { return logs.count("websocket: handshake refused") == i+1 })
		})
	}
	h.mu.Lock()
	n := len(h.infos)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d refused requests reached the Handler", n)
	}

	// Token lists, any case, extra tokens and whitespace: accepted.
	for _, hdrs := range [][]string{
		std,
		{"Upgrade: WebSocket", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + testKey},
		{"Upgrade: foo/1 ,  websocket", "Connection: keep-alive", "Connection: upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + testKey},
	} {
		if resp, _ := rawHandshake(t, addr, req(get, hdrs...)); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%q: status %d, want 101", hdrs, resp.StatusCode)
		} else if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Fatalf("accept %q, want RFC 6455's sample answer", got)
		}
	}
	waitFor(t, func() bool { return h.closedCount() == 3 })
}
