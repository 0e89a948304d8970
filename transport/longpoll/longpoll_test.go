package longpoll

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// recorder accepts sessions and records inbound frames; it echoes text
// frames back.
type recorder struct {
	mu     sync.Mutex
	frames []wire.Frame
	closed int
	conns  []transport.Conn
	refuse bool
	// gate, if set, holds every Receive of a "block" event until closed.
	gate chan struct{}
}

func (r *recorder) Connect(_ context.Context, info *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	if r.refuse || info.Params.Get("token") == "refuse" {
		return nil, errors.New("refused")
	}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return &recv{r: r, c: c}, nil
}

type recv struct {
	r *recorder
	c transport.Conn
}

func (v *recv) Receive(f wire.Frame) error {
	v.r.mu.Lock()
	v.r.frames = append(v.r.frames, f)
	gate := v.r.gate
	v.r.mu.Unlock()
	if gate != nil && strings.Contains(string(f.Data), `"block"`) {
		<-gate
	}
	if string(f.Data) == "bad" {
		return errors.New("bad frame")
	}
	if !f.Binary {
		return v.c.Send(f)
	}
	return nil
}

func (v *recv) Closed() {
	v.r.mu.Lock()
	v.r.closed++
	v.r.mu.Unlock()
}

func (r *recorder) snapshot() ([]wire.Frame, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Frame(nil), r.frames...), r.closed
}

type body struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

func do(t *testing.T, method, url, contentType, payload string) body {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(payload))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %s", method, url, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", resp.Header)
	}
	var b body
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("body %s: %v", raw, err)
	}
	return b
}

func setup(t *testing.T, opts Options) (*Server, *recorder, string) {
	t.Helper()
	rec := &recorder{}
	opts.Logger = slog.New(slog.DiscardHandler)
	s := New(rec, opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s, rec, hs.URL + "/socket/longpoll?vsn=2.0.0"
}

func TestSessionLifecycle(t *testing.T) {
	_, rec, url := setup(t, Options{Window: 200 * time.Millisecond})
	open := do(t, "GET", url+"&", "", "")
	if open.Status != 410 || open.Token == "" || open.Messages == nil || len(open.Messages) != 0 {
		t.Fatalf("open = %+v", open)
	}
	session := url + "&token=" + open.Token
	// An empty poll ends after the window with 204.
	start := time.Now()
	if b := do(t, "GET", session, "", ""); b.Status != 204 || b.Token != open.Token {
		t.Fatalf("empty poll = %+v", b)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("empty poll returned before the window")
	}
	// ndjson POST: text lines, CRLF, and a base64 binary line.
	bin := base64.StdEncoding.EncodeToString([]byte{0, 1, 2})
	payload := `["1","1","t","phx_join",{}]` + "\r\n" + `[null,"2","phoenix","heartbeat",{}]` + "\n" + bin + "\n"
	if b := do(t, "POST", session, "application/x-ndjson", payload); b.Status != 200 {
		t.Fatalf("post = %+v", b)
	}
	frames, _ := rec.snapshot()
	if len(frames) != 3 || string(frames[0].Data) != `["1","1","t","phx_join",{}]` || !frames[2].Binary || string(frames[2].Data) != "\x00\x01\x02" {
		t.Fatalf("frames = %+v", frames)
	}
	// The echoed frames come back as JSON strings in one poll.
	b := do(t, "GET", session, "", "")
	if b.Status != 200 || len(b.Messages) != 2 || b.Messages[1] != `[null,"2","phoenix","heartbeat",{}]` {
		t.Fatalf("poll = %+v", b)
	}
	// Another content type: the whole body is one frame.
	do(t, "POST", session, "text/plain", `["1","3","t","x",{"a":"b\nc"}]`)
	if b := do(t, "GET", session, "", ""); len(b.Messages) != 1 || b.Messages[0] != `["1","3","t","x",{"a":"b\nc"}]` {
		t.Fatalf("poll = %+v", b)
	}
	// A frame the receiver rejects ends the session.
	if b := do(t, "POST", session, "application/x-ndjson", "bad\n"); b.Status != 400 {
		t.Fatalf("bad line: %+v", b)
	}
	if b := do(t, "POST", session, "text/plain", "bad"); b.Status != 400 && b.Status != 410 {
		t.Fatalf("bad frame: %+v", b)
	}
	waitFor(t, func() bool { _, closed := rec.snapshot(); return closed == 1 })
	if b := do(t, "GET", session, "", ""); b.Status != 410 {
		t.Fatalf("poll after close = %+v", b)
	}
}

func TestRefusalsAndLimits(t *testing.T) {
	_, _, url := setup(t, Options{})
	if b := do(t, "GET", url+"&token=refuse", "", ""); b.Status != 403 {
		t.Fatalf("refused connect = %+v", b)
	}
	if b := do(t, "GET", strings.Replace(url, "vsn=2.0.0", "vsn=1.0.0", 1), "", ""); b.Status != 403 {
		t.Fatalf("v1 = %+v", b)
	}
	if b := do(t, "POST", url+"&token=nope", "application/x-ndjson", "[]"); b.Status != 410 {
		t.Fatalf("unknown session post = %+v", b)
	}
	open := do(t, "GET", url, "", "")
	lines := strings.Repeat(`[null,"1","phoenix","heartbeat",{}]`+"\n", 101)
	if b := do(t, "POST", url+"&token="+open.Token, "application/x-ndjson", lines); b.Status != 400 {
		t.Fatalf("101 lines = %+v", b)
	}
	req, _ := http.NewRequest("OPTIONS", url, nil)
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("CORS headers %v", resp.Header)
	}
}

