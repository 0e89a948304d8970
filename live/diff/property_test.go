package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
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
	// With components: the cids of the render, and the smallest cid the
	// dynamics being generated may refer to (components refer only to
	// larger cids, so that none contains itself).
	withComps bool
	cids      []int32
	minCid    int32
	added     int32 // cids added after the first render
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
	n := 20
	if g.withComps {
		n = 23
	}
	x := g.r.IntN(n)
	if x >= 20 {
		var ok []int32
		for _, c := range g.cids {
			if c >= g.minCid {
				ok = append(ok, c)
			}
		}
		if len(ok) == 0 {
			return g.text()
		}
		return Component(ok[g.r.IntN(len(ok))])
	}
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

// component returns a new tree for cid, on one of the node templates (they
// all start with a tag, as components must).
func (g *gen) component(cid int32) *Node {
	saved := g.minCid
	g.minCid = cid + 1
	defer func() { g.minCid = saved }()
	return g.node(1, g.nodes[g.r.IntN(len(g.nodes))])
}

// render returns a new top-level render, with components when enabled.
func (g *gen) render() *Node {
	if g.withComps && len(g.cids) == 0 {
		for c := int32(1); c <= 4; c++ {
			if g.r.IntN(2) == 0 {
				g.cids = append(g.cids, c)
			}
		}
	}
	n := g.node(0, g.nodes[g.r.IntN(len(g.nodes))])
	if g.withComps {
		n.Components = map[int32]*Node{}
		for _, c := range g.cids {
			n.Components[c] = g.component(c)
		}
	}
	return n
}

// mutateComponents returns the next components of prev into marked and
// resolved: kept, changed, replaced, or new (a new cid, or one that prune
// dropped from prev). Every cid of g.cids gets a tree, so references stay
// valid; prune then drops those not shown. mark allows Unchanged markers.
func (g *gen) mutateComponents(prev map[int32]*Node, marked, resolved *Node, mark bool) {
	if prev == nil {
		return
	}
	if g.r.IntN(3) == 0 {
		g.cids = append(g.cids, 5+g.added) // render starts with cids 1 to 4
		g.added++
	}
	marked.Components = map[int32]*Node{}
	resolved.Components = map[int32]*Node{}
	saved := g.minCid
	defer func() { g.minCid = saved }()
	for _, c := range g.cids {
		p := prev[c]
		g.minCid = c + 1
		switch x := g.r.IntN(4); {
		case p == nil || x == 0:
			n := g.component(c)
			marked.Components[c], resolved.Components[c] = n, n
		case x == 1:
			marked.Components[c], resolved.Components[c] = p, p
		default:
			marked.Components[c], resolved.Components[c] = g.mutateNode(p, 1, mark)
		}
	}
}

