// Package social is the firehose demo: a timeline of posts produced by a
// generator at a rate every viewer shares and can change, shown two ways.
//
//   - /social/posts is the naive feed: every post goes to the top as it
//     comes, so at a high rate nothing stays still long enough to read.
//   - /social/better_posts pauses itself when posts come faster than one
//     every [Config.PauseGap] (4 s), holds the newest ones and offers
//     "Show N new posts"; its relevance filter (e.g. only ≥ 90 %) is in the
//     reader's hands, and the pause counts only the posts that pass it.
//   - /social/rate_intensity is the rate slider (0.2 to 50 posts/s, log
//     scale). The rate is one value for everybody: moving the slider
//     broadcasts it, and every slider, label and generator follows.
//   - /social shows the three side by side, as the talk's slide does.
//
// Both feeds are live/stream streams with a DOM limit, and both coalesce:
// a feed view does not take one message per post. Its inbox (a pubsub
// subscriber) keeps only the newest posts it can show, in a fixed ring, and
// wakes the view with one message; the view renders at most once every
// [Config.FlushInterval], so a burst of a thousand posts becomes a handful
// of diffs and never a queue.
//
// Entry points: [New] starts the generator, [App.Register] routes the
// views, [App.Page] serves /social, [App.Close] stops the generator and
// waits for it.
package social

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = map[string]*render.Template{}

func init() {
	for _, name := range []string{"posts", "better_posts", "rate"} {
		templates[name] = render.Must(render.New(name+".html").ParseFS(templateFS, "templates/"+name+".html", "templates/parts.html"))
	}
}

const (
	// MinRate and MaxRate bound the post rate, in posts per second.
	MinRate = 0.2
	MaxRate = 50.0
	// DefaultRate is the rate at start: one post every 5 s, slow enough
	// for the better feed to show each as it comes.
	DefaultRate = 0.2
	// Limit is how many posts a feed page holds (the stream's DOM limit),
	// and so the most a feed view ever keeps or holds.
	Limit = 20
	// PostsTopic carries every post ("post" events); RateTopic carries
	// rate changes ("rate" events).
	PostsTopic = "social:posts"
	RateTopic  = "social:rate"
)

// Config configures the app.
type Config struct {
	// PubSub carries posts and rate changes; required. The live.Server
	// that serves the views must use the same one.
	PubSub *pubsub.PubSub
	// Rate is the initial rate in posts/s; default DefaultRate.
	Rate float64
	// FlushInterval is the shortest time between two renders of a feed
	// view; default 100 ms.
	FlushInterval time.Duration
	// PauseGap: the better feed pauses when posts come faster than one
	// per PauseGap; default 4 s.
	PauseGap time.Duration
	// Manual leaves the generator out: only [App.Publish] posts (tests).
	Manual bool
	// Seed seeds the generator's choices; default 1.
	Seed   uint64
	Logger *slog.Logger
}

// App is the social demo.
type App struct {
	cfg  Config
	rate atomic.Uint64 // math.Float64bits of the current rate

	nextID atomic.Int64

	// mu guards recent and rnd.
	mu     sync.Mutex
	recent ring[Post] // the newest posts, shown by a new mount
	rnd    *rand.Rand

	rateSub     *rateSubscriber
	rateChanged chan struct{} // capacity 1: wakes the generator
	stop        chan struct{}
	wg          sync.WaitGroup
	once        sync.Once
}