func TestIdleSessionExpires(t *testing.T) {
	s, rec, url := setup(t, Options{Window: 50 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	do(t, "GET", url, "", "")
	waitFor(t, func() bool { _, closed := rec.snapshot(); return closed == 1 })
	if s.Sessions() != 0 {
		t.Fatalf("%d sessions left", s.Sessions())
	}
}

func TestServerCloseWakesPoll(t *testing.T) {
	_, rec, url := setup(t, Options{Window: 5 * time.Second})
	open := do(t, "GET", url, "", "")
	got := make(chan body, 1)
	go func() { got <- do(t, "GET", url+"&token="+open.Token, "", "") }()
	waitFor(t, func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.conns) == 1 })
	rec.mu.Lock()
	c := rec.conns[0]
	rec.mu.Unlock()
	c.Close(transport.CloseGoingAway, "disconnect")
	select {
	case b := <-got:
		if b.Status != 410 {
			t.Fatalf("woken poll = %+v", b)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a closed session did not wake its poll")
	}
}

// TestShutdownPastDeadlineWaits: with its context ended and a Receive
// still in flight, Shutdown returns ctx.Err() only after every session has
// ended and reported Closed.
func TestShutdownPastDeadlineWaits(t *testing.T) {
	s, rec, url := setup(t, Options{})
	gate := make(chan struct{})
	rec.gate = gate
	open := do(t, "GET", url, "", "")
	posted := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", url+"&token="+open.Token, strings.NewReader(`["1","1","t","block",{}]`))
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		posted <- err
	}()
	waitFor(t, func() bool { frames, _ := rec.snapshot(); return len(frames) == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	result := make(chan error, 1)
	go func() { result <- s.Shutdown(ctx) }()
	close(gate) // the Receive in flight returns
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	if _, closed := rec.snapshot(); closed != 1 {
		t.Fatalf("Shutdown returned with %d of 1 sessions reported Closed", closed)
	}
	if err := <-posted; err != nil {
		t.Fatal(err)
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

func FuzzSplitNDJSON(f *testing.F) {
	f.Add([]byte("[1]\nAAEC\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("!!!"))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := splitNDJSON(data)
		if err == nil && len(frames) > maxLines {
			t.Fatalf("%d frames accepted", len(frames))
		}
	})
}