// prune drops from marked and resolved the components that resolved does not
// show, as a server forgets removed components: the client renders (and so
// clears the stream items of) only the components on the page.
// It reports false when a cid is shown twice, which the client cannot
// render (its first rendering clears the component's streams; Phoenix
// rejects duplicate component ids).
func prune(marked, resolved *Node) bool {
	if resolved.Components == nil {
		return true
	}
	seen := map[int32]bool{}
	unique := true
	var walk func(ds []Dyn)
	walk = func(ds []Dyn) {
		for _, d := range ds {
			switch d.kind {
			case KindNode:
				walk(d.node.Dynamics)
			case KindComprehension:
				for _, e := range d.comp.Entries {
					walk(e.Dynamics)
				}
			case KindComponent:
				if seen[d.cid] {
					unique = false
					continue
				}
				seen[d.cid] = true
				walk(resolved.Components[d.cid].Dynamics)
			}
		}
	}
	walk(resolved.Dynamics)
	for cid := range resolved.Components {
		if !seen[cid] {
			delete(resolved.Components, cid)
			delete(marked.Components, cid)
		}
	}
	return unique
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
	if n.Components != nil {
		c.Components = make(map[int32]*Node, len(n.Components))
		for cid, cn := range n.Components {
			c.Components[cid] = copyNode(cn)
		}
	}
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

// sameDiffRef finds a component reusing the statics of one in the same diff
// (without template sharing, the only positive integer "s").
var sameDiffRef = regexp.MustCompile(`"s":[1-9][0-9]*}`)

type stats struct{ diffs, moves, statics, streams, empty, shared, comps, cached, reused int }

// roundTrip checks over a chain of renders that applying each diff to the
// client model yields exactly the HTML of the server tree.
func roundTrip(t testing.TB, seed uint64, steps int, st *stats, enc Encoder, comps bool) {
	g := newGen(seed)
	g.withComps = comps
	prev := g.render()
	for !prune(prev, prev) {
		prev = g.render()
	}
	want, err := HTML(prev)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	full, err := enc.Full(prev)
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
	count := func(d []byte) {
		if st == nil {
			return
		}
		if bytes.Contains(d, []byte(`"p":{`)) {
			st.shared++
		}
		if bytes.Contains(d, []byte(`"c":{`)) {
			st.comps++
		}
		if bytes.Contains(d, []byte(`"s":-`)) {
			st.cached++
		}
		if !enc.ShareTemplates && bytes.Contains(d, []byte(`"c":{`)) && sameDiffRef.Match(d) {
			st.reused++
		}
	}
	check(0, full, want)
	count(full)
	for step := 1; step <= steps; step++ {
		var marked, resolved *Node
		for attempt := 0; ; attempt++ {
			if attempt == 20 {
				// Give up on this step: resend the same tree.
				marked = copyNode(prev)
				resolved = marked
				break
			}
			if g.r.IntN(8) == 0 {
				// A new top-level template drops the client's components, so
				// theirs must not hold markers.
				marked = g.node(0, g.nodes[g.r.IntN(len(g.nodes))])
				resolved = marked
				if comps {
					resolved = &Node{Fingerprint: marked.Fingerprint, Statics: marked.Statics, Dynamics: marked.Dynamics}
					g.mutateComponents(prev.Components, marked, resolved, false)
				}
			} else {
				marked, resolved = g.mutateNode(prev, 0, true)
				g.mutateComponents(prev.Components, marked, resolved, true)
			}
			if prune(marked, resolved) {
				break
			}
		}
		// Before Diff, which clears the stream items it sends. Components
		// kept by pointer hold streams cleared earlier, as the client does.
		want, err := HTML(resolved)
		if err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		d, err := enc.Diff(prev, marked)
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
		count(d)
		if d == nil {
			d = []byte("{}")
		}
		check(step, d, want)
		// A tree equal to the one just sent diffs to nothing.
		if again, err := enc.Diff(marked, copyNode(marked)); err != nil || again != nil {
			t.Fatalf("seed %d step %d: equal trees diff to %s, %v", seed, step, again, err)
		}
		prev = marked
	}
}

func TestRoundTrip(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for _, c := range []struct {
		name  string
		enc   Encoder
		comps bool
	}{
		{"plain", Encoder{}, false},
		{"shared", Encoder{ShareTemplates: true}, false},
		{"components", Encoder{}, true},
		{"shared+components", Encoder{ShareTemplates: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var st stats
			for seed := range uint64(n) {
				roundTrip(t, seed, 8, &st, c.enc, c.comps)
			}
			t.Logf("%+v", st)
			if st.moves == 0 || st.statics == 0 || st.streams == 0 || st.empty == 0 {
				t.Fatalf("generator misses cases: %+v", st)
			}
			if c.enc.ShareTemplates != (st.shared > 0) {
				t.Fatalf("shared templates: %+v", st)
			}
			if c.comps && (st.comps == 0 || st.cached == 0 || (st.reused == 0 && !c.enc.ShareTemplates)) {
				t.Fatalf("generator misses component cases: %+v", st)
			}
		})
	}
}

func FuzzRoundTrip(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	// The two low bits of the seed pick template sharing and components.
	f.Fuzz(func(t *testing.T, seed uint64) {
		roundTrip(t, seed, 8, nil, Encoder{ShareTemplates: seed&1 != 0}, seed&2 != 0)
	})
}
