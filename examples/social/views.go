package social

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/stream"
	"github.com/parley-go/parley/pubsub"
)

// newest inserts p at the top of a feed, keeping the first Limit posts.
func newest(s *stream.Stream[Post], p Post) { s.Insert(p, stream.At(0), stream.Limit(Limit)) }

// postsView is /social/posts: every post at the top as it comes.
type postsView struct {
	feed
	posts *stream.Stream[Post]
}

func (v *postsView) Mount(s *live.Socket, _ url.Values) error {
	v.posts = stream.New("posts", DOMID)
	for _, p := range v.app.Recent() {
		newest(v.posts, p)
	}
	s.Assign("posts", v.posts)
	s.SetTitle("Timeline")
	return v.subscribe(s)
}

func (v *postsView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["posts"])
}

func (v *postsView) HandleInfo(s *live.Socket, msg any) error {
	for _, p := range v.handle(s, msg) {
		newest(v.posts, p)
	}
	return nil
}

// Thresholds are the relevance filter's choices, in %.
var Thresholds = []int{0, 50, 75, 90}

// option is one choice of the filter's select.
type option struct {
	Value    int
	Label    string
	Selected bool
}

// betterView is /social/better_posts. It shows posts as they come while
// they come slowly; when the posts that pass the filter come faster than
// one per PauseGap (over the last pauseWindow of them), it pauses: new
// posts are held, the newest Limit of them only, behind a "Show N new
// posts" button. The filter hides the posts under the chosen relevance,
// on the page and in what is held.
type betterView struct {
	feed
	posts  *stream.Stream[Post]
	min    int        // relevance filter, in %
	shown  ring[Post] // the timeline's newest Limit posts, any relevance
	held   ring[Post] // while paused: the newest Limit passing posts
	count  int        // passing posts that came while paused
	paused bool
	times  ring[int64] // when the last pauseWindow passing posts were made
	// checking: a resumeCheck is due (one at a time, while paused).
	checking bool
}

// resumeCheck asks a paused better feed whether posts have slowed down.
type resumeCheck struct{}

// slowAt reports whether posts have slowed down at now (unix ms): a post
// arriving now would not pause the feed, since it and the last
// pauseWindow-1 passing posts span at least (pauseWindow-1) PauseGaps.
// The paused feed resumes by itself then, showing what it held.
func (v *betterView) slowAt(now int64) bool {
	t := v.times.items()
	if len(t) < pauseWindow-1 {
		return true
	}
	return now-t[len(t)-(pauseWindow-1)] >= (pauseWindow-1)*v.app.cfg.PauseGap.Milliseconds()
}

// resume shows the held posts at the top and lets posts flow again.
func (v *betterView) resume() {
	// The held posts go to the top, oldest first so the newest ends up
	// first; the count may exceed them, but the limit would drop the
	// others anyway.
	for _, p := range v.held.items() {
		v.shown.push(p)
		newest(v.posts, p)
	}
	v.held.reset()
	v.count, v.paused = 0, false
}

// watch arms the resume check of a paused feed, a quarter PauseGap away,
// so the banner is never wrong for longer than that.
func (v *betterView) watch(s *live.Socket) {
	if v.paused && !v.checking {
		v.checking = true
		s.SendAfter(v.app.cfg.PauseGap/4, resumeCheck{})
	}
}

// pauseWindow is how many recent posts the pause looks at: it pauses
// when pauseWindow posts span less than (pauseWindow-1) PauseGaps.
const pauseWindow = 3

func (v *betterView) Mount(s *live.Socket, params url.Values) error {
	v.posts = stream.New("posts", DOMID)
	v.shown = newRing[Post](Limit)
	v.held = newRing[Post](Limit)
	v.times = newRing[int64](pauseWindow)
	if m, err := strconv.Atoi(params.Get("min")); err == nil {
		v.min = validThreshold(m)
	}
	for _, p := range v.app.Recent() {
		v.shown.push(p)
		if v.passes(p) {
			newest(v.posts, p)
		}
	}
	s.Assign("posts", v.posts)
	s.SetTitle("Timeline, better")
	v.assign(s)
	return v.subscribe(s)
}

func validThreshold(m int) int {
	best := 0
	for _, t := range Thresholds {
		if t <= m {
			best = t
		}
	}
	return best
}

func (v *betterView) passes(p Post) bool { return p.Relevance >= v.min }

