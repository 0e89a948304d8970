package live_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/pubsub"
)

// board is a SharedView: a list every view shows, plus the user's own
// name and secret, which no other view may ever show.
type board struct{}

type boardRow struct {
	ID    int
	Label string
}

var boardTemplate = render.Must(render.New("board").Parse(
	`<p>{{.User}} {{.Secret}}</p><ul>{{range .Rows}}{{key .ID}}<li>{{.Label}}</li>{{end}}</ul><b>{{.Total}}</b>`))

func (board) SharedTemplate() *render.Template { return boardTemplate }

func (board) Mount(s *live.Socket, params url.Values) error {
	s.Assign("User", params.Get("user"))
	s.Assign("Secret", "secret-of-"+params.Get("user"))
	s.Assign("Rows", []boardRow{{1, "a"}, {2, "b"}, {3, "c"}})
	s.Assign("Total", 0)
	return nil
}

func (board) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(boardTemplate) }

// HandleEvent "set" sets the total and relabels a row, as a broadcast
// applied by every view would, and changes the user's secret.
func (board) HandleEvent(s *live.Socket, e live.Event) error {
	n := fmt.Sprint(e.Params["n"])
	rows := append([]boardRow(nil), s.Get("Rows").([]boardRow)...)
	rows[1].Label = "b" + n
	s.Assign("Rows", rows)
	s.Assign("Total", n)
	s.Assign("Secret", fmt.Sprintf("secret-of-%s-%s", s.Get("User"), n)) // per-user data changes too
	return nil
}

