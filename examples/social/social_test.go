package social

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/pubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const flush = 50 * time.Millisecond

func newApp(t testing.TB, cfg Config) (*App, *live.Server) {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.PubSub = ps
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = flush
	}
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	l, err := live.New(live.Config{PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	app.Register(l)
	return app, l
}

var postRE = regexp.MustCompile(`<li id="posts-(\d+)" class="post[^"]*" data-relevance="(\d+)">`)

// ids lists the post ids on the page, in order ("4 3 2").
func ids(h string) string {
	var out []string
	for _, m := range postRE.FindAllStringSubmatch(h, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, " ")
}

func seq(from, to int) string {
	var out []string
	for i := from; i >= to; i-- {
		out = append(out, fmt.Sprint(i))
	}
	return strings.Join(out, " ")
}

func has(s string) func(string) bool { return func(h string) bool { return strings.Contains(h, s) } }

func publish(t testing.TB, app *App, p Post) Post {
	t.Helper()
	p, err := app.Publish(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// at publishes a post made at base+sec seconds with the given relevance.
func at(t testing.TB, app *App, base time.Time, sec float64, rel int) Post {
	t.Helper()
	return publish(t, app, Post{Author: "romeo", Text: "But soft", Location: "Verona", Relevance: rel,
		At: base.Add(time.Duration(sec * float64(time.Second))).UnixMilli()})
}

func TestPostsNewestFirstWithLimit(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	publish(t, app, Post{Author: "juliet", Text: "Parting is such <sweet> sorrow", Location: "Verona", Relevance: 93})
	v := livetest.Mount(t, l, "/social/posts")
	if got := ids(v.HTML(t)); got != "1" {
		t.Fatalf("mount shows the recent posts: %q", got)
	}
	if !strings.Contains(v.DeadHTML, `id="posts-1"`) {
		t.Fatal("the dead render lacks the recent posts")
	}
	h := v.HTML(t)
	for _, want := range []string{"@juliet", "Parting is such &lt;sweet&gt; sorrow", "Verona", "93% relevant", `class="post high"`} {
		if !strings.Contains(h, want) {
			t.Errorf("missing %q in %s", want, h)
		}
	}
	for i := 0; i < Limit+4; i++ {
		publish(t, app, Post{Author: "romeo", Text: fmt.Sprint("post ", i), Relevance: 10})
		// One at a time, as a slow feed: each shows up at the top.
		v.WaitFor(t, "the new post at the top", func(h string) bool { return strings.HasPrefix(ids(h), fmt.Sprint(i+2)) })
	}
	if got, want := ids(v.HTML(t)), seq(Limit+5, 6); got != want {
		t.Fatalf("page %q, want %q", got, want)
	}
	// Every stream op keeps the first Limit children, new ones first.
	last := v.Diffs()[len(v.Diffs())-1]
	if !strings.Contains(string(last), fmt.Sprintf(`"stream":["posts",[["posts-%d",0,%d,false]],[]]`, Limit+5, Limit)) {
		t.Fatalf("diff: %s", last)
	}
}

// TestBurstIsCoalesced: 1,000 posts in a burst reach a feed as a bounded
// number of diffs (at most one per flush interval), and the page ends
// with the newest Limit posts.
func TestBurstIsCoalesced(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	v := livetest.Mount(t, l, "/social/posts")
	before := len(v.Diffs())
	start := time.Now()
	for range 1000 {
		publish(t, app, Post{Author: "puck", Text: "Lord, what fools", Relevance: 50})
	}
	v.WaitFor(t, "the last post", func(h string) bool { return strings.HasPrefix(ids(h), "1000 ") })
	elapsed := time.Since(start)
	diffs := v.Diffs()[before:]
	bound := int(elapsed/flush) + 2
	t.Logf("1000 posts in %v: %d diffs (bound %d)", elapsed.Round(time.Millisecond), len(diffs), bound)
	if len(diffs) > bound {
		t.Fatalf("%d diffs for a burst of %v (flush %v): not coalesced", len(diffs), elapsed, flush)
	}
	inserts := regexp.MustCompile(`\["posts-\d+",0,`)
	for _, d := range diffs {
		if n := len(inserts.FindAll(d, -1)); n > Limit {
			t.Fatalf("a diff inserts %d posts, more than the page holds", n)
		}
	}
	if got, want := ids(v.HTML(t)), seq(1000, 1000-Limit+1); got != want {
		t.Fatalf("page %q, want %q", got, want)
	}
}

// TestFloodKeepsViewsAlive: 10,000 posts as fast as they can be published
// to five feeds of each kind: no mailbox overflows, no crash, every page
// ends on the newest posts, and each view got a bounded number of diffs.
func TestFloodKeepsViewsAlive(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	var views []*livetest.View
	for range 5 {
		views = append(views, livetest.Mount(t, l, "/social/posts"), livetest.Mount(t, l, "/social/better_posts"))
	}
	start := time.Now()
	base := time.Now()
	for i := range 10000 {
		at(t, app, base, float64(i)/1000, 95)
	}
	for i, v := range views {
		if i%2 == 0 {
			v.WaitFor(t, "the last post", func(h string) bool { return strings.HasPrefix(ids(h), "10000 ") })
		} else {
			v.WaitFor(t, "the pause", has(`id="show-new"`))
		}
	}
	bound := int(time.Since(start)/flush) + 3
	for _, v := range views {
		if n := len(v.Diffs()); n > bound {
			t.Fatalf("%d diffs (bound %d)", n, bound)
		}
	}
	// The better feed holds at most Limit posts; showing them fills the page.
	b := views[1]
	b.Click(t, "show_new", nil)
	if got := ids(b.HTML(t)); len(strings.Fields(got)) != Limit || !strings.HasPrefix(got, "10000 ") {
		t.Fatalf("after show: %q", got)
	}
}

func TestBetterFeedPausesWhenFast(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	v := livetest.Mount(t, l, "/social/better_posts")
	base := time.Now()
	// One post every 5 s: each shows up as it comes.
	for i, sec := range []float64{0, 5, 10} {
		at(t, app, base, sec, 80)
		v.WaitFor(t, "the slow post", func(h string) bool { return strings.HasPrefix(ids(h), fmt.Sprint(i+1)) })
	}
	if strings.Contains(v.HTML(t), `id="paused"`) {
		t.Fatal("paused at one post every 5 s")
	}
	// Three within 8 s: faster than one per 4 s. The feed holds still.
	at(t, app, base, 11, 80)
	v.WaitFor(t, "the pause", has(`<button id="show-new" phx-click="show_new">Show 1 new post</button>`))
	at(t, app, base, 12, 80)
	at(t, app, base, 12.5, 80)
	v.WaitFor(t, "the count", has(`>Show 3 new posts</button>`))
	if got := ids(v.HTML(t)); got != "3 2 1" {
		t.Fatalf("the feed moved while paused: %q", got)
	}
	if !strings.Contains(v.HTML(t), "Paused: posts are coming faster than one every 4s.") {
		t.Fatal("no reason given")
	}
	v.Click(t, "show_new", nil)
	h := v.HTML(t)
	if got := ids(h); got != "6 5 4 3 2 1" || strings.Contains(h, `id="paused"`) {
		t.Fatalf("after show: %q", got)
	}
	// Still fast: the next post pauses again at once.
	at(t, app, base, 13, 80)
	v.WaitFor(t, "the pause again", has(">Show 1 new post</button>"))
	// The naive feed never pauses.
	n := livetest.Mount(t, l, "/social/posts")
	at(t, app, base, 13.1, 80)
	n.WaitFor(t, "the naive feed", func(h string) bool { return strings.HasPrefix(ids(h), "8 7 6") })
}

func TestBetterFeedHoldsABoundedBuffer(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	v := livetest.Mount(t, l, "/social/better_posts")
	base := time.Now()
	// In chunks the inbox can keep whole, so the count is exact: posts 1
	// and 2 show, 3 pauses, 498 are counted, the newest Limit held.
	for i := 0; i < 500; i += Limit {
		for j := i; j < i+Limit; j++ {
			at(t, app, base, float64(j)/10, 90)
		}
		want := fmt.Sprintf(">Show %d new posts</button>", i+Limit-2)
		v.WaitFor(t, "the count", has(want))
	}
	if got := ids(v.HTML(t)); got != "2 1" {
		t.Fatalf("the feed moved while paused: %q", got)
	}
	resp := v.Click(t, "show_new", nil)
	if n := len(regexp.MustCompile(`\["posts-\d+",0,`).FindAll(resp, -1)); n > Limit {
		t.Fatalf("showing inserts %d posts", n)
	}
	if got := ids(v.HTML(t)); got != seq(500, 500-Limit+1) {
		t.Fatalf("after show: %q", got)
	}
}

func TestRelevanceFilter(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	v := livetest.Mount(t, l, "/social/better_posts")
	base := time.Now()
	at(t, app, base, 0, 95)  // 1
	at(t, app, base, 5, 40)  // 2
	at(t, app, base, 10, 91) // 3
	at(t, app, base, 15, 89) // 4
	v.WaitFor(t, "four posts", func(h string) bool { return ids(h) == "4 3 2 1" })

	v.Change(t, "filter", url.Values{"min": {"90"}}, "min")
	h := v.HTML(t)
	if got := ids(h); got != "3 1" {
		t.Fatalf("filter ≥ 90: %q", got)
	}
	for _, m := range postRE.FindAllStringSubmatch(h, -1) {
		if rel, _ := strconv.Atoi(m[2]); rel < 90 {
			t.Fatalf("post %s with relevance %s shown", m[1], m[2])
		}
	}
	if !strings.Contains(h, `<option value="90" selected>≥ 90%</option>`) {
		t.Fatal("the select does not show the filter")
	}
	if nav := v.Navigations(); len(nav) == 0 || nav[len(nav)-1].To != "/social/better_posts?min=90" {
		t.Fatalf("navigations %v", nav)
	}
	// New posts under the threshold never show up; the pause counts only
	// those that pass.
	at(t, app, base, 20, 10)   // 5
	at(t, app, base, 20.5, 99) // 6
	v.WaitFor(t, "the relevant post", func(h string) bool { return ids(h) == "6 3 1" })
	at(t, app, base, 21, 20)   // 7
	at(t, app, base, 21.5, 20) // 8
	at(t, app, base, 22, 92)   // 9: 6 and 9 within 8 s of 3? no: 10 → 22 is 12 s
	v.WaitFor(t, "the next relevant post", func(h string) bool { return ids(h) == "9 6 3 1" })
	at(t, app, base, 23, 97) // 10: 20.5, 22, 23 → paused
	v.WaitFor(t, "the pause", has(">Show 1 new post</button>"))
	at(t, app, base, 23.5, 5)  // 11: not counted
	at(t, app, base, 24, 50)   // 12: not counted
	at(t, app, base, 24.5, 93) // 13
	v.WaitFor(t, "the count of relevant posts", has(">Show 2 new posts</button>"))

	// Back to all: the timeline's hidden posts come back; held stay held.
	v.Change(t, "filter", url.Values{"min": {"0"}}, "min")
	if got := ids(v.HTML(t)); got != "9 8 7 6 5 4 3 2 1" {
		t.Fatalf("all: %q", got)
	}
	if !strings.Contains(v.HTML(t), ">Show 2 new posts</button>") {
		t.Fatal("held posts lost")
	}
	// Raising the filter over the held posts drops them, and the pause.
	v.Change(t, "filter", url.Values{"min": {"99"}}, "min") // ≥ 90 (the nearest lower choice)
	if h := v.HTML(t); !strings.Contains(h, ">Show 2 new posts</button>") || ids(h) != "9 6 3 1" {
		t.Fatalf("99 → 90: %q", ids(h))
	}
	// A mount with ?min= starts filtered.
	w := livetest.Mount(t, l, "/social/better_posts?min=75")
	if !strings.Contains(w.HTML(t), `<option value="75" selected>`) || strings.Contains(w.HTML(t), `data-relevance="50"`) {
		t.Fatalf("mount with min=75: %s", ids(w.HTML(t)))
	}
}

func TestFilterDropsHeldPosts(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	v := livetest.Mount(t, l, "/social/better_posts")
	base := time.Now()
	for i, rel := range []int{60, 60, 60, 60} {
		at(t, app, base, float64(i), rel)
	}
	v.WaitFor(t, "the pause", has(">Show 2 new posts</button>"))
	v.Change(t, "filter", url.Values{"min": {"75"}}, "min")
	h := v.HTML(t)
	if strings.Contains(h, `id="paused"`) || ids(h) != "" {
		t.Fatalf("after a filter that hides everything: paused=%v ids=%q", strings.Contains(h, `id="paused"`), ids(h))
	}
}

func TestRateIsSharedByAll(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	a := livetest.Mount(t, l, "/social/rate_intensity")
	b := livetest.Mount(t, l, "/social/rate_intensity")
	for _, v := range []*livetest.View{a, b} {
		if h := v.HTML(t); !strings.Contains(h, `value="0"`) || !strings.Contains(h, `<output id="rate-label" for="rate">0.2 posts/s</output>`) {
			t.Fatalf("initial: %s", h)
		}
	}
	a.Change(t, "set_rate", url.Values{"pos": {"100"}}, "pos")
	for _, v := range []*livetest.View{a, b} {
		v.WaitFor(t, "the new rate", func(h string) bool {
			return strings.Contains(h, `value="100"`) && strings.Contains(h, ">50 posts/s</output>")
		})
	}
	if r := app.Rate(); r != MaxRate {
		t.Fatalf("rate %v", r)
	}
	mark := len(a.Diffs())
	b.Change(t, "set_rate", url.Values{"pos": {"50"}}, "pos")
	a.WaitFor(t, "the middle rate", has(">3.2 posts/s</output>"))
	// a's own broadcast changed nothing on its page: no diff for it,
	// just the one for b's change.
	if d := a.Diffs()[mark:]; len(d) != 1 {
		t.Fatalf("diffs after b's change: %s", d)
	}
	if r := app.Rate(); r < 3.1 || r > 3.2 {
		t.Fatalf("rate %v", r)
	}
	// A new page starts at the shared rate; nonsense is clamped.
	c := livetest.Mount(t, l, "/social/rate_intensity")
	if !strings.Contains(c.HTML(t), `value="50"`) {
		t.Fatal("a new page does not show the shared rate")
	}
	c.Change(t, "set_rate", url.Values{"pos": {"1000"}}, "pos")
	a.WaitFor(t, "the clamped rate", has(">50 posts/s</output>"))
	if err := app.SetRate(context.Background(), -3); err != nil || app.Rate() != MinRate {
		t.Fatalf("SetRate(-3): %v, rate %v", err, app.Rate())
	}
}

func TestSliderScale(t *testing.T) {
	for pos := 0; pos <= sliderMax; pos++ {
		if got := ratePos(posRate(pos)); got != pos {
			t.Fatalf("pos %d → %v → %d", pos, posRate(pos), got)
		}
	}
	if posRate(0) != MinRate || posRate(sliderMax) != MaxRate || posRate(-5) != MinRate {
		t.Fatal("ends")
	}
	for r, want := range map[float64]string{0.2: "0.2 posts/s", 3.16: "3.2 posts/s", 12.4: "12 posts/s", 50: "50 posts/s"} {
		if got := RateLabel(r); got != want {
			t.Errorf("RateLabel(%v) = %q, want %q", r, got, want)
		}
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Deliver(m *pubsub.Message) {
	if m.Event == "post" {
		c.n.Add(1)
	}
}

// TestGeneratorFollowsTheRate: the generator posts at the shared rate, a
// change takes effect at once, and Close stops it (leakcheck).
func TestGeneratorFollowsTheRate(t *testing.T) {
	app, l := newApp(t, Config{Rate: MinRate})
	if got := len(app.Recent()); got != 5 {
		t.Fatalf("%d posts from before", got)
	}
	v := livetest.Mount(t, l, "/social/posts")
	if got := len(strings.Fields(ids(v.HTML(t)))); got != 5 {
		t.Fatalf("mount shows %d posts", got)
	}
	var c counter
	if err := app.cfg.PubSub.Subscribe(PostsTopic, &c); err != nil {
		t.Fatal(err)
	}
	defer app.cfg.PubSub.Unsubscribe(PostsTopic, &c)
	// At 0.2 posts/s the first post is 5 s away; at 50 posts/s, 20 posts
	// take 0.4 s.
	if err := app.SetRate(context.Background(), MaxRate); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(livetest.Timeout)
	for c.n.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d posts within %v at 50 posts/s", c.n.Load(), livetest.Timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v.WaitFor(t, "the feed moves", func(h string) bool { return !strings.HasSuffix(ids(h), " 1") })
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestPage(t *testing.T) {
	app, _ := newApp(t, Config{Manual: true})
	rec := httptest.NewRecorder()
	app.Page().ServeHTTP(rec, httptest.NewRequest("GET", "/social", nil))
	for _, want := range []string{`src="/social/rate_intensity"`, `src="/social/posts"`, `src="/social/better_posts"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("missing %s", want)
		}
	}
}

// TestInboxUnsubscribedWhenTheViewEnds: a feed's subscription lives as
// long as its view, whether it leaves or its connection drops.
func TestInboxUnsubscribedWhenTheViewEnds(t *testing.T) {
	app, l := newApp(t, Config{Manual: true})
	ps := app.cfg.PubSub
	a := livetest.Mount(t, l, "/social/posts")
	livetest.Mount(t, l, "/social/better_posts")
	if n := ps.Subscribers(PostsTopic); n != 2 {
		t.Fatalf("%d subscribers", n)
	}
	a.Leave(t)
	deadline := time.Now().Add(livetest.Timeout)
	for ps.Subscribers(PostsTopic) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers after a view left", ps.Subscribers(PostsTopic))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
