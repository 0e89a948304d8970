package render

import (
	"errors"
	"fmt"
	"html/template"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/parley-go/parley/live/diff"
)

// counter counts calls of the function "count", which returns its argument.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) funcs() template.FuncMap {
	return template.FuncMap{"count": func(name string, v any) any {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[name]++
		return v
	}}
}

func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

type counterPage struct {
	Title string
	Count int
	Items []item
	User  *user
	Show  bool
}

func (p counterPage) Upper() string { return strings.ToUpper(p.Title) }

const trackedText = `<h1>{{count "title" .Title}}</h1>` +
	`<p>{{count "count" .Count}}</p>` +
	`<ul>{{range .Items}}<li>{{key .ID}}{{count "item" .Name}}</li>{{end}}</ul>` +
	`{{with .User}}<b>{{count "user" .Name}}</b>{{end}}` +
	`{{if .Show}}<div>{{count "inner-title" $.Title}} {{count "inner-count" $.Count}}</div>{{end}}` +
	`{{template "t" .Title}}{{count "method" .Upper}}{{count "dot" .}}` +
	`{{define "t"}}<i>{{count "tmpl" .}}</i>{{end}}`

func TestChangeTracking(t *testing.T) {
	c := &counter{n: map[string]int{}}
	tm := Must(New("page").Funcs(c.funcs()).Parse(trackedText))
	p1 := &counterPage{Title: "a", Count: 1, Items: []item{{1, "x"}, {2, "y"}}, User: &user{Name: "u"}, Show: true}
	prev, err := tm.Render(p1, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := diff.Full(prev)
	var client diff.Tree
	if _, err := client.Apply(full); err != nil {
		t.Fatal(err)
	}
	all := c.take()
	for _, k := range []string{"title", "count", "user", "inner-title", "inner-count", "tmpl", "method", "dot"} {
		if all[k] != 1 {
			t.Errorf("full render: %s evaluated %d times", k, all[k])
		}
	}
	if all["item"] != 2 {
		t.Errorf("full render: %d items", all["item"])
	}

	steps := []struct {
		change func(p *counterPage)
		names  []string
		want   map[string]int // evaluations; the rest must be 0
	}{
		// Count changed: only what reads Count (and what reads the whole
		// data, or a method of it) is evaluated.
		{func(p *counterPage) { p.Count = 2 }, []string{"Count"},
			map[string]int{"count": 1, "inner-count": 1, "method": 1, "dot": 1}},
		// Nothing changed.
		{func(p *counterPage) {}, []string{}, map[string]int{"method": 1, "dot": 1}},
		// Title changed: the template call and the if branch's Title.
		{func(p *counterPage) { p.Title = "b" }, []string{"Title"},
			map[string]int{"title": 1, "inner-title": 1, "tmpl": 1, "method": 1, "dot": 1}},
		// Items changed: the whole range is evaluated.
		{func(p *counterPage) { p.Items = append(p.Items, item{3, "z"}) }, []string{"Items"},
			map[string]int{"item": 3, "method": 1, "dot": 1}},
		// The condition changed: its branch is evaluated in full.
		{func(p *counterPage) { p.Show = false }, []string{"Show"}, map[string]int{"method": 1, "dot": 1}},
		{func(p *counterPage) { p.Show = true }, []string{"Show"},
			map[string]int{"inner-title": 1, "inner-count": 1, "method": 1, "dot": 1}},
		{func(p *counterPage) { p.User = &user{Name: "v"} }, []string{"User"},
			map[string]int{"user": 1, "method": 1, "dot": 1}},
	}
	cur := *p1
	for i, st := range steps {
		next := cur
		st.change(&next)
		n, err := tm.Render(&next, Changed(st.names...))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := c.take()
		for k, v := range got {
			if st.want[k] != v {
				t.Errorf("step %d (%v): %s evaluated %d times, want %d", i, st.names, k, v, st.want[k])
			}
		}
		for k, v := range st.want {
			if got[k] != v {
				t.Errorf("step %d (%v): %s evaluated %d times, want %d", i, st.names, k, got[k], v)
			}
		}
		d, err := diff.Diff(prev, n)
		if err != nil {
			t.Fatalf("step %d: diff: %v", i, err)
		}
		if d != nil {
			if _, err := client.Apply(d); err != nil {
				t.Fatalf("step %d: apply: %v", i, err)
			}
		}
		html, _ := client.HTML()
		want, _ := plainTracked(t, &next)
		if html != want {
			t.Fatalf("step %d:\n got %q\nwant %q", i, html, want)
		}
		prev, cur = n, next
	}
}

func plainTracked(t *testing.T, data any) (string, error) {
	var b strings.Builder
	c := &counter{n: map[string]int{}}
	tm := template.Must(template.New("page").Funcs(template.FuncMap{"key": keyStub}).Funcs(c.funcs()).Parse(trackedText))
	err := tm.Execute(&b, data)
	return b.String(), err
}

// TestUnchangedList: with the list unchanged, it is an Unchanged marker and
// the diff is one dynamic.
func TestUnchangedList(t *testing.T) {
	tm := Must(New("p").Parse(`<h1>{{.Title}}</h1><ul>{{range .Rows}}<li id="{{.ID}}">{{key .ID}}{{.Name}}</li>{{end}}</ul>`))
	rows := make([]item, 1000)
	for i := range rows {
		rows[i] = item{i, "row"}
	}
	prev, err := tm.Render(map[string]any{"Title": "a", "Rows": rows}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := tm.Render(map[string]any{"Title": "b", "Rows": rows}, Changed("Title"))
	if err != nil {
		t.Fatal(err)
	}
	if k := next.Dynamics[1].Kind(); k != diff.KindUnchanged {
		t.Fatalf("list is %v, want Unchanged", k)
	}
	d, err := diff.Diff(prev, next)
	if err != nil || string(d) != `{"0":"b"}` {
		t.Fatalf("diff %s, %v", d, err)
	}
}

// TestSharedStatics: statics are the same slices in every render; a branch
// switch resends them, staying on a branch sends only dynamics.
func TestSharedStatics(t *testing.T) {
	tm := Must(New("p").Parse(`<p>{{if .On}}<b>{{.X}}</b>{{else}}<i>{{.X}}</i>!{{end}}</p><ul>{{range .L}}<li>{{.}}</li>{{end}}</ul>`))
	render := func(on bool, x string, l ...string) *diff.Node {
		t.Helper()
		n, err := tm.Render(map[string]any{"On": on, "X": x, "L": l}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a, b := render(true, "1", "x"), render(true, "2", "y", "z")
	if &a.Statics[0] != &b.Statics[0] || a.Fingerprint != b.Fingerprint {
		t.Fatal("root statics not shared")
	}
	if &a.Dynamics[0].Node().Statics[0] != &b.Dynamics[0].Node().Statics[0] {
		t.Fatal("branch statics not shared")
	}
	if &a.Dynamics[1].Comprehension().Statics[0] != &b.Dynamics[1].Comprehension().Statics[0] {
		t.Fatal("range statics not shared")
	}
	checkDiff := func(prev, next *diff.Node, want string) {
		t.Helper()
		d, err := diff.Diff(prev, next)
		if err != nil || string(d) != want {
			t.Fatalf("diff %s, %v; want %s", d, err, want)
		}
	}
	checkDiff(a, b, `{"0":{"0":"2"},"1":{"k":{"0":{"0":"y"},"1":{"0":"z"},"kc":2}}}`)
	c := render(false, "2", "y", "z")
	checkDiff(b, c, `{"0":{"0":"2","s":["<i>","</i>!"]}}`)
	d := render(false, "3", "y", "z")
	checkDiff(c, d, `{"0":{"0":"3"}}`)
}

func TestKeyedRange(t *testing.T) {
	tm := Must(New("p").Parse(`<ul>{{range .}}<li>{{key .ID}}{{.Name}}</li>{{end}}</ul>`))
	a, _ := tm.Render([]item{{1, "Milk"}, {2, "Eggs"}, {3, "Tea"}}, nil)
	b, _ := tm.Render([]item{{4, "Jam"}, {1, "Milk"}, {2, "Eggs"}, {3, "Tea"}}, nil)
	d, err := diff.Diff(a, b)
	if want := `{"0":{"k":{"0":{"0":"Jam"},"1":0,"2":1,"3":2,"kc":4,"km":true}}}`; err != nil || string(d) != want {
		t.Fatalf("diff %s, %v; want %s", d, err, want)
	}
	if k := b.Dynamics[0].Comprehension().Entries[0].Key; k != "4" {
		t.Fatalf("key %q", k)
	}
}

func TestOwnKeyFunc(t *testing.T) {
	own := template.FuncMap{"key": func(v any) string { return "k" + template.HTMLEscapeString(fmt.Sprint(v)) }}
	text := `{{range .}}<li>{{key .ID}}{{.Name}}</li>{{end}}`
	tm := Must(New("p").Funcs(own).Parse(text))
	data := []item{{1, "a"}, {2, "b"}}
	n, err := tm.Render(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	template.Must(template.New("p").Funcs(own).Parse(text)).Execute(&b, data)
	if h, _ := diff.HTML(n); h != b.String() || n.Dynamics[0].Comprehension().Entries[1].Key != "1" {
		t.Fatalf("html %q, want %q", h, b.String())
	}
}

func TestErrors(t *testing.T) {
	// html/template refuses to escape: the error is html/template's.
	tm := Must(New("p").Parse(`<a href="{{.}}`))
	_, err := tm.Render("x", nil)
	var terr *template.Error
	if !errors.As(err, &terr) || !strings.HasPrefix(err.Error(), "render: ") {
		t.Fatalf("escape error: %v", err)
	}
	if _, err2 := tm.Render("x", nil); err2 == nil {
		t.Fatal("compile error not sticky")
	}
	// Execution errors are wrapped.
	tm = Must(New("p").Funcs(testFuncs).Parse(`<p>{{fail .}}</p>`))
	if _, err := tm.Render(false, nil); err != nil {
		t.Fatal(err)
	}
	_, err = tm.Render(true, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "render: ") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("exec error: %v", err)
	}
	// The executor survives the error.
	if _, err := tm.Render(false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Parse(`x`); !errors.Is(err, ErrParsed) {
		t.Fatalf("Parse after Render: %v", err)
	}
	if _, err := New("p").Parse(`{{.X`); err == nil || !strings.HasPrefix(err.Error(), "render: ") {
		t.Fatalf("parse error: %v", err)
	}
	// As in html/template: a body of only definitions renders "", a
	// template never parsed is an error.
	if n, err := Must(New("p").Parse(`{{define "x"}}{{end}}`)).Render(nil, nil); err != nil {
		t.Fatal(err)
	} else if h, _ := diff.HTML(n); h != "" {
		t.Fatalf("html %q", h)
	}
	if _, err := New("p").Render(nil, nil); err == nil || !strings.HasPrefix(err.Error(), "render: ") {
		t.Fatalf("unparsed template: %v", err)
	}
}

func TestParseFS(t *testing.T) {
	fsys := fstest.MapFS{
		"page.html":  {Data: []byte(`<main>{{template "row.html" .}}</main>`)},
		"row.html":   {Data: []byte(`<p>{{.}}</p>`)},
		"other.html": {Data: []byte(`unused`)},
	}
	tm, err := New("page.html").ParseFS(fsys, "*.html")
	if err != nil {
		t.Fatal(err)
	}
	n, err := tm.Render("<x>", nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := diff.HTML(n); h != "<main><p>&lt;x&gt;</p></main>" {
		t.Fatalf("html %q", h)
	}
}

// TestConcurrentRender renders from many goroutines (run with -race).
func TestConcurrentRender(t *testing.T) {
	tm := mustParse(t, corpus[len(corpus)-4].text) // "page"
	want := make([]string, len(pages))
	for i, p := range pages {
		want[i], _ = plainExec(t, corpus[len(corpus)-4].text, p)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (g + i) % len(pages)
				n, err := tm.Render(pages[k], nil)
				if err != nil {
					t.Error(err)
					return
				}
				if h, _ := diff.HTML(n); h != want[k] {
					t.Errorf("page %d: %q", k, h)
					return
				}
			}
		})
	}
	wg.Wait()
}
