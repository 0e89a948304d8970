package live

import (
	"context"
	"net/url"
	"strconv"
	"testing"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

type benchCard struct{}

var benchCardTemplate = render.Must(render.New("card").Parse(
	`<div class="card" id="card-{{.ID}}"><h3>{{.Title}}</h3><p>{{.N}} clicks</p><button phx-click="bump" phx-target="{{.Myself}}">+</button></div>`))

func (benchCard) Mount(c *ComponentSocket) error {
	c.Assign("ID", c.ID())
	c.Assign("N", 0)
	return nil
}

func (benchCard) Render(c *ComponentSocket) (*diff.Node, error) {
	return c.RenderTemplate(benchCardTemplate)
}

type benchPage struct{}

var benchPageTemplate = render.Must(render.New("page").Parse(
	`<main><h1>{{.Heading}}</h1><ul>{{range .IDs}}<li>{{live_component "card" . "Title" (printf "Card %s" .)}}</li>{{end}}</ul></main>`))

func (benchPage) Mount(s *Socket, _ url.Values) error {
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	s.Assign("IDs", ids)
	s.Assign("Heading", "Cards")
	return nil
}

func (benchPage) Render(s *Socket) (*diff.Node, error) { return s.RenderTemplate(benchPageTemplate) }

// BenchmarkComponentUpdate: a page of 100 live components where one
// changes per update (what an event targeted at it does: an assign of its
// own changes), measured from the change to the encoded diff: the view's
// render pipeline (lc.render), which re-renders that component only and
// diffs the page. It reports the diff's bytes per update.
func BenchmarkComponentUpdate(b *testing.B) {
	srv, err := New(Config{SecretKeyBase: []string{"0123456789abcdef0123456789abcdef0123456789abcdef"}})
	if err != nil {
		b.Fatal(err)
	}
	srv.Component("card", func() Component { return benchCard{} })
	sock := &Socket{id: "phx-bench", srv: srv, connected: true, ctx: context.Background(),
		assigns: map[string]any{}, changed: map[string]bool{}}
	lc := &liveChannel{srv: srv, view: benchPage{}, sock: sock, route: &route{pattern: "/bench"}}
	if err := lc.view.Mount(sock, nil); err != nil {
		b.Fatal(err)
	}
	tree, err := lc.view.Render(sock)
	if err == nil {
		tree, err = sock.withComponents(tree)
	}
	if err != nil {
		b.Fatal(err)
	}
	full, err := diff.Full(tree)
	if err != nil {
		b.Fatal(err)
	}
	lc.prev, sock.rendered = tree, true
	sock.componentsSent()
	clear(sock.changed)
	if sock.ComponentCount() != 100 {
		b.Fatalf("%d components", sock.ComponentCount())
	}
	total := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := sock.component(1 + i%100)
		c.Assign("N", i+1)
		d, err := lc.render()
		if err != nil || len(d) == 0 {
			b.Fatalf("render: %s %v", d, err)
		}
		total += len(d)
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/float64(b.N), "diff-bytes/op")
	b.ReportMetric(float64(len(full)), "join-bytes")
	srv.liveComponents.Store(0)
}
