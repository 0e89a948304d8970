package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// gen builds random trees from a fixed set of templates, and random next
// renders of them that keep, share, mark unchanged, move and replace parts.
type gen struct {
	r     *rand.Rand
	nodes []tpl
	comps []tpl
	dom   int // stream DOM id sequence
}

type tpl struct {
	statics []string
	fp      uint64
	root    bool
}

var textPool = []string{"", "a", "0", "42", "<b>x</b>", "&amp;", `"q"`, `back\slash`, "line\nbreak", "tab\t", "é✓", "\x01\x1f", "\u2028", "</script>", "{}"}

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	mk := func(i, n int) tpl {
		st := make([]string, n)
		for k := range st {
			st[k] = fmt.Sprintf("<t%d.%d>", i, k) + textPool[g.r.IntN(len(textPool))]
		}
		return tpl{statics: st, fp: Fingerprint(st) + uint64(i), root: g.r.IntN(3) == 0}
	}
	for i := range 6 {
		g.nodes = append(g.nodes, mk(i, 1+g.r.IntN(4)))
	}
	for i := range 4 {
		g.comps = append(g.comps, mk(100+i, 1+g.r.IntN(3)))
	}
	return g
}

func (g *gen) text() Dyn {
	if g.r.IntN(4) == 0 {
		return Text(strconv.Itoa(g.r.IntN(5)))
	}
	return Text(textPool[g.r.IntN(len(textPool))])
}

func (g *gen) dyn(depth int) Dyn {
	x := g.r.IntN(20)
	switch {
	case depth >= 4 || x < 10:
		return g.text()
	case x < 15:
		return Nested(g.node(depth+1, g.nodes[g.r.IntN(len(g.nodes))]))
	case x < 18:
		return List(g.comp(depth+1, g.comps[g.r.IntN(len(g.comps))]))
	default:
		return List(g.stream(depth+1, g.comps[g.r.IntN(len(g.comps))]))
	}
}

func (g *gen) node(depth int, t tpl) *Node {
	n := &Node{Fingerprint: t.fp, Statics: t.statics, Root: t.root, Dynamics: make([]Dyn, len(t.statics)-1)}
	for i := range n.Dynamics {
		n.Dynamics[i] = g.dyn(depth)
	}
	return n
}

func (g *gen) entry(depth int, t tpl, key string) Entry {
	e := Entry{Key: key, Dynamics: make([]Dyn, len(t.statics)-1)}
	for i := range e.Dynamics {
		e.Dynamics[i] = g.dyn(depth)
	}
	return e
}

func (g *gen) key() string { return string(rune('a' + g.r.IntN(8))) }

func (g *gen) comp(depth int, t tpl) *Comprehension {
	c := &Comprehension{Fingerprint: t.fp, Statics: t.statics}
	for range g.r.IntN(6) {
		c.Entries = append(c.Entries, g.entry(depth, t, g.key()))
	}
	return c
}

// stream returns a stream comprehension with fresh items and operations.
func (g *gen) stream(depth int, t tpl) *Comprehension {
	c := &Comprehension{Fingerprint: t.fp + 1<<40, Statics: t.statics, Stream: &Stream{Ref: "s"}}
	for range g.r.IntN(4) {
		g.dom++
		id := "d" + strconv.Itoa(g.dom)
		c.Entries = append(c.Entries, g.entry(depth, t, id))
		c.Stream.Inserts = append(c.Stream.Inserts, Insert{DOMID: id, At: g.r.IntN(3) - 1, Limit: g.r.IntN(5) - 2, UpdateOnly: g.r.IntN(4) == 0})
	}
	if g.r.IntN(3) == 0 {
		c.Stream.Deletes = []string{"d" + strconv.Itoa(g.r.IntN(g.dom+1))}
	}
	c.Stream.Reset = g.r.IntN(5) == 0
	return c
}

