package blog

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newApp(t *testing.T) (*App, *live.Server) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ps, err := pubsub.New(pubsub.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := presence.New(presence.Config{PubSub: ps, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Close(ctx)
		_ = ps.Close()
	})
	app, err := New(Config{Tracker: tr, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := live.New(live.Config{PubSub: ps, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	app.Register(l)
	return app, l
}

var reMyKey = regexp.MustCompile(`id="ghost-me"[^>]*data-key="([0-9a-f]+)"`)

// key returns the presence key of v's reader.
func key(t *testing.T, v *livetest.View) string {
	t.Helper()
	m := reMyKey.FindStringSubmatch(v.HTML(t))
	if m == nil {
		t.Fatalf("no key on the own tag:\n%s", v.HTML(t))
	}
	return m[1]
}

// tag returns the ghost element of reader k in h, or "".
func tag(h, k string) string {
	i := strings.Index(h, ` id="ghost-`+k+`"`)
	if i < 0 {
		return ""
	}
	i = strings.LastIndex(h[:i], "<div")
	j := strings.Index(h[i:], "</div>")
	return h[i : i+j]
}

func TestPostsAndLayout(t *testing.T) {
	app, l := newApp(t)
	if len(app.Posts()) < 3 {
		t.Fatalf("%d posts", len(app.Posts()))
	}
	for _, p := range app.Posts() {
		if p.Words() < 400 {
			t.Errorf("%s: %d words, too short to scroll", p.Slug, p.Words())
		}
	}
	v := livetest.Mount(t, l, "/blog/reading-in-company?name=ann")
	// The hook registers itself before the live client reads the hooks.
	hook := strings.Index(v.DeadHTML, `<script type="module" src="/assets/blog/ghosts.js">`)
	client := strings.Index(v.DeadHTML, `<script type="module" src="/assets/parley/live.js?v=`)
	if hook < 0 || client < 0 || hook > client {
		t.Fatalf("script order: hook at %d, client at %d", hook, client)
	}
	h := v.HTML(t)
	for _, want := range []string{"<h1>Reading in company</h1>", `phx-hook="ReadingGhost"`, `data-name="ann"`, "Reading alone"} {
		if !strings.Contains(h, want) {
			t.Errorf("missing %q", want)
		}
	}
	if v.Title() != "Reading in company" {
		t.Errorf("title %q", v.Title())
	}
	idx := livetest.Mount(t, l, "/blog")
	if h := idx.HTML(t); !strings.Contains(h, `href="/blog/streams-without-state"`) {
		t.Fatalf("index:\n%s", h)
	}
	if resp := livetest.DeadRender(t, l, "/blog/no-such-post"); resp.StatusCode == http.StatusOK {
		t.Fatal("unknown post answered 200")
	}
	srv := httptest.NewServer(http.StripPrefix(AssetsPrefix, Assets()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + HookScript)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ParleyHooks.ReadingGhost") || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("hook script: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestGhostsMoveAndLeave(t *testing.T) {
	_, l := newApp(t)
	ann := livetest.Mount(t, l, "/blog/reading-in-company?name=ann")
	bob := livetest.Mount(t, l, "/blog/reading-in-company?name=bob")
	other := livetest.Mount(t, l, "/blog/streams-without-state?name=cy")
	idx := livetest.Mount(t, l, "/blog")
	a, b := key(t, ann), key(t, bob)

	// Each sees the other, not itself; the other post sees neither.
	ann.WaitFor(t, "bob's tag", func(h string) bool { return strings.Contains(tag(h, b), `data-name="bob"`) })
	bob.WaitFor(t, "ann's tag", func(h string) bool { return strings.Contains(tag(h, a), "top:0.0%") })
	if tag(ann.HTML(t), a) != "" || !strings.Contains(bob.HTML(t), "1 reading along") {
		t.Fatal("own tag listed among the others")
	}
	if strings.Contains(other.HTML(t), "ghost-"+a) || strings.Contains(other.HTML(t), "ghost-"+b) {
		t.Fatal("readers leaked into another post")
	}
	idx.WaitFor(t, "two readers", func(h string) bool {
		return strings.Contains(h, `<li id="post-reading-in-company">`) && regexp.MustCompile(`reading-in-company.*?<span class="count">2</span>`).MatchString(h)
	})

	// Ann scrolls: her reply is empty, bob's page moves her tag with one
	// small diff naming nothing but the new position.
	annDiffs, bobDiffs := len(ann.Diffs()), len(bob.Diffs())
	if r := ann.Hook(t, "scroll", map[string]any{"pos": 0.4321}); r != nil {
		t.Fatalf("reply %s", r)
	}
	bob.WaitFor(t, "ann's tag at 43.2%", func(h string) bool { return strings.Contains(tag(h, a), "top:43.2%") })
	if n := len(ann.Diffs()); n != annDiffs {
		t.Fatalf("the scroller got %d diffs: %s", n-annDiffs, ann.Diffs()[annDiffs:])
	}
	d := bob.Diffs()[bobDiffs:]
	if len(d) != 1 || len(d[0]) > 40 || !strings.Contains(string(d[0]), `"43.2"`) {
		t.Fatalf("bob's diffs for one move: %s", d)
	}
	t.Logf("one move, diff of %d bytes: %s", len(d[0]), d[0])

	// Out of range and malformed positions are clamped or ignored.
	ann.Hook(t, "scroll", map[string]any{"pos": 7})
	bob.WaitFor(t, "ann's tag at the bottom", func(h string) bool { return strings.Contains(tag(h, a), "top:100.0%") })
	ann.Hook(t, "scroll", map[string]any{"pos": "down"})
	ann.Hook(t, "scroll", map[string]any{"pos": -1})
	bob.WaitFor(t, "ann's tag at the top", func(h string) bool { return strings.Contains(tag(h, a), "top:0.0%") })

	// Ann leaves: her tag goes from bob's page and the index.
	ann.Leave(t)
	bob.WaitFor(t, "ann's tag gone", func(h string) bool { return tag(h, a) == "" && strings.Contains(h, "Reading alone") })
	idx.WaitFor(t, "one reader", func(h string) bool {
		return regexp.MustCompile(`reading-in-company.*?<span class="count">1</span>`).MatchString(h)
	})
}
