package diff

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, rewriting it under -update, and
// also with want, the bytes printed in the spec (§3.4), so that -update
// cannot drift away from the spec.
func golden(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if g := bytes.TrimSuffix(file, []byte("\n")); !bytes.Equal(g, got) {
		t.Errorf("%s:\n got %s\nfile %s", name, got, g)
	}
	if want != "" && string(got) != want {
		t.Errorf("%s:\n got %s\nspec %s", name, got, want)
	}
}

func counter(n string) *Node {
	return NewNode([]string{"<div><h1>Count: ", "</h1><button phx-click=\"inc\">+</button></div>"}, Text(n))
}

func TestGoldenCounter(t *testing.T) {
	title := "Counter"
	join, err := Full(counter("0"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "counter_join.json", Envelope(join, Message{Title: &title}),
		`{"0":"0","s":["<div><h1>Count: ","</h1><button phx-click=\"inc\">+</button></div>"],"t":"Counter"}`)

	d, err := Diff(counter("0"), counter("1"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "counter_inc.json", d, `{"0":"1"}`)

	d, err = Diff(counter("1"), counter("1"))
	if err != nil || d != nil {
		t.Fatalf("no change: %s, %v", d, err)
	}
	if got := Envelope(d, Message{}); got != nil {
		t.Fatalf("empty envelope: %s", got)
	}
}

type item struct{ id, name string }

var itemStatics = []string{"<li id=\"t-", "\">", "</li>"}

// list renders <ul> over items keyed by id, or by index when byIndex.
func list(byIndex bool, items ...item) *Node {
	c := NewComprehension(itemStatics)
	for i, it := range items {
		key := it.id
		if byIndex {
			key = string(rune('0' + i))
		}
		c.Entries = append(c.Entries, Entry{Key: key, Dynamics: []Dyn{Text(it.id), Text(it.name)}})
	}
	return NewNode([]string{"<ul>", "</ul>"}, List(c))
}

var (
	milk = item{"1", "Milk"}
	eggs = item{"2", "Eggs"}
	tea  = item{"3", "Tea"}
)

func TestGoldenList(t *testing.T) {
	full, err := Full(list(false, milk, eggs, tea))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "list_full.json", full,
		`{"0":{"s":["<li id=\"t-","\">","</li>"],"k":{"0":{"0":"1","1":"Milk"},"1":{"0":"2","1":"Eggs"},"2":{"0":"3","1":"Tea"},"kc":3}},"s":["<ul>","</ul>"]}`)

	cases := []struct {
		name, want, html string
		byIndex          bool
		next             []item
	}{
		{"list_rename.json", `{"0":{"k":{"1":{"1":"Bread"},"kc":3}}}`,
			`<ul><li id="t-1">Milk</li><li id="t-2">Bread</li><li id="t-3">Tea</li></ul>`,
			false, []item{milk, {"2", "Bread"}, tea}},
		{"list_prepend.json", `{"0":{"k":{"0":{"0":"4","1":"Jam"},"1":0,"2":1,"3":2,"kc":4,"km":true}}}`,
			`<ul><li id="t-4">Jam</li><li id="t-1">Milk</li><li id="t-2">Eggs</li><li id="t-3">Tea</li></ul>`,
			false, []item{{"4", "Jam"}, milk, eggs, tea}},
		{"list_remove_keyed.json", `{"0":{"k":{"1":2,"kc":2,"km":true}}}`,
			`<ul><li id="t-1">Milk</li><li id="t-3">Tea</li></ul>`,
			false, []item{milk, tea}},
		{"list_move_change.json", `{"0":{"k":{"0":[2,{"1":"TEA"}],"1":0,"2":1,"kc":3,"km":true}}}`,
			`<ul><li id="t-3">TEA</li><li id="t-1">Milk</li><li id="t-2">Eggs</li></ul>`,
			false, []item{{"3", "TEA"}, milk, eggs}},
		{"list_remove_index.json", `{"0":{"k":{"1":{"0":"3","1":"Tea"},"kc":2}}}`,
			`<ul><li id="t-1">Milk</li><li id="t-3">Tea</li></ul>`,
			true, []item{milk, tea}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := list(c.byIndex, milk, eggs, tea)
			var tree Tree
			full, err := Full(prev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tree.Apply(full); err != nil {
				t.Fatal(err)
			}
			d, err := Diff(prev, list(c.byIndex, c.next...))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, d, c.want)
			if _, err := tree.Apply(d); err != nil {
				t.Fatal(err)
			}
			if html, err := tree.HTML(); err != nil || html != c.html {
				t.Fatalf("HTML %q, %v; want %q", html, err, c.html)
			}
		})
	}
}

