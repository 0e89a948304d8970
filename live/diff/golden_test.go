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