// New builds the app and, unless cfg.Manual, starts the generator.
func New(cfg Config) (*App, error) {
	if cfg.PubSub == nil {
		return nil, errors.New("social: a PubSub is required")
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.PauseGap <= 0 {
		cfg.PauseGap = 4 * time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &App{
		cfg:         cfg,
		recent:      newRing[Post](Limit),
		rnd:         rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
		rateChanged: make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	a.rate.Store(math.Float64bits(clampRate(cfg.Rate)))
	a.rateSub = &rateSubscriber{app: a}
	if err := cfg.PubSub.Subscribe(RateTopic, a.rateSub); err != nil {
		return nil, fmt.Errorf("social: %w", err)
	}
	if !cfg.Manual {
		// A page opened at once is not empty: a few posts from before.
		now := time.Now()
		for i := 5; i > 0; i-- {
			p := a.newPost()
			p.At = now.Add(-time.Duration(i) * time.Minute).UnixMilli()
			a.remember(a.number(p))
		}
		a.wg.Add(1)
		go a.generate()
	}
	return a, nil
}

// Close stops the generator, waits for it, and stops following the rate.
func (a *App) Close() error {
	a.once.Do(func() {
		close(a.stop)
		a.wg.Wait()
		a.cfg.PubSub.Unsubscribe(RateTopic, a.rateSub)
	})
	return nil
}

// Register routes the social pages on l.
func (a *App) Register(l *live.Server) {
	l.Handle("/social/posts", func() live.View { return &postsView{feed: feed{app: a}} })
	l.Handle("/social/better_posts", func() live.View { return &betterView{feed: feed{app: a}} })
	l.Handle("/social/rate_intensity", func() live.View { return &rateView{app: a} })
}

// Rate returns the current rate in posts/s.
func (a *App) Rate() float64 { return math.Float64frombits(a.rate.Load()) }

// SetRate changes the rate for everybody: it is broadcast, and every
// generator, slider and label follows. It is clamped to [MinRate, MaxRate].
func (a *App) SetRate(ctx context.Context, r float64) error {
	return channel.Broadcast(ctx, a.cfg.PubSub, RateTopic, "rate", rateMsg{Rate: clampRate(r)})
}

type rateMsg struct {
	Rate float64 `json:"rate"`
}

func decodeRate(m *pubsub.Message) (float64, bool) {
	raw, err := channel.BroadcastPayload(m)
	if err != nil {
		return 0, false
	}
	var r rateMsg
	if json.Unmarshal(raw, &r) != nil || r.Rate <= 0 {
		return 0, false
	}
	return clampRate(r.Rate), true
}

// rateSubscriber follows rate broadcasts, whichever node sent them.
type rateSubscriber struct{ app *App }

func (s *rateSubscriber) Deliver(m *pubsub.Message) {
	r, ok := decodeRate(m)
	if !ok {
		return
	}
	s.app.rate.Store(math.Float64bits(r))
	select {
	case s.app.rateChanged <- struct{}{}:
	default:
	}
}

func clampRate(r float64) float64 {
	if math.IsNaN(r) || r < MinRate {
		return MinRate
	}
	return min(r, MaxRate)
}

// interval is the time between two posts at rate r.
func interval(r float64) time.Duration { return time.Duration(float64(time.Second) / r) }

// generate posts at the current rate until Close. A rate change takes
// effect at once: the next post is due one new interval after the last.
func (a *App) generate() {
	defer a.wg.Done()
	last := time.Now()
	t := time.NewTimer(interval(a.Rate()))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-a.rateChanged:
		case <-t.C:
			if _, err := a.Publish(a.newPost()); err != nil {
				a.cfg.Logger.Warn("social: post broadcast failed", "err", err)
			}
			last = time.Now()
		}
		t.Reset(max(0, time.Until(last.Add(interval(a.Rate())))))
	}
}

// Publish numbers p (when its ID is 0), stamps it (when its At is 0),
// keeps it among the recent posts and broadcasts it to this node's feeds.
// Each node's generator feeds its own viewers, so a cluster does not
// multiply the rate.
func (a *App) Publish(p Post) (Post, error) {
	p = a.number(p)
	if p.At == 0 {
		p.At = time.Now().UnixMilli()
	}
	a.remember(p)
	return p, channel.LocalBroadcast(a.cfg.PubSub, PostsTopic, "post", p)
}

func (a *App) number(p Post) Post {
	if p.ID == 0 {
		p.ID = a.nextID.Add(1)
	}
	return p
}

func (a *App) remember(p Post) {
	a.mu.Lock()
	a.recent.push(p)
	a.mu.Unlock()
}

// Recent returns the newest posts, oldest first (at most Limit).
func (a *App) Recent() []Post {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recent.items()
}

// ring is a fixed-capacity FIFO that drops its oldest item when full.
type ring[T any] struct {
	buf   []T
	start int
	n     int
}

func newRing[T any](capacity int) ring[T] { return ring[T]{buf: make([]T, capacity)} }

// push adds v, dropping the oldest item when full; it reports whether
// one was dropped.
func (r *ring[T]) push(v T) bool {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return false
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
	return true
}

// items returns the items, oldest first.
func (r *ring[T]) items() []T {
	out := make([]T, r.n)
	for i := range r.n {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}

// reset empties the ring, keeping its capacity.
func (r *ring[T]) reset() {
	clear(r.buf)
	r.start, r.n = 0, 0
}

func (r *ring[T]) len() int { return r.n }
