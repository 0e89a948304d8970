package parley_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/live"
)

// livePage is what a browser keeps of a dead render.
type livePage struct {
	id, session, static, csrf string
	cookies                   []*http.Cookie
}

var (
	reLiveContainer = regexp.MustCompile(`<div id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`)
	reLiveCSRF      = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)
)

func deadRender(t *testing.T, base string, hdr ...string) livePage {
	t.Helper()
	resp, body := get(t, base+"/", hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("dead render: %d %s", resp.StatusCode, body)
	}
	m, c := reLiveContainer.FindStringSubmatch(body), reLiveCSRF.FindStringSubmatch(body)
	if m == nil || c == nil {
		t.Fatalf("no container or CSRF token: %s", body)
	}
	return livePage{id: m[1], session: m[2], static: m[3], csrf: c[1], cookies: resp.Cookies()}
}

func secretEndpoint(t *testing.T, cfg live.Config) *httptest.Server {
	t.Helper()
	ep, err := parley.New(parley.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := live.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Handle("/", func() live.View { return rootView{} }); err != nil {
		t.Fatal(err)
	}
	if err := ep.Live(l); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	t.Cleanup(func() {
		srv.Close()
		if err := ep.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// joinOver opens the live socket of base as the page's browser would (the
// page's CSRF token and cookies, unless replaced) and returns the join
// reply's response. The upgrade itself must succeed: token problems are
// never a 403.
func joinOver(t *testing.T, base string, p livePage) string {
	t.Helper()
	q := url.Values{"vsn": {"2.0.0"}}
	if p.csrf != "" {
		q.Set("_csrf_token", p.csrf)
	}
	hdr := http.Header{"Origin": {base}}
	for _, c := range p.cookies {
		hdr.Add("Cookie", c.Name+"="+c.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsclient.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/live/websocket?"+q.Encode(), &wsclient.Options{Header: hdr})
	if err != nil {
		t.Fatalf("the upgrade was refused: %v", err)
	}
	defer closeNow(c)
	join, _ := json.Marshal([]any{"1", "1", "lv:" + p.id, "phx_join", map[string]any{
		"url": base + "/", "session": p.session, "static": p.static, "params": map[string]any{"_csrf_token": p.csrf, "_mounts": 0},
	}})
	send(t, c, string(join))
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no join reply: %v", err)
		}
		var f []json.RawMessage
		if json.Unmarshal(data, &f) == nil && len(f) == 5 && string(f[3]) == `"phx_reply"` {
			var r struct {
				Status   string          `json:"status"`
				Response json.RawMessage `json:"response"`
			}
			_ = json.Unmarshal(f[4], &r)
			if r.Status == "ok" {
				return "ok"
			}
			return string(r.Response)
		}
	}
}

// TestLiveBadTokens: every token problem is answered at the join with the
// reason the official client reloads on, over a real WebSocket that was
// upgraded (never 403), and the node keeps serving good pages.
func TestLiveBadTokens(t *testing.T) {
	secret, otherSecret := live.GenerateSecretKeyBase(), live.GenerateSecretKeyBase()
	a := secretEndpoint(t, live.Config{SecretKeyBase: []string{secret}})
	sameSecret := secretEndpoint(t, live.Config{SecretKeyBase: []string{secret}})
	otherNode := secretEndpoint(t, live.Config{SecretKeyBase: []string{otherSecret}})
	expiring := secretEndpoint(t, live.Config{SecretKeyBase: []string{secret}, TokenMaxAge: time.Nanosecond})
	const stale = `{"reason":"stale"}`

	tamper := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	cases := []struct {
		name string
		node string
		page func() livePage
		want string
	}{
		{"good", a.URL, func() livePage { return deadRender(t, a.URL) }, "ok"},
		{"shared secret, other node", sameSecret.URL, func() livePage { return deadRender(t, a.URL) }, "ok"},
		{"other secret (restart with a new one, or a node without the shared secret)", otherNode.URL,
			func() livePage { return deadRender(t, a.URL) }, stale},
		{"tampered session token", a.URL, func() livePage { p := deadRender(t, a.URL); p.session = tamper(p.session); return p }, stale},
		{"tampered static token", a.URL, func() livePage { p := deadRender(t, a.URL); p.static = tamper(p.static); return p }, stale},
		{"tampered CSRF token", a.URL, func() livePage { p := deadRender(t, a.URL); p.csrf = tamper(p.csrf); return p }, stale},
		{"other view's session token", a.URL, func() livePage {
			p, q := deadRender(t, a.URL), deadRender(t, a.URL)
			p.session = q.session
			return p
		}, stale},
		{"expired tokens", expiring.URL, func() livePage { return deadRender(t, expiring.URL) }, stale},
		{"missing CSRF token", a.URL, func() livePage { p := deadRender(t, a.URL); p.csrf = ""; return p }, stale},
		{"missing CSRF cookie", a.URL, func() livePage { p := deadRender(t, a.URL); p.cookies = nil; return p }, stale},
		{"cookie from another node without a shared secret", a.URL, func() livePage {
			p := deadRender(t, a.URL)
			p.cookies = deadRender(t, otherNode.URL).cookies
			return p
		}, stale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := joinOver(t, c.node, c.page()); got != c.want {
				t.Errorf("join answered %s, want %s", got, c.want)
			}
		})
	}
	// Garbage cookies never break the dead render.
	for _, cookie := range []string{"_parley_csrf=x", "__phoenix_flash__=garbage.garbage", "_parley_csrf=" + strings.Repeat("z", 5000)} {
		if resp, body := get(t, a.URL+"/", "Cookie", cookie); resp.StatusCode != 200 {
			t.Errorf("cookie %.40q: %d %.200s", cookie, resp.StatusCode, body)
		}
	}
	if got := joinOver(t, a.URL, deadRender(t, a.URL)); got != "ok" {
		t.Errorf("a good page after the bad ones: %s", got)
	}
}

// TestShutdownLogs: Shutdown logs "shutting down" with the open
// connection count, then what it drained.
func TestShutdownLogs(t *testing.T) {
	var logs syncLog
	ep, err := parley.New(parley.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l, err := live.New(live.Config{SecretKeyBase: []string{live.GenerateSecretKeyBase()}})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Handle("/", func() live.View { return rootView{} })
	if err := ep.Live(l); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	p := deadRender(t, srv.URL)
	var conns []*wsclient.Conn
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := wsclient.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/live/websocket?vsn=2.0.0&_csrf_token="+url.QueryEscape(p.csrf),
			&wsclient.Options{Header: http.Header{"Origin": {srv.URL}}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer closeNow(c)
		conns = append(conns, c)
	}
	poll(t, "two open sockets", func() bool {
		rec := httptest.NewRecorder()
		ep.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return strings.Contains(rec.Body.String(), `parley_connections{transport="websocket"} 2`)
	})
	if err := ep.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{`msg="parley: shutting down" connections=2`, `msg="parley: shut down" drained=2 left=0`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
