package live_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/livetest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// counter is a view built on hand-made trees: statics shared across
// renders, two dynamics.
type counter struct{ n int }

var counterStatics = []string{`<div><h1>Count: `, `</h1><button phx-click="inc">+</button><p>`, `</p></div>`}

func (c *counter) Mount(s *live.Socket, params url.Values) error {
	c.n, _ = strconv.Atoi(params.Get("start"))
	s.Assign("n", c.n)
	s.SetTitle("Counter")
	if params.Get("boom") == "mount" && s.Connected() {
		return errors.New("mount failed on purpose")
	}
	return nil
}

func (c *counter) Render(s *live.Socket) (*diff.Node, error) {
	return diff.NewNode(counterStatics, diff.Text(strconv.Itoa(c.n)), diff.Text(s.Flash()["info"])), nil
}

func (c *counter) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "inc":
		by, err := e.Int("by")
		if err != nil {
			by = 1
		}
		c.n += by
		s.Assign("n", c.n)
	case "save":
		name, _ := e.Map("user")["name"].(string)
		s.PutFlash("info", "saved "+name+" from "+strings.Join(e.Target, "."))
	case "hook":
		s.Reply(map[string]int{"n": c.n})
		s.PushEvent("highlight", map[string]string{"id": "x"})
	case "later":
		s.SendAfter(time.Millisecond, "tick")
	case "go":
		s.PushPatch("/counter?start=50", false)
	case "leave":
		s.PushNavigate("/other", false)
	case "leave-with-flash":
		s.PutFlash("info", "see you there")
		s.PushNavigate("/counter?start=3", false)
	case "boom":
		panic("event handler panic")
	}
	return nil
}

func (c *counter) HandleInfo(s *live.Socket, msg any) error {
	if msg == "tick" {
		c.n = 100
		s.Assign("n", c.n)
	}
	return nil
}

func (c *counter) HandleParams(s *live.Socket, params url.Values, _ *url.URL) error {
	if v := params.Get("start"); v != "" {
		c.n, _ = strconv.Atoi(v)
		s.Assign("n", c.n)
	}
	return nil
}

type other struct{}

func (other) Mount(*live.Socket, url.Values) error { return nil }
func (other) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode([]string{"<p>other</p>"}), nil
}

