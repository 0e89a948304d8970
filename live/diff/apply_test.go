package diff

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestApplyExtras(t *testing.T) {
	var tree Tree
	msg, err := tree.Apply([]byte(`{"0":"x","s":["<p>","</p>"],"t":"T","e":[["ping",{"a":1}],["pre",{},true]],"r":{"ok":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Title == nil || *msg.Title != "T" || string(msg.Reply) != `{"ok":true}` ||
		len(msg.Events) != 2 || msg.Events[0].Name != "ping" || string(msg.Events[0].Payload) != `{"a":1}` ||
		msg.Events[0].BeforePatch || !msg.Events[1].BeforePatch {
		t.Fatalf("extras %+v", msg)
	}
	if html, err := tree.HTML(); err != nil || html != "<p>x</p>" {
		t.Fatalf("HTML %q, %v", html, err)
	}
}

func TestEnvelope(t *testing.T) {
	title := "Hi"
	m := Message{
		Title:  &title,
		Events: []Event{{Name: "a"}, {Name: "b", Payload: json.RawMessage(`{"x":1}`), BeforePatch: true}},
		Reply:  json.RawMessage(`{"v":2}`),
	}
	for _, c := range []struct{ tree, want string }{
		{"", `{"e":[["a",{}],["b",{"x":1},true]],"r":{"v":2},"t":"Hi"}`},
		{"{}", `{"e":[["a",{}],["b",{"x":1},true]],"r":{"v":2},"t":"Hi"}`},
		{`{"0":"1"}`, `{"0":"1","e":[["a",{}],["b",{"x":1},true]],"r":{"v":2},"t":"Hi"}`},
	} {
		var tree []byte
		if c.tree != "" {
			tree = []byte(c.tree)
		}
		if got := string(Envelope(tree, m)); got != c.want {
			t.Errorf("Envelope(%s) = %s, want %s", c.tree, got, c.want)
		}
	}
	// Round trip through the client model.
	var tr Tree
	got, err := tr.Apply(Envelope([]byte(`{"0":"1","s":["",""]}`), m))
	if err != nil || *got.Title != "Hi" || string(got.Reply) != `{"v":2}` || len(got.Events) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "<a href=\"x\">&amp;</a>", "\x00\x01\x1f\x7f", "\n\r\t\b\f",
		"é✓😀", "\u2028\u2029", "bad\xffutf8\xc3", strings.Repeat("x", 100)} {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("%q: invalid JSON %s", s, b)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if utf8.ValidString(s) {
			want = s
		} else {
			// Each invalid byte becomes one U+FFFD, as in encoding/json.
			want = strings.ReplaceAll(strings.ReplaceAll(s, "\xff", "\uFFFD"), "\xc3", "\uFFFD")
		}
		if back != want {
			t.Fatalf("%q round-trips to %q", s, back)
		}
		if strings.Contains(string(b), `\u003c`) || strings.Contains(string(b), `\u0026`) {
			t.Fatalf("HTML-escaped: %s", b)
		}
	}
}

func TestErrors(t *testing.T) {
	st := []string{"<p>", "</p>"}
	if _, err := Full(NewNode(st, Unchanged())); !errors.Is(err, ErrUnresolved) {
		t.Errorf("Full with Unchanged: %v", err)
	}
	if _, err := Full(NewNode(st)); !errors.Is(err, ErrShape) {
		t.Errorf("Full with too few dynamics: %v", err)
	}
	if _, err := Diff(NewNode([]string{"<i>", "</i>"}, Text("")), NewNode(st, Unchanged())); !errors.Is(err, ErrUnresolved) {
		t.Errorf("Unchanged under a new fingerprint: %v", err)
	}
	prev := NewNode(st, List(NewComprehension(st, Entry{Key: "a", Dynamics: []Dyn{Text("1")}})))
	next := NewNode(st, List(NewComprehension(st, Entry{Key: "b", Dynamics: []Dyn{Unchanged()}})))
	if _, err := Diff(prev, next); !errors.Is(err, ErrUnresolved) {
		t.Errorf("Unchanged in a new entry: %v", err)
	}
	if _, err := HTML(NewNode(st, Component(1))); !errors.Is(err, ErrComponent) {
		t.Errorf("HTML of an unknown component: %v", err)
	}
	withComps := func(n *Node, comps map[int32]*Node) *Node { n.Components = comps; return n }
	if _, err := Full(withComps(NewNode(st, Component(2)), map[int32]*Node{1: NewNode(st, Text(""))})); !errors.Is(err, ErrComponent) {
		t.Errorf("Full with an unknown component: %v", err)
	}
	if _, err := Full(withComps(NewNode(st, Text("")), map[int32]*Node{0: NewNode(st, Text(""))})); !errors.Is(err, ErrShape) {
		t.Errorf("Full with cid 0: %v", err)
	}
	if _, err := Full(withComps(NewNode(st, Text("")), map[int32]*Node{1: NewNode(st)})); !errors.Is(err, ErrShape) {
		t.Errorf("Full with a malformed component: %v", err)
	}
	if _, err := HTML(withComps(NewNode(st, Component(1)), map[int32]*Node{1: NewNode([]string{"x", "y"}, Text(""))})); !errors.Is(err, ErrMalformed) {
		t.Errorf("HTML of a component without a root tag: %v", err)
	}
	if _, err := HTML(withComps(NewNode(st, Component(1)), map[int32]*Node{1: NewNode([]string{"<a>", "</a>"}, Component(1))})); !errors.Is(err, ErrShape) {
		t.Errorf("HTML of a component inside itself: %v", err)
	}
	if b, err := Full(NewNode(st, Component(3))); err != nil || string(b) != `{"0":3,"s":["<p>","</p>"]}` {
		t.Errorf("cid: %s %v", b, err)
	}

	var tree Tree
	if _, err := tree.Apply([]byte(`{"0":{"s":["",""],"k":{"0":{"0":"a"},"kc":1}},"s":["",""]}`)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{
		`{"0":{"k":{"0":0,"kc":1}}}`,           // move without km
		`{"0":{"k":{"0":5,"kc":1,"km":true}}}`, // move from nowhere
		`{"0":{"k":{"kc":-1}}}`,
		`{"0":{"k":{"x":{},"kc":1}}}`,
		`[1]`, `null`, `{"c":[]}`, `{"t":1}`, `{"e":[["x"]]}`,
		`{"c":{"1":{"0":"x","s":-5}}}`,                    // reuses a cid never cached
		`{"c":{"1":{"0":"x","s":2}}}`,                     // reuses a cid not in this diff
		`{"c":{"1":{"0":"x","s":2},"2":{"0":"y","s":1}}}`, // reuse cycle
		`{"c":{"x":{"0":"x","s":["<a>","</a>"],"r":1}}}`,
	} {
		if _, err := tree.Apply([]byte(d)); err == nil {
			t.Errorf("Apply(%s) succeeded", d)
		}
	}
	for _, d := range []string{`{"0":null}`, `{"0":7}`, `{"0":{"k":{"kc":2}}}`,
		`{"0":1,"c":{"1":{"0":"x","s":["<a>","</a>"]}}}`,        // component without r
		`{"0":1,"c":{"1":{"0":"x","s":["text","</a>"],"r":1}}}`, // component without a root tag
		`{"0":1,"c":{"1":{"0":1,"s":["<a>","</a>"],"r":1}}}`,    // component inside itself
	} {
		var tr Tree
		if _, err := tr.Apply([]byte(`{"0":"","s":["",""]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Apply([]byte(d)); err != nil {
			continue
		}
		if _, err := tr.HTML(); err == nil {
			t.Errorf("HTML after %s succeeded", d)
		}
	}
}

func TestKeyedEdges(t *testing.T) {
	st := []string{"<i>", "</i>"}
	mk := func(keys ...string) *Node {
		c := NewComprehension(st)
		for _, k := range keys {
			c.Entries = append(c.Entries, Entry{Key: k, Dynamics: []Dyn{Text(k)}})
		}
		return NewNode([]string{"<p>", "</p>"}, List(c))
	}
	for _, c := range []struct {
		prev, next []string
		want       string
	}{
		{[]string{"a", "b"}, []string{"a", "b", "c"}, `{"0":{"k":{"2":{"0":"c"},"kc":3}}}`},
		{[]string{"a", "b", "c"}, []string{"a", "b"}, `{"0":{"k":{"kc":2}}}`},
		{[]string{}, []string{}, ``},
		{[]string{"a"}, []string{}, `{"0":{"k":{"kc":0}}}`},
		{[]string{"a", "a"}, []string{"a", "a", "a"}, `{"0":{"k":{"2":{"0":"a"},"kc":3}}}`},
		{[]string{"a", "b"}, []string{"b", "b"}, `{"0":{"k":{"0":1,"1":{"0":"b"},"kc":2,"km":true}}}`},
		{[]string{"a", "b"}, []string{"b", "a"}, `{"0":{"k":{"0":1,"1":0,"kc":2,"km":true}}}`},
	} {
		prev, next := mk(c.prev...), mk(c.next...)
		var tree Tree
		full, _ := Full(prev)
		if _, err := tree.Apply(full); err != nil {
			t.Fatal(err)
		}
		want, _ := HTML(next)
		d, err := Diff(prev, next)
		if err != nil || string(d) != c.want {
			t.Errorf("%v → %v: %s, %v; want %s", c.prev, c.next, d, err, c.want)
			continue
		}
		if d != nil {
			if _, err := tree.Apply(d); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := tree.HTML(); err != nil || got != want {
			t.Errorf("%v → %v: HTML %q, %v; want %q", c.prev, c.next, got, err, want)
		}
	}
}

func TestTypeChanges(t *testing.T) {
	st := []string{"<p>", "</p>"}
	inner := NewNode([]string{"<b>", "</b>"}, Text("n"))
	comp := NewComprehension([]string{"<i>", "</i>"}, Entry{Key: "k", Dynamics: []Dyn{Text("c")}})
	dyns := []func() Dyn{
		func() Dyn { return Text("t") },
		func() Dyn { return Nested(copyNode(inner)) },
		func() Dyn { c := *comp; return List(&c) },
	}
	for i, a := range dyns {
		for j, b := range dyns {
			prev, next := NewNode(st, a()), NewNode(st, b())
			var tree Tree
			full, _ := Full(prev)
			if _, err := tree.Apply(full); err != nil {
				t.Fatal(err)
			}
			d, err := Diff(prev, next)
			if err != nil {
				t.Fatal(err)
			}
			if i != j && j != 0 && !strings.Contains(string(d), `"s":`) {
				t.Errorf("%d→%d: type change without statics: %s", i, j, d)
			}
			if d != nil {
				if _, err := tree.Apply(d); err != nil {
					t.Fatalf("%d→%d: %s: %v", i, j, d, err)
				}
			}
			want, _ := HTML(next)
			if got, err := tree.HTML(); err != nil || got != want {
				t.Errorf("%d→%d: %q, %v; want %q", i, j, got, err, want)
			}
		}
	}
}

func FuzzApply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"0":{"k":{"0":[0,{"0":"x"}],"kc":1,"km":true}}}`))
	f.Add([]byte(`{"0":{"0":"a","s":0},"1":{"0":"b","s":0},"p":{"0":["<b>","</b>"]},"s":["<p>","","</p>"]}`))
	f.Add([]byte(`{"0":1,"1":2,"c":{"1":{"0":"x","s":["<a>","</a>"],"r":1},"2":{"0":"y","s":1}}}`))
	f.Add([]byte(`{"0":3,"c":{"3":{"0":{"0":"z","s":0},"p":{"0":["<i>","</i>"]},"s":-1}}}`))
	f.Fuzz(func(t *testing.T, diff []byte) {
		var tree Tree
		// Start from a tree holding a comprehension and a stream.
		if _, err := tree.Apply([]byte(`{"0":{"s":["<li>","</li>"],"k":{"0":{"0":"a"},"1":{"0":"b"},"kc":2}},"1":{"s":["<i>","</i>"],"k":{"kc":0},"stream":["0",[],[]]},"s":["<ul>","","</ul>"]}`)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := tree.Apply(diff); err != nil {
				return
			}
			if _, err := tree.HTML(); err != nil {
				return
			}
		}
	})
}

func TestSpecTemplatesAndComponents(t *testing.T) {
	var tree Tree
	if _, err := tree.Apply([]byte(`{"0":{"0":"a","s":0},"1":{"0":"b","s":0},"p":{"0":["<b>","</b>"]},"s":["<p>","","</p>"]}`)); err != nil {
		t.Fatal(err)
	}
	if html, err := tree.HTML(); err != nil || html != "<p><b>a</b><b>b</b></p>" {
		t.Fatalf("templates: %q, %v", html, err)
	}
	// p is per message: after rendering, the tree holds resolved statics.
	if _, err := tree.Apply([]byte(`{"1":{"0":"c"}}`)); err != nil {
		t.Fatal(err)
	}
	if html, err := tree.HTML(); err != nil || html != "<p><b>a</b><b>c</b></p>" {
		t.Fatalf("after templates: %q, %v", html, err)
	}
	// The spec's component messages, in order. The third sets root key "1",
	// which the root of the first (statics ["<main>","</main>"], one slot)
	// does not render: cid 2 is cached but never shown. The 1.2.12 client
	// does the same. TestGoldenComponents encodes it from a root with two
	// slots instead.
	var comp Tree
	for i, c := range []struct{ diff, html string }{
		{`{"0":1,"c":{"1":{"0":"Hi","s":["<div id=\"card\">","</div>"],"r":1}},"s":["<main>","</main>"]}`,
			`<main><div data-phx-component="1" id="card">Hi</div></main>`},
		{`{"c":{"1":{"0":"Bye"}}}`, `<main><div data-phx-component="1" id="card">Bye</div></main>`},
		{`{"1":2,"c":{"2":{"0":"Yo","s":-1}}}`, `<main><div data-phx-component="1" id="card">Bye</div></main>`},
	} {
		if _, err := comp.Apply([]byte(c.diff)); err != nil {
			t.Fatalf("components %d: %v", i, err)
		}
		if html, err := comp.HTML(); err != nil || html != c.html {
			t.Fatalf("components %d: %q, %v", i, html, err)
		}
	}
	if _, ok := comp.comps["2"]; !ok {
		t.Fatal("cid 2 not cached")
	}
}

func TestRootFlagAndMarkers(t *testing.T) {
	inner := &Node{Fingerprint: 7, Statics: []string{"<b>", "</b>"}, Dynamics: []Dyn{Text("x")}, Root: true}
	top := &Node{Fingerprint: 9, Statics: []string{"<div>", "</div>"}, Dynamics: []Dyn{Nested(inner)}, Root: true}
	b, err := Full(top)
	if err != nil || string(b) != `{"0":{"0":"x","s":["<b>","</b>"],"r":1},"s":["<div>","</div>"]}` {
		t.Fatalf("root flags: %s, %v", b, err)
	}
	// Markers are resolved in next; prev is left alone.
	next := &Node{Fingerprint: 9, Statics: top.Statics, Dynamics: []Dyn{Unchanged()}, Root: true}
	if d, err := Diff(top, next); err != nil || d != nil {
		t.Fatalf("marked: %s, %v", d, err)
	}
	if next.Dynamics[0].Node() != inner || top.Dynamics[0].Node() != inner {
		t.Fatal("marker not resolved to the previous value")
	}
}