func songs(s *Stream, items ...item) *Node {
	c := NewComprehension([]string{"<li id=\"", "\">", "</li>"})
	c.Stream = s
	for _, it := range items {
		c.Entries = append(c.Entries, Entry{Key: it.id, Dynamics: []Dyn{Text(it.id), Text(it.name)}})
	}
	return NewNode([]string{"<ul id=\"songs\" phx-update=\"stream\">", "</ul>"}, List(c))
}

func TestGoldenStream(t *testing.T) {
	a, b, c, d, e := item{"songs-1", "A"}, item{"songs-2", "B"}, item{"songs-3", "C"}, item{"songs-4", "D"}, item{"songs-5", "E"}
	prev := songs(&Stream{Ref: "0", Inserts: []Insert{{DOMID: "songs-1", At: -1}, {DOMID: "songs-2", At: -1}}}, a, b)
	join, err := Full(prev)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "stream_join.json", join,
		`{"0":{"s":["<li id=\"","\">","</li>"],"k":{"0":{"0":"songs-1","1":"A"},"1":{"0":"songs-2","1":"B"},"kc":2},"stream":["0",[["songs-1",-1,null,false],["songs-2",-1,null,false]],[]]},"s":["<ul id=\"songs\" phx-update=\"stream\">","</ul>"]}`)
	var tree Tree
	if _, err := tree.Apply(join); err != nil {
		t.Fatal(err)
	}
	html, err := tree.HTML()
	if want := `<ul id="songs" phx-update="stream"><li id="songs-1">A</li><li id="songs-2">B</li></ul>`; err != nil || html != want {
		t.Fatalf("join HTML %q, %v", html, err)
	}
	if len(prev.Dynamics[0].Comprehension().Entries) != 0 {
		t.Fatal("stream items kept after Full")
	}

	steps := []struct {
		name, want string
		next       *Node
		html       string
	}{
		{"stream_insert.json", `{"0":{"k":{"0":{"0":"songs-3","1":"C"},"kc":1},"stream":["0",[["songs-3",0,null,false]],[]]}}`,
			songs(&Stream{Ref: "0", Inserts: []Insert{{DOMID: "songs-3", At: 0}}}, c),
			`<ul id="songs" phx-update="stream"><li id="songs-3">C</li></ul>`},
		{"stream_delete.json", `{"0":{"k":{"kc":0},"stream":["0",[],["songs-2"]]}}`,
			songs(&Stream{Ref: "0", Deletes: []string{"songs-2"}}),
			`<ul id="songs" phx-update="stream"></ul>`},
		{"stream_limit.json", `{"0":{"k":{"0":{"0":"songs-4","1":"D"},"kc":1},"stream":["0",[["songs-4",-1,-2,false]],[]]}}`,
			songs(&Stream{Ref: "0", Inserts: []Insert{{DOMID: "songs-4", At: -1, Limit: -2}}}, d),
			`<ul id="songs" phx-update="stream"><li id="songs-4">D</li></ul>`},
		{"stream_reset.json", `{"0":{"k":{"0":{"0":"songs-5","1":"E"},"kc":1},"stream":["0",[["songs-5",-1,null,false]],[],true]}}`,
			songs(&Stream{Ref: "0", Inserts: []Insert{{DOMID: "songs-5", At: -1}}, Reset: true}, e),
			`<ul id="songs" phx-update="stream"><li id="songs-5">E</li></ul>`},
	}
	for _, s := range steps {
		d, err := Diff(prev, s.next)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, s.name, d, s.want)
		if _, err := tree.Apply(d); err != nil {
			t.Fatal(err)
		}
		if html, err := tree.HTML(); err != nil || html != s.html {
			t.Fatalf("%s: HTML %q, %v; want %q", s.name, html, err, s.html)
		}
		if len(tree.Streams()) != 1 {
			t.Fatalf("%s: streams %+v", s.name, tree.Streams())
		}
		prev = s.next
	}
	// Nothing happened to the stream: nothing to send.
	if d, err := Diff(prev, songs(&Stream{Ref: "0"})); err != nil || d != nil {
		t.Fatalf("idle stream: %s, %v", d, err)
	}
}

func bold(x string) *Node { return NewNode([]string{"<b>", "</b>"}, Text(x)) }