// assign sets the assigns that differ from the page's, so a flush that
// changes nothing on the page sends nothing.
func (v *betterView) assign(s *live.Socket) {
	if s.Get("min") != v.min || s.Get("options") == nil {
		opts := make([]option, len(Thresholds))
		for i, t := range Thresholds {
			opts[i] = option{Value: t, Label: "≥ " + strconv.Itoa(t) + "%", Selected: t == v.min}
		}
		opts[0].Label = "All posts"
		s.Assign("options", opts)
		s.Assign("min", v.min)
	}
	set(s, "paused", v.paused)
	set(s, "count", v.count)
	set(s, "gap", v.app.cfg.PauseGap.Round(time.Second/10).String())
	set(s, "window", ((pauseWindow - 1) * v.app.cfg.PauseGap).Round(time.Second/10).String())
	set(s, "windowPosts", pauseWindow-1)
}

// set assigns a comparable value unless the assign already holds it.
func set[T comparable](s *live.Socket, key string, val T) {
	if old, ok := s.Get(key).(T); !ok || old != val {
		s.Assign(key, val)
	}
}

func (v *betterView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["better_posts"])
}

func (v *betterView) HandleInfo(s *live.Socket, msg any) error {
	if _, ok := msg.(resumeCheck); ok {
		v.checking = false
		if v.paused && v.slowAt(time.Now().UnixMilli()) {
			v.resume()
		}
		v.watch(s)
		v.assign(s)
		return nil
	}
	posts := v.handle(s, msg)
	if len(posts) == 0 {
		return nil
	}
	gap := v.app.cfg.PauseGap.Milliseconds()
	for _, p := range posts {
		if !v.passes(p) {
			if !v.paused {
				v.shown.push(p)
			}
			continue
		}
		v.times.push(p.At)
		if t := v.times.items(); !v.paused && len(t) == pauseWindow && t[len(t)-1]-t[0] < (pauseWindow-1)*gap {
			v.paused = true
		}
		if v.paused {
			v.held.push(p)
			v.count++
			continue
		}
		v.shown.push(p)
		newest(v.posts, p)
	}
	v.watch(s)
	v.assign(s)
	return nil
}

func (v *betterView) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "show_new":
		v.resume()
	case "filter":
		m, err := e.Int("min")
		if err != nil {
			return nil
		}
		v.setFilter(validThreshold(m))
		s.PushPatch("/social/better_posts?min="+strconv.Itoa(v.min), true)
	}
	v.assign(s)
	return nil
}

func (v *betterView) HandleParams(s *live.Socket, params url.Values, _ *url.URL) error {
	if m, err := strconv.Atoi(params.Get("min")); err == nil && validThreshold(m) != v.min {
		v.setFilter(validThreshold(m))
		v.assign(s)
	}
	return nil
}

// setFilter redraws the page with the posts of the timeline that pass
// the new threshold, and drops the held posts that do not.
func (v *betterView) setFilter(m int) {
	if m == v.min {
		return
	}
	v.min = m
	v.posts.Reset()
	for _, p := range v.shown.items() {
		if v.passes(p) {
			newest(v.posts, p)
		}
	}
	held := v.held.items()
	v.held.reset()
	for _, p := range held {
		if v.passes(p) {
			v.held.push(p)
		}
	}
	v.count = v.held.len()
	v.paused = v.paused && v.count > 0
	v.times.reset()
}

// Slider positions 0..sliderMax map to rates MinRate..MaxRate on a log
// scale, so both 0.2 and 50 posts/s are within reach.
const sliderMax = 100

func ratePos(r float64) int {
	return int(math.Round(sliderMax * math.Log(r/MinRate) / math.Log(MaxRate/MinRate)))
}

func posRate(pos int) float64 {
	pos = min(max(pos, 0), sliderMax)
	return clampRate(MinRate * math.Pow(MaxRate/MinRate, float64(pos)/sliderMax))
}

// RateLabel formats a rate as the slider's label shows it.
func RateLabel(r float64) string {
	switch {
	case r < 10:
		return fmt.Sprintf("%.1f posts/s", r)
	default:
		return fmt.Sprintf("%.0f posts/s", r)
	}
}

// rateView is /social/rate_intensity: the slider every viewer shares.
type rateView struct{ app *App }

func (v *rateView) Mount(s *live.Socket, _ url.Values) error {
	v.show(s, v.app.Rate())
	s.SetTitle("Rate")
	return s.Subscribe(RateTopic)
}

func (v *rateView) show(s *live.Socket, r float64) {
	set(s, "pos", ratePos(r))
	set(s, "label", RateLabel(r))
}

func (v *rateView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["rate"])
}

func (v *rateView) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name != "set_rate" {
		return nil
	}
	pos, err := e.Int("pos")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.Context(), 5*time.Second)
	defer cancel()
	r := posRate(pos)
	v.show(s, r)
	return v.app.SetRate(ctx, r)
}

func (v *rateView) HandleInfo(s *live.Socket, msg any) error {
	if m, ok := msg.(*pubsub.Message); ok {
		if r, ok := decodeRate(m); ok {
			v.show(s, r)
		}
	}
	return nil
}