// mutate returns the next render of prev: marked may hold Unchanged markers
// (only where mark allows), resolved is the same render without them.
func (g *gen) mutate(prev Dyn, depth int, mark bool) (marked, resolved Dyn) {
	x := g.r.IntN(10)
	switch {
	case x < 2 && mark:
		return Unchanged(), prev
	case x < 4:
		return prev, prev
	case x < 6:
		d := g.dyn(depth)
		return d, d
	}
	switch prev.kind {
	case KindNode:
		m, r := g.mutateNode(prev.node, depth, mark)
		return Nested(m), Nested(r)
	case KindComprehension:
		if prev.comp.Stream != nil {
			s := g.stream(depth, tpl{statics: prev.comp.Statics, fp: prev.comp.Fingerprint - 1<<40})
			return List(s), List(s)
		}
		m, r := g.mutateComp(prev.comp, depth, mark)
		return List(m), List(r)
	}
	d := g.text()
	return d, d
}

func (g *gen) mutateNode(prev *Node, depth int, mark bool) (marked, resolved *Node) {
	m := &Node{Fingerprint: prev.Fingerprint, Statics: prev.Statics, Root: prev.Root, Dynamics: make([]Dyn, len(prev.Dynamics))}
	r := &Node{Fingerprint: prev.Fingerprint, Statics: prev.Statics, Root: prev.Root, Dynamics: make([]Dyn, len(prev.Dynamics))}
	for i, d := range prev.Dynamics {
		m.Dynamics[i], r.Dynamics[i] = g.mutate(d, depth+1, mark)
	}
	return m, r
}

func (g *gen) mutateComp(prev *Comprehension, depth int, mark bool) (marked, resolved *Comprehension) {
	t := tpl{statics: prev.Statics, fp: prev.Fingerprint}
	type slot struct {
		old int
		key string
	}
	var slots []slot
	for i, e := range prev.Entries {
		slots = append(slots, slot{i, e.Key})
	}
	for range g.r.IntN(4) {
		switch g.r.IntN(5) {
		case 0: // delete
			if len(slots) > 0 {
				i := g.r.IntN(len(slots))
				slots = append(slots[:i], slots[i+1:]...)
			}
		case 1: // insert
			i := g.r.IntN(len(slots) + 1)
			slots = append(slots[:i], append([]slot{{-1, g.key()}}, slots[i:]...)...)
		case 2: // move
			if len(slots) > 1 {
				i, j := g.r.IntN(len(slots)), g.r.IntN(len(slots))
				slots[i], slots[j] = slots[j], slots[i]
			}
		case 3: // re-key
			if len(slots) > 0 {
				slots[g.r.IntN(len(slots))].key = g.key()
			}
		default: // shuffle
			g.r.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
		}
	}
	count := func(keys func(yield func(string) bool)) map[string]int {
		m := map[string]int{}
		for k := range keys {
			m[k]++
		}
		return m
	}
	prevKeys := count(func(y func(string) bool) {
		for _, e := range prev.Entries {
			y(e.Key)
		}
	})
	nextKeys := count(func(y func(string) bool) {
		for _, s := range slots {
			y(s.key)
		}
	})
	m := &Comprehension{Fingerprint: prev.Fingerprint, Statics: prev.Statics}
	r := &Comprehension{Fingerprint: prev.Fingerprint, Statics: prev.Statics}
	for _, s := range slots {
		if s.old < 0 {
			e := g.entry(depth, t, s.key)
			m.Entries = append(m.Entries, e)
			r.Entries = append(r.Entries, e)
			continue
		}
		// Markers resolve against the old entry of the same key, so only
		// where that key is unambiguous and was kept.
		ok := mark && s.key == prev.Entries[s.old].Key && prevKeys[s.key] == 1 && nextKeys[s.key] == 1
		old := prev.Entries[s.old].Dynamics
		me := Entry{Key: s.key, Dynamics: make([]Dyn, len(old))}
		re := Entry{Key: s.key, Dynamics: make([]Dyn, len(old))}
		for i, d := range old {
			me.Dynamics[i], re.Dynamics[i] = g.mutate(d, depth+1, ok)
		}
		m.Entries = append(m.Entries, me)
		r.Entries = append(r.Entries, re)
	}
	return m, r
}