func TestGoldenSharedTemplates(t *testing.T) {
	share := Encoder{ShareTemplates: true}
	prev := NewNode([]string{"<p>", "", "</p>"}, Nested(bold("a")), Nested(bold("b")))
	full, err := share.Full(prev)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "templates_join.json", full,
		`{"0":{"0":"a","s":0},"1":{"0":"b","s":0},"p":{"0":["<b>","</b>"]},"s":["<p>","","</p>"]}`)
	var tree Tree
	if _, err := tree.Apply(full); err != nil {
		t.Fatal(err)
	}
	if html, err := tree.HTML(); err != nil || html != "<p><b>a</b><b>b</b></p>" {
		t.Fatalf("HTML %q, %v", html, err)
	}
	// Without the option, the statics are repeated.
	if b, _ := Full(NewNode([]string{"<p>", "", "</p>"}, Nested(bold("a")), Nested(bold("b")))); string(b) !=
		`{"0":{"0":"a","s":["<b>","</b>"]},"1":{"0":"b","s":["<b>","</b>"]},"s":["<p>","","</p>"]}` {
		t.Fatalf("unshared: %s", b)
	}

	// A diff that sends a new template twice: indices restart at 0, and
	// "p" follows the keys of the diff.
	it := func(x string) *Node { return NewNode([]string{"<i>", "</i>"}, Text(x)) }
	next := NewNode([]string{"<p>", "", "</p>"}, Nested(it("c")), Nested(it("d")))
	d, err := share.Diff(prev, next)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "templates_diff.json", d, `{"0":{"0":"c","s":0},"1":{"0":"d","s":0},"p":{"0":["<i>","</i>"]}}`)
	if _, err := tree.Apply(d); err != nil {
		t.Fatal(err)
	}
	if html, err := tree.HTML(); err != nil || html != "<p><i>c</i><i>d</i></p>" {
		t.Fatalf("HTML %q, %v", html, err)
	}
	// Statics sent once are never shared, and sharing that would lengthen
	// the message is skipped.
	once := NewNode([]string{"<p>", "", "</p>"}, Nested(bold("a")), Text("b"))
	tiny := NewNode([]string{"<p>", "", "</p>"}, Nested(NewNode([]string{""})), Nested(NewNode([]string{""})))
	for _, n := range []*Node{once, tiny} {
		a, _ := Full(n)
		b, _ := share.Full(n)
		if string(a) != string(b) {
			t.Errorf("shared %s as %s", a, b)
		}
	}
}

func card(x string) *Node { return NewNode([]string{"<div id=\"card\">", "</div>"}, Text(x)) }

func mainPage(comps map[int32]*Node, dyns ...Dyn) *Node {
	st := make([]string, len(dyns)+1)
	st[0], st[len(dyns)] = "<main>", "</main>"
	n := NewNode(st, dyns...)
	n.Components = comps
	return n
}

// TestGoldenComponents encodes the spec's component messages. The first two
// form a sequence. The third sets root key "1", a slot the root of the
// first does not have (its statics are ["<main>","</main>"]), so no
// sequence from the first produces it; it is encoded here from a root with
// two slots, ["<main>","","</main>"], whose second slot held "" and now
// holds cid 2, while cid 1 still shows "Bye".
func TestGoldenComponents(t *testing.T) {
	join := mainPage(map[int32]*Node{1: card("Hi")}, Component(1))
	full, err := Full(join)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "components_join.json", full,
		`{"0":1,"c":{"1":{"0":"Hi","s":["<div id=\"card\">","</div>"],"r":1}},"s":["<main>","</main>"]}`)
	var tree Tree
	if _, err := tree.Apply(full); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		if html, err := tree.HTML(); err != nil || html != want {
			t.Fatalf("HTML %q, %v; want %q", html, err, want)
		}
	}
	check(`<main><div data-phx-component="1" id="card">Hi</div></main>`)

	bye := mainPage(map[int32]*Node{1: card("Bye")}, Component(1))
	d, err := Diff(join, bye)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "components_update.json", d, `{"c":{"1":{"0":"Bye"}}}`)
	if _, err := tree.Apply(d); err != nil {
		t.Fatal(err)
	}
	check(`<main><div data-phx-component="1" id="card">Bye</div></main>`)

	two := mainPage(map[int32]*Node{1: card("Bye")}, Component(1), Text(""))
	var tree2 Tree
	full, err = Full(two)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree2.Apply(full); err != nil {
		t.Fatal(err)
	}
	reuse := mainPage(map[int32]*Node{1: two.Components[1], 2: card("Yo")}, Component(1), Component(2))
	d, err = Diff(two, reuse)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "components_reuse.json", d, `{"1":2,"c":{"2":{"0":"Yo","s":-1}}}`)
	if _, err := tree2.Apply(d); err != nil {
		t.Fatal(err)
	}
	tree = tree2
	check(`<main><div data-phx-component="1" id="card">Bye</div><div data-phx-component="2" id="card">Yo</div></main>`)
	if html, err := HTML(reuse); err != nil || html != `<main><div data-phx-component="1" id="card">Bye</div><div data-phx-component="2" id="card">Yo</div></main>` {
		t.Fatalf("server HTML %q, %v", html, err)
	}
}

