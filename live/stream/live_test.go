package stream_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/live/stream"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/pubsub"
)

// feedView shows numbered items, newest last, 5 on the page at most;
// scrolling to the top loads the 5 before the first one shown.
type feedView struct {
	items  *stream.Stream[int]
	oldest int
	seen   []map[string]any // viewport event values
}

var feedTmpl = render.Must(render.New("feed").Parse(
	`<h1>{{.title}}</h1><ul id="items" phx-update="stream" phx-viewport-top="older">` +
		`{{range $id, $n := .items}}<li id="{{$id}}">item {{$n}}</li>{{end}}</ul>`))

func itemID(n int) string { return "items-" + strconv.Itoa(n) }

func (v *feedView) Mount(s *live.Socket, _ url.Values) error {
	v.items = stream.New("items", itemID)
	// Items 96..100, as on every mount (a rejoin too).
	for n := 96; n <= 100; n++ {
		v.items.Insert(n, stream.Limit(-5))
	}
	v.oldest = 96
	s.Assign("items", v.items)
	s.Assign("title", "feed")
	return nil
}

func (v *feedView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(feedTmpl) }

func (v *feedView) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "add":
		n, _ := e.Int("n")
		v.items.Insert(n, stream.Limit(-5))
	case "update":
		n, _ := e.Int("n")
		v.items.Insert(n, stream.UpdateOnly())
	case "delete":
		v.items.DeleteID(e.String("id"))
	case "reset":
		v.items.Reset()
		v.items.Insert(1)
	case "older":
		v.seen = append(v.seen, e.Params)
		// Prepend the page before, newest first, keeping the first 5.
		for n := v.oldest - 1; n >= v.oldest-5 && n > 0; n-- {
			v.items.Insert(n, stream.At(0), stream.Limit(5))
		}
		v.oldest -= 5
	}
	return nil
}

func newFeed(t *testing.T) (*live.Server, *[]*feedView) {
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := live.New(live.Config{PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var views []*feedView
	l.Handle("/feed", func() live.View { v := &feedView{}; views = append(views, v); return v })
	return l, &views
}

var liRE = regexp.MustCompile(`<li id="items-(\d+)">item \d+</li>`)

func shown(h string) string {
	var ids []string
	for _, m := range liRE.FindAllStringSubmatch(h, -1) {
		ids = append(ids, m[1])
	}
	return strings.Join(ids, " ")
}

func TestStreamThroughLiveView(t *testing.T) {
	l, views := newFeed(t)
	v := livetest.Mount(t, l, "/feed")
	if got := shown(v.HTML(t)); got != "96 97 98 99 100" {
		t.Fatalf("mount: %q", got)
	}
	// One new item: the reply carries it, and nothing of the others.
	resp := v.Click(t, "add", map[string]any{"n": 101})
	if strings.Contains(string(resp), "items-100") || !strings.Contains(string(resp), "items-101") {
		t.Fatalf("reply %s", resp)
	}
	if got := shown(v.HTML(t)); got != "97 98 99 100 101" {
		t.Fatalf("add with limit -5: %q", got)
	}
	v.Click(t, "update", map[string]any{"n": 99})
	v.Click(t, "update", map[string]any{"n": 7}) // not on the page: not added
	if got := shown(v.HTML(t)); got != "97 98 99 100 101" {
		t.Fatalf("update only: %q", got)
	}
	v.Click(t, "delete", map[string]any{"id": "items-99"})
	if got := shown(v.HTML(t)); got != "97 98 100 101" {
		t.Fatalf("delete: %q", got)
	}
	// The viewport event reaches the view as an ordinary event.
	v.JS(t, "older", map[string]any{"id": "items-97"})
	if got := shown(v.HTML(t)); got != "91 92 93 94 95" {
		t.Fatalf("older with limit 5: %q", got)
	}
	v.JS(t, "older", map[string]any{"id": "items-91", "_overran": true})
	view := (*views)[len(*views)-1]
	if len(view.seen) != 2 || view.seen[0]["id"] != "items-97" || view.seen[1]["_overran"] != true {
		t.Fatalf("viewport values %v", view.seen)
	}
	v.Click(t, "reset", nil)
	if got := shown(v.HTML(t)); got != "1" {
		t.Fatalf("reset: %q", got)
	}
	// A new mount (a rejoin) shows the mount's items again.
	v2 := livetest.Mount(t, l, "/feed")
	if got := shown(v2.HTML(t)); got != "96 97 98 99 100" {
		t.Fatalf("second mount: %q", got)
	}
	// An event that changes no stream sends nothing.
	if resp := v2.Click(t, "noop", nil); strings.Contains(string(resp), "items") {
		t.Fatalf("noop sent %s", resp)
	}
	_ = fmt.Sprint
}
