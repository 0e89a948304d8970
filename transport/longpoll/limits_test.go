package longpoll

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

// conn returns the i-th session the recorder accepted.
func (r *recorder) conn(t *testing.T, i int) transport.Conn {
	t.Helper()
	waitFor(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.conns) > i })
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[i]
}

// TestSlowConsumerEndsSession fills the frames buffered between polls past
// each bound: the Send over it fails with ErrSlowConsumer, the session
// ends (its next poll gets 410, the receiver is told) and the frames
// buffered before are dropped, not delivered late.
func TestSlowConsumerEndsSession(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
		send []string
	}{
		{"frames", Options{QueueFrames: 3}, []string{"a", "b", "c", "d"}},
		{"bytes", Options{QueueBytes: 10}, []string{"12345", "12345", "x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, rec, url := setup(t, tt.opts)
			open := do(t, "GET", url, "", "")
			c := rec.conn(t, 0)
			last := len(tt.send) - 1
			for i, m := range tt.send {
				err := c.Send(wire.Frame{Data: []byte(m)})
				if i < last && err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if i == last && !errors.Is(err, transport.ErrSlowConsumer) {
					t.Fatalf("send over the bound: %v, want ErrSlowConsumer", err)
				}
			}
			if frames, bytes := s.Queued(); frames != 0 || bytes != 0 {
				t.Fatalf("%d frames, %d bytes still queued", frames, bytes)
			}
			if b := do(t, "GET", url+"&token="+open.Token, "", ""); b.Status != 410 || len(b.Messages) != 0 {
				t.Fatalf("poll after overflow = %+v", b)
			}
			waitFor(t, func() bool { _, closed := rec.snapshot(); return closed == 1 })
			if err := c.Send(wire.Frame{Data: []byte("late")}); !errors.Is(err, transport.ErrConnClosed) {
				t.Fatalf("send after close: %v", err)
			}
		})
	}
}

// TestOriginChecked: a cross-origin request (as a page on another site
// would make) gets 403 before any session opens, on GET and POST; the same
// origin, and a request without Origin (not from a browser), are served.
func TestOriginChecked(t *testing.T) {
	s, _, url := setup(t, Options{})
	get := func(method, origin, target string) int {
		t.Helper()
		req, _ := http.NewRequest(method, target, strings.NewReader("[]"))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	open := do(t, "GET", url, "", "")
	for _, method := range []string{"GET", "POST"} {
		if code := get(method, "http://evil.example", url+"&token="+open.Token); code != http.StatusForbidden {
			t.Fatalf("%s from another origin: HTTP %d, want 403", method, code)
		}
	}
	if code := get("GET", "http://evil.example", url); code != http.StatusForbidden || s.Sessions() != 1 {
		t.Fatalf("open from another origin: HTTP %d, %d sessions", code, s.Sessions())
	}
	same := "http://" + strings.TrimPrefix(strings.SplitN(url, "/socket", 2)[0], "http://")
	if code := get("GET", same, url); code != http.StatusOK || s.Sessions() != 2 {
		t.Fatalf("open from the same origin: HTTP %d, %d sessions", code, s.Sessions())
	}
}

// TestFrameAndBodyLimits: a line over MaxFrameSize gets 413 and ends the
// session without reaching the receiver; a body over MaxBodySize gets 413.
func TestFrameAndBodyLimits(t *testing.T) {
	_, rec, url := setup(t, Options{MaxFrameSize: 64, MaxBodySize: 1024, Window: 5 * time.Second})
	open := do(t, "GET", url, "", "")
	session := url + "&token=" + open.Token
	ok := `[null,"1","phoenix","heartbeat",{}]`
	if b := do(t, "POST", session, "application/x-ndjson", ok+"\n"); b.Status != 200 {
		t.Fatalf("small frame = %+v", b)
	}
	big := `[null,"2","phoenix","heartbeat",{"pad":"` + strings.Repeat("x", 64) + `"}]`
	if b := do(t, "POST", session, "application/x-ndjson", big+"\n"); b.Status != 413 {
		t.Fatalf("frame over MaxFrameSize = %+v, want 413", b)
	}
	frames, _ := rec.snapshot()
	if len(frames) != 1 || string(frames[0].Data) != ok {
		t.Fatalf("receiver got %d frames: %+v", len(frames), frames)
	}
	if b := do(t, "GET", session, "", ""); b.Status != 410 {
		t.Fatalf("poll after 413 = %+v, want 410", b)
	}
	waitFor(t, func() bool { _, closed := rec.snapshot(); return closed == 1 })

	open = do(t, "GET", url, "", "")
	lines := strings.Repeat(ok+"\n", 30) // 1 080 bytes, each line under MaxFrameSize
	if b := do(t, "POST", url+"&token="+open.Token, "application/x-ndjson", lines); b.Status != 413 {
		t.Fatalf("body over MaxBodySize = %+v, want 413", b)
	}
}