// TestComponents covers the component cases beyond the spec's examples, each
// diff checked against the client model.
func TestComponents(t *testing.T) {
	list := func(xs ...string) Dyn {
		c := NewComprehension([]string{"<li>", "</li>"})
		for _, x := range xs {
			c.Entries = append(c.Entries, Entry{Key: x, Dynamics: []Dyn{Nested(bold(x))}})
		}
		return List(c)
	}
	box := func(d Dyn) *Node { return NewNode([]string{"<ul class=\"box\">", "</ul>"}, d) }
	type step struct {
		name string
		next *Node
		enc  Encoder
		want string
	}
	start := mainPage(map[int32]*Node{1: card("A")}, Component(1), Text(""), Text(""), Text(""))
	four := func(comps map[int32]*Node) *Node {
		return mainPage(comps, Component(1), Component(2), Component(3), Component(4))
	}
	steps := []step{
		{"component and root unchanged", mainPage(map[int32]*Node{1: card("A")}, Component(1), Text(""), Text(""), Text("")), Encoder{}, ``},
		{"new cids reusing a cached one (-1) and one of the same diff (3)",
			four(map[int32]*Node{1: card("A"), 2: card("B"), 3: box(list("x")), 4: box(list("y"))}),
			Encoder{}, `{"1":2,"2":3,"3":4,"c":{"2":{"0":"B","s":-1},"3":{"0":{"s":["<li>","</li>"],"k":{"0":{"0":{"0":"x","s":["<b>","</b>"]}},"kc":1}},"s":["<ul class=\"box\">","</ul>"],"r":1},"4":{"0":{"s":["<li>","</li>"],"k":{"0":{"0":{"0":"y","s":["<b>","</b>"]}},"kc":1}},"s":3}}}`},
		{"new root template: the cache is gone, so everything in full, reusing within the diff",
			mainPage(map[int32]*Node{1: card("A"), 2: card("B"), 3: box(list("x")), 4: box(list("y"))}, Component(4), Component(3), Component(2), Component(1), Text("")),
			Encoder{}, `{"0":4,"1":3,"2":2,"3":1,"4":"","c":{"1":{"0":"A","s":["<div id=\"card\">","</div>"],"r":1},"2":{"0":"B","s":1},"3":{"0":{"s":["<li>","</li>"],"k":{"0":{"0":{"0":"x","s":["<b>","</b>"]}},"kc":1}},"s":["<ul class=\"box\">","</ul>"],"r":1},"4":{"0":{"s":["<li>","</li>"],"k":{"0":{"0":{"0":"y","s":["<b>","</b>"]}},"kc":1}},"s":3}},"s":["<main>","","","","","</main>"]}`},
		{"shared templates inside a component go to its own p",
			mainPage(map[int32]*Node{1: card("A"), 2: card("B"), 3: box(list("x", "y", "z")), 4: box(list("y"))}, Component(4), Component(3), Component(2), Component(1), Text("")),
			Encoder{ShareTemplates: true}, `{"c":{"3":{"0":{"k":{"1":{"0":{"0":"y","s":0}},"2":{"0":{"0":"z","s":0}},"kc":3}},"p":{"0":["<b>","</b>"]}}}}`},
		{"a cid changes template; markers resolve against the cid's previous render",
			mainPage(map[int32]*Node{1: box(list("w")), 2: card("B"), 3: NewNode(box(list()).Statics, Unchanged()), 4: box(list("y"))}, Component(4), Component(3), Component(2), Component(1), Text("")),
			Encoder{}, `{"c":{"1":{"0":{"s":["<li>","</li>"],"k":{"0":{"0":{"0":"w","s":["<b>","</b>"]}},"kc":1}},"s":-3}}}`},
	}
	var tree Tree
	full, err := Full(start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Apply(full); err != nil {
		t.Fatal(err)
	}
	prev := start
	for _, s := range steps {
		d, err := s.enc.Diff(prev, s.next)
		if err != nil || string(d) != s.want {
			t.Fatalf("%s:\n got %s, %v\nwant %s", s.name, d, err, s.want)
		}
		want, err := HTML(s.next) // markers resolved by Diff
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d != nil {
			if _, err := tree.Apply(d); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		if got, err := tree.HTML(); err != nil || got != want {
			t.Fatalf("%s: HTML\n got %q, %v\nwant %q", s.name, got, err, want)
		}
		prev = s.next
	}
}