func newServer(t *testing.T) *live.Server {
	t.Helper()
	l, err := live.New(live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/counter", func() live.View { return &counter{} })
	l.Handle("/other", func() live.View { return other{} })
	admin := l.Group("admin", live.GroupOptions{Authorize: func(r *http.Request) (map[string]any, error) {
		if r.URL.Query().Get("key") != "k" {
			return nil, errors.New("no key")
		}
		return map[string]any{"role": "admin"}, nil
	}})
	admin.Handle("/admin/counter", func() live.View { return &counter{} })
	return l
}

func TestDeadRenderAndJoin(t *testing.T) {
	v := livetest.Mount(t, newServer(t), "/counter?start=5")
	for _, want := range []string{`data-phx-main`, `<meta name="csrf-token"`, `<title>Counter</title>`, `Count: 5</h1>`} {
		if !strings.Contains(v.DeadHTML, want) {
			t.Errorf("dead render lacks %q", want)
		}
	}
	if got := v.HTML(t); !strings.Contains(got, "Count: 5</h1>") {
		t.Fatalf("joined HTML %s", got)
	}
	resp := v.Click(t, "inc", map[string]any{"by": "2"})
	if string(resp) != `{"diff":{"0":"7"}}` {
		t.Fatalf("click reply %s: only the changed dynamic must travel", resp)
	}
	if !strings.Contains(v.HTML(t), "Count: 7</h1>") {
		t.Fatalf("after click %s", v.HTML(t))
	}
	if resp := v.Click(t, "nothing", nil); string(resp) != `{}` {
		t.Fatalf("no-op reply %s", resp)
	}
}

func TestFormsHooksInfo(t *testing.T) {
	v := livetest.Mount(t, newServer(t), "/counter")
	v.Change(t, "save", url.Values{"user[name]": {"ana"}}, "user[name]")
	if !strings.Contains(v.HTML(t), "<p>saved ana from user.name</p>") {
		t.Fatalf("form event: %s", v.HTML(t))
	}
	if r := v.Hook(t, "hook", map[string]any{"any": "payload"}); string(r) != `{"n":0}` {
		t.Fatalf("hook reply %s", r)
	}
	if ev := v.Events(); len(ev) != 1 || ev[0].Name != "highlight" {
		t.Fatalf("push events %+v", ev)
	}
	v.Click(t, "later", nil)
	v.WaitFor(t, "the timer's diff", func(h string) bool { return strings.Contains(h, "Count: 100") })
	v.Click(t, "lv:clear-flash", map[string]any{"key": "info"})
	if strings.Contains(v.HTML(t), "saved") {
		t.Fatalf("flash not cleared: %s", v.HTML(t))
	}
}

func TestNavigation(t *testing.T) {
	v := livetest.Mount(t, newServer(t), "/counter")
	v.Click(t, "go", nil)
	if nav := v.Navigations(); len(nav) != 1 || nav[0] != (livetest.Navigation{Kind: "live_patch", To: "/counter?start=50"}) {
		t.Fatalf("navigations %+v", nav)
	}
	if !strings.Contains(v.HTML(t), "Count: 50") {
		t.Fatalf("after push_patch %s", v.HTML(t))
	}
	v.Patch(t, "/counter?start=9")
	if !strings.Contains(v.HTML(t), "Count: 9") {
		t.Fatalf("after live_patch %s", v.HTML(t))
	}
	if r := v.Patch(t, "/other"); string(r) != `{"link_redirect":true}` {
		t.Fatalf("patch to another view: %s", r)
	}
	v.Click(t, "leave", nil)
	if nav := v.Navigations(); nav[len(nav)-1] != (livetest.Navigation{Kind: "live_redirect", To: "/other"}) {
		t.Fatalf("navigations %+v", nav)
	}
}

// TestFlashAcrossLiveNavigation: a flash set before push_navigate travels
// in the live_redirect's flash token and shows in the next view, which the
// client joins with "redirect" and that token.
func TestFlashAcrossLiveNavigation(t *testing.T) {
	l := newServer(t)
	v := livetest.Mount(t, l, "/counter")
	resp := v.Click(t, "leave-with-flash", nil)
	var r struct {
		LiveRedirect struct {
			To, Kind, Flash string
		} `json:"live_redirect"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.LiveRedirect.To != "/counter?start=3" || r.LiveRedirect.Flash == "" {
		t.Fatalf("live_redirect reply %s", resp)
	}
	next, reply := livetest.JoinWith(t, l, "/counter", func(p map[string]any) {
		delete(p, "url")
		p["redirect"] = "http://parley.test" + r.LiveRedirect.To
		p["flash"] = r.LiveRedirect.Flash
	})
	if reply.Status != "ok" {
		t.Fatalf("join after live_redirect: %s %s", reply.Status, reply.Response)
	}
	if h := next.HTML(t); !strings.Contains(h, "Count: 3") || !strings.Contains(h, "<p>see you there</p>") {
		t.Fatalf("next view %s", h)
	}
	// A forged flash token is ignored, not trusted.
	forged, reply := livetest.JoinWith(t, l, "/counter", func(p map[string]any) { p["flash"] = r.LiveRedirect.Flash + "x" })
	if reply.Status != "ok" || strings.Contains(forged.HTML(t), "see you there") {
		t.Fatalf("forged flash: %s %s", reply.Status, forged.HTML(t))
	}
}

func pageToken(t *testing.T, l *live.Server, re string) (string, *http.Response) {
	t.Helper()
	resp := livetest.DeadRender(t, l, "/counter")
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(re).FindStringSubmatch(string(html))
	if m == nil {
		t.Fatalf("no %s in the dead render", re)
	}
	return m[1], resp
}

func TestJoinRefusals(t *testing.T) {
	l := newServer(t)
	stranger, err := live.New(live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stranger.Handle("/counter", func() live.View { return &counter{} })
	foreignSession, _ := pageToken(t, stranger, `data-phx-session="([^"]*)"`)
	csrfToken, _ := pageToken(t, l, `<meta name="csrf-token" content="([^"]*)"`)

	tests := []struct {
		name, path string
		edit       func(p map[string]any)
		want       string
	}{
		{"forged session", "/counter", func(p map[string]any) { p["session"] = p["session"].(string) + "x" }, `{"reason":"stale"}`},
		{"session of another server", "/counter", func(p map[string]any) { p["session"] = foreignSession }, `{"reason":"stale"}`},
		{"session token as static token", "/counter", func(p map[string]any) { p["static"] = p["session"] }, `{"reason":"stale"}`},
		{"static token as session token", "/counter", func(p map[string]any) { p["session"] = p["static"] }, `{"reason":"stale"}`},
		{"CSRF token as session token", "/counter", func(p map[string]any) { p["session"] = csrfToken }, `{"reason":"stale"}`},
		{"no session token", "/counter", func(p map[string]any) { delete(p, "session") }, `{"reason":"stale"}`},
		{"url of another view", "/counter", func(p map[string]any) { p["url"] = "http://parley.test/other" }, `{"reason":"stale"}`},
		{"live navigation out of the group", "/counter", func(p map[string]any) {
			delete(p, "url")
			p["redirect"] = "http://parley.test/admin/counter"
		}, `{"reason":"unauthorized"}`},
		{"failing mount", "/counter?boom=mount", nil, `{"reason":"join crashed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reply := livetest.JoinWith(t, l, tt.path, tt.edit)
			if reply.Status != "error" || string(reply.Response) != tt.want {
				t.Fatalf("join: %s %s, want error %s", reply.Status, reply.Response, tt.want)
			}
		})
	}
	_, reply := livetest.JoinWith(t, l, "/counter", func(p map[string]any) {
		delete(p, "url")
		p["redirect"] = "http://parley.test/other"
	})
	if reply.Status != "ok" {
		t.Fatalf("live navigation in the group: %s %s", reply.Status, reply.Response)
	}
	resp := livetest.DeadRender(t, l, "/admin/counter")
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unauthorized dead render: %d", resp.StatusCode)
	}
	if v := livetest.Mount(t, l, "/admin/counter?key=k"); !strings.Contains(v.HTML(t), "Count: 0") {
		t.Fatalf("admin view %s", v.HTML(t))
	}
}

func TestPanicCrashesOnlyTheView(t *testing.T) {
	l := newServer(t)
	a := livetest.Mount(t, l, "/counter")
	b := livetest.Mount(t, l, "/counter")
	a.Channel().PushAsync(t, "event", map[string]any{"type": "click", "event": "boom", "value": map[string]any{}})
	if got := string(a.Channel().ExpectPush(t, "phx_error")); got != `{"reason":"channel_crash"}` {
		t.Fatalf("phx_error %s", got)
	}
	b.Click(t, "inc", nil)
	if !strings.Contains(b.HTML(t), "Count: 1") {
		t.Fatalf("the other view: %s", b.HTML(t))
	}
}

// joinCSRF connects a live socket with csrfToken and header and joins a
// freshly dead-rendered /counter on it.
func joinCSRF(t *testing.T, l *live.Server, csrfToken string, header http.Header) *channeltest.Reply {
	t.Helper()
	html, _ := pageToken(t, l, `(<div id="[^"]+" data-phx-main[^>]*>)`)
	m := regexp.MustCompile(`id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`).FindStringSubmatch(html)
	router := &channel.Router{}
	l.Register(router)
	srv, err := channel.NewServer(channel.Config{Router: router, Connect: l.Connect, PubSub: l.PubSub()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := channeltest.DialInfo(t.Context(), srv, &channel.ConnectInfo{Params: url.Values{"_csrf_token": {csrfToken}}, Header: header})
	if err != nil {
		t.Fatalf("the socket was refused: %v", err)
	}
	t.Cleanup(client.Close)
	return client.Join(t, "lv:"+m[1], map[string]any{"url": "http://parley.test/counter", "session": m[2], "static": m[3], "params": map[string]any{}}).Reply
}

func wantStale(t *testing.T, what string, r *channeltest.Reply) {
	t.Helper()
	if r.Status != "error" || string(r.Response) != `{"reason":"stale"}` {
		t.Fatalf("%s: join answered %s %s, want error {\"reason\":\"stale\"}", what, r.Status, r.Response)
	}
}

// TestCSRFRequired: a bad CSRF token never refuses the socket (the client
// would retry forever); every join on it answers "stale", so the client
// reloads the page and gets a fresh cookie and token.
func TestCSRFRequired(t *testing.T) {
	l := newServer(t)
	wantStale(t, "forged CSRF", joinCSRF(t, l, "forged", http.Header{}))
	wantStale(t, "missing CSRF", joinCSRF(t, l, "", http.Header{}))
	token, page := pageToken(t, l, `<meta name="csrf-token" content="([^"]*)"`)
	wantStale(t, "token without its cookie", joinCSRF(t, l, token, http.Header{}))
	header := http.Header{}
	for _, c := range page.Cookies() {
		header.Add("Cookie", c.Name+"="+c.Value)
	}
	if r := joinCSRF(t, l, token, header); r.Status != "ok" {
		t.Fatalf("token with its cookie: %s %s", r.Status, r.Response)
	}
	// A token of another purpose, signed by the same key, with the cookie.
	session, _ := pageToken(t, l, `data-phx-session="([^"]*)"`)
	wantStale(t, "session token as CSRF token", joinCSRF(t, l, session, header))
	// Another browser's token with this browser's cookie.
	otherToken, _ := pageToken(t, l, `<meta name="csrf-token" content="([^"]*)"`)
	wantStale(t, "another browser's CSRF token", joinCSRF(t, l, otherToken, header))
	// A token and cookie of a node with another secret (no shared secret).
	other, err := live.New(live.Config{SecretKeyBase: []string{strings.Repeat("o", 40)}})
	if err != nil {
		t.Fatal(err)
	}
	_ = other.Handle("/counter", func() live.View { return &counter{} })
	otherNode, otherPage := pageToken(t, other, `<meta name="csrf-token" content="([^"]*)"`)
	otherHeader := http.Header{}
	for _, c := range otherPage.Cookies() {
		otherHeader.Add("Cookie", c.Name+"="+c.Value)
	}
	wantStale(t, "another node's token and cookie", joinCSRF(t, l, otherNode, otherHeader))
}

// TestExpiredTokens: past TokenMaxAge a CSRF token makes the join stale
// (the Signer's expiry of every purpose is in TestSigner; a session token
// that fails Verify makes the join stale too, as TestJoinRefusals shows).
func TestExpiredTokens(t *testing.T) {
	l, err := live.New(live.Config{TokenMaxAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/counter", func() live.View { return &counter{} })
	token, page := pageToken(t, l, `<meta name="csrf-token" content="([^"]*)"`)
	header := http.Header{}
	for _, c := range page.Cookies() {
		header.Add("Cookie", c.Name+"="+c.Value)
	}
	wantStale(t, "expired CSRF token", joinCSRF(t, l, token, header))
}
