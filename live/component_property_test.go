package live_test

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// cardModel is what the test knows of one card component.
type cardModel struct {
	cid   int
	title string
	bumps int
}

// deckModel mirrors the deck view's state and its components.
type deckModel struct {
	a, b, note string
	items      []string
	cards      map[string]*cardModel // by component id
	next       int
}

func (m *deckModel) use(id, title string) *cardModel {
	c := m.cards[id]
	if c == nil {
		m.next++
		c = &cardModel{cid: m.next}
		m.cards[id] = c
	}
	c.title = title
	return c
}

// fresh renders the model's page in full through the same templates and
// engine: a fresh full render of the state the view should be in.
func (m *deckModel) fresh(t *testing.T) string {
	t.Helper()
	comps := map[int32]*diff.Node{}
	resolve := func(args []any) (int32, error) {
		id := fmt.Sprint(args[1])
		c := m.cards[id]
		if c == nil {
			return 0, fmt.Errorf("model has no card %q", id)
		}
		n, err := cardTemplate.Render(map[string]any{"Title": c.title, "Bumps": c.bumps}, nil)
		if err != nil {
			return 0, err
		}
		comps[int32(c.cid)] = n
		return int32(c.cid), nil
	}
	items := []item{}
	for _, id := range m.items {
		items = append(items, item{ID: id, Title: strings.ToUpper(id)})
	}
	n, err := deckTemplate.RenderWith(map[string]any{"Pair": true, "A": m.a, "B": m.b, "Items": items, "Note": m.note}, nil,
		render.Options{Component: resolve})
	if err != nil {
		t.Fatal(err)
	}
	n.Components = comps
	html, err := diff.HTML(n)
	if err != nil {
		t.Fatal(err)
	}
	return html
}

// TestComponentProperty: after every step of random sequences of view
// events, component events, updates by id, list changes and client
// destroys, the page built by applying every diff to the previous tree
// (live/diff's applier, in livetest) equals a fresh full render of the
// state.
func TestComponentProperty(t *testing.T) {
	ids := []string{"p", "q", "r", "s", "u"}
	for seed := int64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewSource(seed))
		l := deckServer(t)
		v := livetest.Mount(t, l, "/deck")
		m := &deckModel{a: "Alpha", b: "Beta", cards: map[string]*cardModel{}}
		m.use("a", "Alpha")
		m.use("b", "Beta")
		var gone []string // ids off the page whose components live on
		for step := 0; step < 40; step++ {
			var did string
			switch op := rng.Intn(6); op {
			case 0:
				m.a = fmt.Sprintf("A%d", rng.Intn(3))
				v.Click(t, "rename-a", map[string]any{"to": m.a})
				m.cards["a"].title = m.a
				did = "rename a " + m.a
			case 1:
				m.b = fmt.Sprintf("B%d", rng.Intn(3))
				v.Click(t, "update-b", map[string]any{"to": m.b})
				m.cards["b"].title = m.b
				did = "update b " + m.b
			case 2:
				onPage := append([]string{"a", "b"}, m.items...)
				id := onPage[rng.Intn(len(onPage))]
				v.ClickComponent(t, m.cards[id].cid, "bump", nil)
				m.cards[id].bumps++
				did = "bump " + id
			case 3:
				var next []string
				for _, i := range rng.Perm(len(ids))[:rng.Intn(len(ids)+1)] {
					next = append(next, ids[i])
				}
				v.Click(t, "items", map[string]any{"ids": strings.Join(next, ",")})
				for _, id := range m.items {
					if !slices.Contains(next, id) && !slices.Contains(gone, id) {
						gone = append(gone, id)
					}
				}
				m.items = next
				for _, id := range next {
					m.use(id, strings.ToUpper(id))
					gone = slices.DeleteFunc(gone, func(g string) bool { return g == id })
				}
				did = "items " + strings.Join(next, ",")
			case 4:
				m.note = fmt.Sprintf("n%d", rng.Intn(4))
				v.Click(t, "note", map[string]any{"to": m.note})
				did = "note"
			case 5:
				// the client destroys the components that left the page
				var cids []int
				for _, id := range gone {
					cids = append(cids, m.cards[id].cid)
					delete(m.cards, id)
				}
				got := v.DestroyComponents(t, cids...)
				slices.Sort(got)
				slices.Sort(cids)
				if !slices.Equal(got, cids) {
					t.Fatalf("seed %d step %d: destroyed %v, want %v", seed, step, got, cids)
				}
				gone = nil
				did = fmt.Sprintf("destroy %v", cids)
			}
			if got, want := v.HTML(t), m.fresh(t); got != want {
				t.Fatalf("seed %d step %d (%s):\n got %s\nwant %s", seed, step, did, got, want)
			}
			if n := l.LiveComponents(); n != len(m.cards) {
				t.Fatalf("seed %d step %d: %d live components, model has %d", seed, step, n, len(m.cards))
			}
		}
		v.Leave(t)
	}
}