// copyNode deep-copies n, sharing nothing but strings.
func copyNode(n *Node) *Node {
	c := *n
	c.Dynamics = copyDyns(n.Dynamics)
	return &c
}

func copyDyns(ds []Dyn) []Dyn {
	out := make([]Dyn, len(ds))
	for i, d := range ds {
		switch d.kind {
		case KindNode:
			d.node = copyNode(d.node)
		case KindComprehension:
			c := *d.comp
			c.Entries = make([]Entry, len(d.comp.Entries))
			for k, e := range d.comp.Entries {
				c.Entries[k] = Entry{Key: e.Key, Dynamics: copyDyns(e.Dynamics)}
			}
			if c.Stream != nil {
				s := *c.Stream
				c.Stream = &s
			}
			d.comp = &c
		}
		out[i] = d
	}
	return out
}

type stats struct{ diffs, moves, statics, streams, empty int }

// roundTrip checks over a chain of renders that applying each diff to the
// client model yields exactly the HTML of the server tree.
func roundTrip(t testing.TB, seed uint64, steps int, st *stats) {
	g := newGen(seed)
	prev := g.node(0, g.nodes[g.r.IntN(len(g.nodes))])
	want, err := HTML(prev)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	full, err := Full(prev)
	if err != nil {
		t.Fatalf("seed %d: Full: %v", seed, err)
	}
	var tree Tree
	check := func(step int, msg []byte, want string) {
		t.Helper()
		if !json.Valid(msg) {
			t.Fatalf("seed %d step %d: invalid JSON %s", seed, step, msg)
		}
		if bytes.Contains(msg, []byte(`\u003c`)) {
			t.Fatalf("seed %d step %d: HTML-escaped JSON %s", seed, step, msg)
		}
		if _, err := tree.Apply(msg); err != nil {
			t.Fatalf("seed %d step %d: Apply(%s): %v", seed, step, msg, err)
		}
		got, err := tree.HTML()
		if err != nil || got != want {
			t.Fatalf("seed %d step %d: after %s\n got %q, %v\nwant %q", seed, step, msg, got, err, want)
		}
	}
	check(0, full, want)
	for step := 1; step <= steps; step++ {
		var marked, resolved *Node
		if g.r.IntN(8) == 0 {
			marked = g.node(0, g.nodes[g.r.IntN(len(g.nodes))])
			resolved = marked
		} else {
			marked, resolved = g.mutateNode(prev, 0, true)
		}
		want, err := HTML(resolved)
		if err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		d, err := Diff(prev, marked)
		if err != nil {
			t.Fatalf("seed %d step %d: Diff: %v", seed, step, err)
		}
		if st != nil {
			st.diffs++
			if d == nil {
				st.empty++
			}
			if bytes.Contains(d, []byte(`"km":true`)) {
				st.moves++
			}
			if bytes.Contains(d, []byte(`"s":[`)) {
				st.statics++
			}
			if bytes.Contains(d, []byte(`"stream":[`)) {
				st.streams++
			}
		}
		if d == nil {
			d = []byte("{}")
		}
		check(step, d, want)
		// A tree equal to the one just sent diffs to nothing.
		if again, err := Diff(marked, copyNode(marked)); err != nil || again != nil {
			t.Fatalf("seed %d step %d: equal trees diff to %s, %v", seed, step, again, err)
		}
		prev = marked
	}
}

func TestRoundTrip(t *testing.T) {
	var st stats
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		roundTrip(t, seed, 8, &st)
	}
	t.Logf("%+v", st)
	if st.moves == 0 || st.statics == 0 || st.streams == 0 || st.empty == 0 {
		t.Fatalf("generator misses cases: %+v", st)
	}
}

func FuzzRoundTrip(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { roundTrip(t, seed, 8, nil) })
}
