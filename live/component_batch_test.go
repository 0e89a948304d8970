package live_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// batchCard loads its label for all instances at once (UpdateMany), as a
// list of components would load their rows in one query.
type batchCard struct{ calls *[][]string }

var batchCardTemplate = render.Must(render.New("batch-card").Parse(`<b>{{.Label}}</b>`))

func (b *batchCard) Mount(*live.ComponentSocket) error { return nil }

func (b *batchCard) Render(c *live.ComponentSocket) (*diff.Node, error) {
	return c.RenderTemplate(batchCardTemplate)
}

func (b *batchCard) UpdateMany(updates []live.ComponentUpdate) error {
	ids := make([]string, len(updates))
	for i, u := range updates {
		ids[i] = u.Socket.ID()
		u.Socket.Assign("Label", strings.ToUpper(u.Assigns["Name"].(string)))
	}
	*b.calls = append(*b.calls, ids)
	return nil
}

type batchList struct{}

var batchListTemplate = render.Must(render.New("batch-list").Parse(
	`<div>{{range .Names}}{{live_component "batch" . "Name" .}}{{end}}</div>`))

func (batchList) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Names", []string{"a", "b", "c"})
	return nil
}

func (batchList) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(batchListTemplate)
}

func (batchList) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "more":
		s.Assign("Names", []string{"a", "b", "c", "d"})
	case "one":
		return s.SendUpdate("batch", "b", map[string]any{"Name": "bee"})
	}
	return nil
}

func TestComponentUpdateMany(t *testing.T) {
	l := newServer(t)
	var calls [][]string
	l.Component("batch", func() live.Component { return &batchCard{calls: &calls} })
	l.Handle("/batch", func() live.View { return batchList{} })
	calls = nil
	v := livetest.Mount(t, l, "/batch")
	// the join: one call for the three instances, in template order
	if len(calls) != 2 || strings.Join(calls[1], ",") != "a,b,c" {
		t.Fatalf("calls (dead render, join) = %v", calls)
	}
	if !strings.Contains(v.HTML(t), "<b data-phx-component=\"1\">A</b><b data-phx-component=\"2\">B</b><b data-phx-component=\"3\">C</b>") {
		t.Fatalf("html: %s", v.HTML(t))
	}
	// a re-render: one call with the instances the render named (the new
	// one at least; unchanged list items may be skipped by the renderer)
	n := len(calls)
	v.Click(t, "more", nil)
	if len(calls) != n+1 || !strings.HasSuffix(strings.Join(calls[n], ","), "d") {
		t.Fatalf("re-render calls = %v", calls[n:])
	}
	if !strings.Contains(v.HTML(t), `<b data-phx-component="4">D</b>`) {
		t.Fatalf("html: %s", v.HTML(t))
	}
	d := diffOf(t, v.Click(t, "one", nil))
	jsonEqual(t, "send update through UpdateMany", d, `{"c":{"2":{"0":"BEE"}}}`)
	if got := strings.Join(calls[len(calls)-1], ","); got != "b" {
		t.Fatalf("SendUpdate call = %v", calls)
	}
}