// TestFastlane: views whose assigns went through the same change share one
// render; views with other assigns (per-user data mixed in) never get it.
func TestFastlane(t *testing.T) {
	var shared, rendered atomic.Int64
	l, err := live.New(live.Config{OnRender: func(ri live.RenderInfo) {
		switch {
		case ri.Shared:
			shared.Add(1)
		case !ri.Join:
			rendered.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/board", func() live.View { return board{} })
	users := []string{"ann", "bob", "ann", "cid", "bob", "ann"}
	views := make([]*livetest.View, len(users))
	for i, u := range users {
		views[i] = livetest.Mount(t, l, "/board?user="+u)
	}
	check := func(step string, n int) {
		t.Helper()
		for i, v := range views {
			html := v.HTML(t)
			want := fmt.Sprintf("<p>%s secret-of-%s-%d</p><ul><li>a</li><li>b%d</li><li>c</li></ul><b>%d</b>", users[i], users[i], n, n, n)
			if !strings.Contains(html, want) {
				t.Fatalf("%s: view %d (%s) shows %s, want %s", step, i, users[i], html, want)
			}
			for _, other := range users {
				if other != users[i] && strings.Contains(html, "secret-of-"+other+"-") {
					t.Fatalf("%s: view %d (%s) shows %s's secret: %s", step, i, users[i], other, html)
				}
			}
		}
	}
	// One view at a time: the first of each user renders, the others of
	// the same user take its render.
	for n := 1; n <= 3; n++ {
		shared.Store(0)
		rendered.Store(0)
		for _, v := range views {
			v.Click(t, "set", map[string]any{"n": n})
		}
		check(fmt.Sprintf("update %d", n), n)
		if got := shared.Load(); got != 3 {
			t.Errorf("update %d: %d views took a shared render, want 3 (ann twice, bob once)", n, got)
		}
		if got := rendered.Load(); got != 3 {
			t.Errorf("update %d: %d renders, want 3 (one per user)", n, got)
		}
	}
	// A view whose previous state differs (it went through another
	// update first) renders on its own, and still shows the same page.
	views[5].Click(t, "set", map[string]any{"n": 5})
	shared.Store(0)
	for _, v := range views {
		v.Click(t, "set", map[string]any{"n": 7})
	}
	check("after another state", 7)
	if got := shared.Load(); got != 2 {
		t.Errorf("after another state: %d shared renders, want 2 (ann's second view, bob's second view)", got)
	}
}

// tickerBoard is a SharedView fed by broadcasts, for TestFastlaneConcurrent.
type tickerBoard struct{}

func (tickerBoard) SharedTemplate() *render.Template { return boardTemplate }

func (tickerBoard) Mount(s *live.Socket, params url.Values) error {
	if err := (board{}).Mount(s, params); err != nil {
		return err
	}
	return s.Subscribe("ticks")
}

func (tickerBoard) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(boardTemplate) }

func (tickerBoard) HandleInfo(s *live.Socket, msg any) error {
	m, ok := msg.(*pubsub.Message)
	if !ok {
		return nil
	}
	return (board{}).HandleEvent(s, live.Event{Name: "set", Params: map[string]any{"n": string(m.Payload)}})
}

// TestFastlaneConcurrent: many views apply broadcasts at once, sharing
// trees across goroutines (run with -race); each ends on its own page.
func TestFastlaneConcurrent(t *testing.T) {
	var shared atomic.Int64
	l, err := live.New(live.Config{OnRender: func(ri live.RenderInfo) {
		if ri.Shared {
			shared.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/ticker", func() live.View { return tickerBoard{} })
	users := []string{"ann", "bob"}
	var views []*livetest.View
	for i := range 12 {
		views = append(views, livetest.Mount(t, l, "/ticker?user="+users[i%2]))
	}
	const updates = 5
	for n := 1; n <= updates; n++ {
		if _, err := l.PubSub().Broadcast(t.Context(), &pubsub.Message{Topic: "ticks", Event: "tick", Payload: []byte(fmt.Sprint(n))}); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range views {
		u := users[i%2]
		want := fmt.Sprintf("<p>%s secret-of-%s-%d</p><ul><li>a</li><li>b%d</li><li>c</li></ul><b>%d</b>", u, u, updates, updates, updates)
		v.WaitFor(t, want, func(html string) bool { return strings.Contains(html, want) })
	}
	// How many shared depends on the scheduling (TestFastlane counts them
	// deterministically).
	t.Logf("%d of %d view-updates shared", shared.Load(), len(views)*updates)
}

// cardBoard is a SharedView whose template names a live component only
// once "show" is clicked.
type cardBoard struct{}

var cardBoardTemplate = render.Must(render.New("cardboard").Parse(
	`<main><b>{{.Total}}</b>{{if .Show}}{{live_component "card" "c1" "Title" .Total}}{{end}}</main>`))

func (cardBoard) SharedTemplate() *render.Template { return cardBoardTemplate }
func (cardBoard) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Total", "0")
	s.Assign("Show", false)
	return nil
}
func (cardBoard) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(cardBoardTemplate)
}
func (cardBoard) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "show":
		s.Assign("Show", true)
	case "set":
		s.Assign("Total", e.String("n"))
	}
	return nil
}

// TestSharedViewNamingAComponentLater: two views of one SharedView share
// renders while their template names no component; once it names one,
// each view renders its own component (its own cid and state) and no
// longer takes the lane.
func TestSharedViewNamingAComponentLater(t *testing.T) {
	var shared atomic.Int64
	l, err := live.New(live.Config{OnRender: func(ri live.RenderInfo) {
		if ri.Shared {
			shared.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/cards", func() live.View { return cardBoard{} })
	l.Component("card", func() live.Component { return &card{} })
	a := livetest.Mount(t, l, "/cards")
	b := livetest.Mount(t, l, "/cards")
	a.Click(t, "set", map[string]any{"n": "1"})
	b.Click(t, "set", map[string]any{"n": "1"})
	if shared.Load() != 1 {
		t.Fatalf("%d shared renders before any component, want 1", shared.Load())
	}
	for _, v := range []*livetest.View{a, b} {
		v.Click(t, "show", nil)
		v.Click(t, "set", map[string]any{"n": "2"})
		if h := v.HTML(t); !strings.Contains(h, `class="card">2 0</div>`) {
			t.Fatalf("the component is not on the page: %s", h)
		}
	}
	if shared.Load() != 1 {
		t.Fatalf("%d shared renders, want still 1: views with components left the lane", shared.Load())
	}
	// Each view's component has its own state.
	a.ClickComponent(t, 1, "bump", nil)
	if !strings.Contains(a.HTML(t), `2 1</div>`) || !strings.Contains(b.HTML(t), `2 0</div>`) {
		t.Fatalf("a: %s\nb: %s", a.HTML(t), b.HTML(t))
	}
}
