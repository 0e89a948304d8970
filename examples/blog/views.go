package blog

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

// ErrNotFound is the mount error of an unknown slug.
var ErrNotFound = errors.New("blog: no such post")

// Meta is a reader's presence meta.
type Meta struct {
	Pos   float64 `json:"pos"`
	Color string  `json:"color"`
	Name  string  `json:"name"`
}

// Reader is one reader of a post, as the template shows it.
type Reader struct {
	Key   string // the presence key, unique per mount
	Name  string
	Color string
	Pos   float64
}

// Pct is the reader's position in percent of the article, one decimal.
func (r Reader) Pct() string { return strconv.FormatFloat(r.Pos*100, 'f', 1, 64) }

var colors = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#469990", "#808000"}

var (
	adjectives = []string{"Quiet", "Curious", "Patient", "Sleepy", "Eager", "Gentle", "Restless", "Careful", "Wandering", "Silent"}
	creatures  = []string{"Owl", "Fox", "Heron", "Badger", "Otter", "Moth", "Lynx", "Wren", "Hare", "Newt"}
)

func randomName() string {
	return adjectives[rand.IntN(len(adjectives))] + " " + creatures[rand.IntN(len(creatures))]
}

func randomKey() string {
	b := make([]byte, 6)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// postView is /blog/{slug}. Its only state is this reader (its presence
// key and meta) and the other readers as last rendered.
type postView struct {
	app     *App
	post    Post
	topic   string
	me      Reader
	tracked bool
	readers []Reader
}

func (v *postView) Mount(s *live.Socket, params url.Values) error {
	p, ok := v.app.post(params.Get("slug"))
	if !ok {
		return fmt.Errorf("post %q: %w: %w", params.Get("slug"), ErrNotFound, live.ErrNotFound) // a 404 page
	}
	v.post, v.topic = p, Topic(p.Slug)
	v.me = Reader{Name: strings.TrimSpace(params.Get("name")), Color: colors[rand.IntN(len(colors))]}
	if v.me.Name == "" {
		v.me.Name = randomName()
	}
	if len(v.me.Name) > 40 {
		v.me.Name = v.me.Name[:40]
	}
	s.SetTitle(p.Title)
	s.Assign("post", p)
	if s.Connected() {
		// Subscribe first: no change falls between the listing and the
		// subscription.
		if err := s.Subscribe(v.topic); err != nil {
			return err
		}
		// The owner is the view's socket id; the key is new for every
		// mount, so a rejoin never collides with the presence of the
		// mount it replaces (which its own Terminate removes).
		v.me.Key = randomKey()
		if _, err := v.app.cfg.Tracker.Track(s.ID(), v.topic, v.me.Key, v.meta()); err != nil {
			return err
		}
		v.tracked = true
	}
	s.Assign("me", v.me)
	v.readers = v.others()
	s.Assign("readers", v.readers)
	return nil
}

func (v *postView) meta() map[string]any {
	return map[string]any{"pos": v.me.Pos, "color": v.me.Color, "name": v.me.Name}
}

// others lists the post's readers but this one, by key.
func (v *postView) others() []Reader {
	list := v.app.cfg.Tracker.List(v.topic)
	out := make([]Reader, 0, len(list))
	for key, p := range list {
		if key == v.me.Key || len(p.Metas) == 0 {
			continue
		}
		var m Meta
		if err := p.Metas[len(p.Metas)-1].Decode(&m); err != nil {
			continue
		}
		out = append(out, Reader{Key: key, Name: m.Name, Color: m.Color, Pos: clamp(m.Pos)})
	}
	slices.SortFunc(out, func(a, b Reader) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func clamp(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return 0
	case f > 1:
		return 1
	}
	return math.Round(f*1000) / 1000
}

func (v *postView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(postTmpl) }

// HandleEvent takes the hook's "scroll" {pos}: the reader's position as a
// fraction of the scrollable height. The reply is empty; the others hear
// of it through the tracker.
func (v *postView) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name != "scroll" || !v.tracked {
		return nil
	}
	f, err := strconv.ParseFloat(e.String("pos"), 64)
	if err != nil {
		return nil
	}
	if pos := clamp(f); pos != v.me.Pos {
		v.me.Pos = pos
		if _, err := v.app.cfg.Tracker.Update(s.ID(), v.topic, v.me.Key, v.meta()); err != nil && !errors.Is(err, presence.ErrClosed) {
			return err
		}
	}
	return nil
}

// HandleInfo re-lists the readers on every presence diff of the post, and
// renders only when the others changed (not for this reader's own moves).
func (v *postView) HandleInfo(s *live.Socket, msg any) error {
	if m, ok := msg.(*pubsub.Message); !ok || m.Event != presence.EventDiff {
		return nil
	}
	if r := v.others(); !slices.Equal(r, v.readers) {
		v.readers = r
		s.Assign("readers", r)
	}
	return nil
}

// Terminate removes the reader: the view ends when its channel does, for
// a leave, a closed tab, a crash or a lost connection alike.
func (v *postView) Terminate(s *live.Socket, _ error) {
	if !v.tracked {
		return
	}
	v.tracked = false
	if err := v.app.cfg.Tracker.Untrack(s.ID(), v.topic, v.me.Key); err != nil && !errors.Is(err, presence.ErrClosed) {
		v.app.cfg.Logger.Warn("blog: untrack reader", "topic", v.topic, "err", err)
	}
}

// indexEntry is a post on the index, with its reader count.
type indexEntry struct {
	Post
	Readers int
}

// indexView is /blog: the posts, each with how many read it now.
type indexView struct{ app *App }

func (v *indexView) Mount(s *live.Socket, _ url.Values) error {
	s.SetTitle("Blog")
	if s.Connected() {
		for _, p := range v.app.posts {
			if err := s.Subscribe(Topic(p.Slug)); err != nil {
				return err
			}
		}
	}
	s.Assign("posts", v.entries())
	return nil
}

func (v *indexView) entries() []indexEntry {
	out := make([]indexEntry, len(v.app.posts))
	for i, p := range v.app.posts {
		out[i] = indexEntry{Post: p, Readers: len(v.app.cfg.Tracker.List(Topic(p.Slug)))}
	}
	return out
}

func (v *indexView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(indexTmpl) }

func (v *indexView) HandleInfo(s *live.Socket, msg any) error {
	if m, ok := msg.(*pubsub.Message); ok && m.Event == presence.EventDiff {
		s.Assign("posts", v.entries())
	}
	return nil
}

// ghostComponent is the name of the live component of another reader's
// ghost: one component per reader (as seed 004 builds them), so a reader
// who scrolls re-renders only their own ghost and the diff carries only
// that component.
const ghostComponent = "blog-ghost"

// ghost is the live component of one other reader's tag in the margin.
type ghost struct{}

var ghostTemplate = render.Must(render.New("ghost").Parse(
	`<div id="ghost-{{.Reader.Key}}" class="ghost other" data-name="{{.Reader.Name}}" title="{{.Reader.Name}}" style="top:{{.Reader.Pct}}%;background:{{.Reader.Color}}"></div>`))

func (ghost) Mount(*live.ComponentSocket) error { return nil }

func (ghost) Render(c *live.ComponentSocket) (*diff.Node, error) {
	return c.RenderTemplate(ghostTemplate)
}
