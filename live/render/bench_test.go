package render

import (
	"strconv"
	"testing"

	"github.com/parley-go/parley/live/diff"
)

type benchRow struct {
	ID   int
	Name string
}

type benchPage struct {
	Title string
	Rows  []benchRow
}

const benchPageText = `<main><h1>{{.Title}}</h1><ul>{{range .Rows}}<li id="row-{{.ID}}">{{key .ID}}{{.Name}}</li>{{end}}</ul></main>`

func benchRows(n, edited int) []benchRow {
	rows := make([]benchRow, n)
	for i := range rows {
		rows[i] = benchRow{i, "Row number " + strconv.Itoa(i)}
		if i == edited {
			rows[i].Name += " (edited)"
		}
	}
	return rows
}

func reportDiff(b *testing.B, d []byte) { b.ReportMetric(float64(len(d)), "bytes/diff") }

// A counter click: render with the one changed assign, then diff.
func BenchmarkRenderDiffCounter(b *testing.B) {
	tm := Must(New("c").Parse(`<div><h1>Count: {{.Count}}</h1><button phx-click="inc">+</button></div>`))
	type counter struct{ Count int }
	prev, err := tm.Render(counter{0}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var d []byte
	i := 0
	for b.Loop() {
		i++
		next, err := tm.Render(counter{i}, Changed("Count"))
		if err != nil {
			b.Fatal(err)
		}
		if d, err = diff.AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
		prev = next
	}
	reportDiff(b, d)
}

// The title changes on a page that also shows an unchanged 1,000-row list:
// with change tracking the list is Unchanged, never evaluated or compared.
func BenchmarkRenderDiffTitleTracked(b *testing.B) {
	benchTitle(b, Changed("Title"))
}

// The same without change tracking: the list is rendered and compared.
func BenchmarkRenderDiffTitleUntracked(b *testing.B) {
	benchTitle(b, nil)
}

func benchTitle(b *testing.B, changed Changes) {
	tm := Must(New("p").Parse(benchPageText))
	rows := benchRows(1000, -1)
	prev, err := tm.Render(&benchPage{"Title 0", rows}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var d []byte
	i := 0
	for b.Loop() {
		i++
		next, err := tm.Render(&benchPage{"Title " + strconv.Itoa(i&1), rows}, changed)
		if err != nil {
			b.Fatal(err)
		}
		if d, err = diff.AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
		prev = next
	}
	reportDiff(b, d)
}

// One row of the 1,000 changed, without a memo: the list is rendered and
// compared.
func BenchmarkRenderDiffOneRow(b *testing.B) { benchOneRow(b, nil) }

// The same with a memo (as a live view renders): only the changed row is
// evaluated, the others are reused from the previous render.
func BenchmarkRenderDiffOneRowMemo(b *testing.B) { benchOneRow(b, &Memo{}) }

func benchOneRow(b *testing.B, memo *Memo) {
	tm := Must(New("p").Parse(benchPageText))
	// One field of one row changes per render, in place, as a view does.
	rows := benchRows(1000, -1)
	names := [2]string{rows[500].Name, rows[500].Name + " (edited)"}
	prev, err := tm.RenderMemo(&benchPage{"Title", rows}, nil, memo)
	if err != nil {
		b.Fatal(err)
	}
	var d []byte
	i := 0
	for b.Loop() {
		i++
		rows[500].Name = names[i&1]
		next, err := tm.RenderMemo(&benchPage{"Title", rows}, Changed("Rows"), memo)
		if err != nil {
			b.Fatal(err)
		}
		if d, err = diff.AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
		prev = next
	}
	reportDiff(b, d)
}

// The join: a full render of the page and its 1,000 rows, encoded.
func BenchmarkRenderFull1000Rows(b *testing.B) {
	tm := Must(New("p").Parse(benchPageText))
	data := &benchPage{"Title", benchRows(1000, -1)}
	var d []byte
	for b.Loop() {
		n, err := tm.Render(data, nil)
		if err != nil {
			b.Fatal(err)
		}
		if d, err = diff.AppendFull(d[:0], n); err != nil {
			b.Fatal(err)
		}
	}
	reportDiff(b, d)
}

// html/template alone on the same page, for scale.
func BenchmarkHTMLTemplate1000Rows(b *testing.B) {
	tm, err := plainTemplate(benchPageText)
	if err != nil {
		b.Fatal(err)
	}
	data := &benchPage{"Title", benchRows(1000, -1)}
	var buf discardCounter
	for b.Loop() {
		if err := tm.Execute(&buf, data); err != nil {
			b.Fatal(err)
		}
	}
}
