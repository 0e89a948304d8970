package render

import (
	"html/template"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-go/parley/live/diff"
)

// FuzzData feeds random strings into every context of a fixed template and
// checks the render, and the diff between two renders, against
// html/template.
func FuzzData(f *testing.F) {
	for _, v := range xssVectors {
		f.Add(v, "x")
	}
	f.Add("", "")
	f.Add("\x00", "\xff")
	tm := mustParse(f, xssTemplate)
	f.Fuzz(func(t *testing.T, a, b string) {
		d1 := map[string]any{"S": a, "L": []string{a, b}}
		d2 := map[string]any{"S": b, "L": []string{b}}
		w1, err1 := plainExec(t, xssTemplate, d1)
		w2, err2 := plainExec(t, xssTemplate, d2)
		if err1 != nil || err2 != nil {
			t.Fatalf("html/template: %v %v", err1, err2)
		}
		var memo Memo // per-item tracking of the range over L
		n1, err := tm.RenderMemo(d1, nil, &memo)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := diff.HTML(n1); h != w1 {
			t.Fatalf("\n got %q\nwant %q", h, w1)
		}
		full, err := diff.Full(n1)
		if err != nil {
			t.Fatal(err)
		}
		changed := Changed("L")
		if a != b {
			changed["S"] = struct{}{}
		}
		n2, err := tm.RenderMemo(d2, changed, &memo)
		if err != nil {
			t.Fatal(err)
		}
		d, err := diff.Diff(n1, n2)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := diff.HTML(n2); h != w2 {
			t.Fatalf("\n got %q\nwant %q", h, w2)
		}
		var client diff.Tree
		if _, err := client.Apply(full); err != nil {
			t.Fatal(err)
		}
		if d != nil {
			if _, err := client.Apply(d); err != nil {
				t.Fatal(err)
			}
		}
		if h, err := client.HTML(); err != nil || h != wireUTF8(w2) {
			t.Fatalf("client: %v\n got %q\nwant %q", err, h, wireUTF8(w2))
		}
	})
}

var bigNumber = regexp.MustCompile(`[0-9]{3}`)

// FuzzTemplate compiles random template texts: whenever html/template
// parses and executes one, render must give the same bytes.
func FuzzTemplate(f *testing.F) {
	for _, tc := range corpus {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 400 || bigNumber.MatchString(text) || strings.Count(text, "template") > 4 {
			return // keep executions short
		}
		pt, err := template.New("p").Funcs(plainFuncs()).Parse(text)
		if err != nil {
			return
		}
		var b strings.Builder
		if err := pt.Execute(&b, pages[0]); err != nil {
			return
		}
		want := b.String()
		tm, err := New("p").Funcs(testFuncs).Parse(text)
		if err != nil {
			t.Fatalf("render refuses what html/template parses: %v", err)
		}
		n, err := tm.Render(pages[0], nil)
		if err != nil {
			t.Fatalf("render fails where html/template does not: %v", err)
		}
		if h, err := diff.HTML(n); err != nil || h != want {
			t.Fatalf("%v\n got %q\nwant %q", err, h, want)
		}
		if _, err := diff.Full(n); err != nil {
			t.Fatal(err)
		}
	})
}
