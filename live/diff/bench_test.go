package diff

import (
	"strconv"
	"testing"
)

var (
	pageStatics = []string{"<main><h1>", "</h1><ul>", "</ul></main>"}
	rowStatics  = []string{"<li id=\"row-", "\">", "</li>"}
)

func rows(n int, changed int) *Comprehension {
	c := NewComprehension(rowStatics)
	c.Entries = make([]Entry, n)
	for i := range c.Entries {
		id := strconv.Itoa(i)
		name := "Row number " + id
		if i == changed {
			name += " (edited)"
		}
		c.Entries[i] = Entry{Key: id, Dynamics: []Dyn{Text(id), Text(name)}}
	}
	return c
}

func page(title string, list Dyn) *Node { return NewNode(pageStatics, Text(title), list) }

func report(b *testing.B, d []byte) {
	b.ReportMetric(float64(len(d)), "bytes/diff")
}

// The engine marks the list Unchanged: the diff never looks at its rows.
func BenchmarkDiffTitleListMarkedUnchanged(b *testing.B) {
	prev := page("Title 0", List(rows(1000, -1)))
	next := page("Title 1", Unchanged())
	var d []byte
	for b.Loop() {
		next.Dynamics[1] = Unchanged() // Diff replaced it with the list
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}

// The engine reuses the previous comprehension pointer.
func BenchmarkDiffTitleListShared(b *testing.B) {
	list := List(rows(1000, -1))
	prev := page("Title 0", list)
	next := page("Title 1", list)
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}

// The engine re-evaluated the list into a new, equal comprehension: every
// row is compared.
func BenchmarkDiffTitleListRebuilt(b *testing.B) {
	prev := page("Title 0", List(rows(1000, -1)))
	next := page("Title 1", List(rows(1000, -1)))
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}

// One row of the 1,000 changed.
func BenchmarkDiffOneRowChanged(b *testing.B) {
	prev := page("Title", List(rows(1000, -1)))
	next := page("Title", List(rows(1000, 500)))
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}

// A row inserted at the top of the 1,000: every other row moves.
func BenchmarkDiffRowPrepended(b *testing.B) {
	prev := page("Title", List(rows(1000, -1)))
	c := rows(1000, -1)
	c.Entries = append([]Entry{{Key: "new", Dynamics: []Dyn{Text("new"), Text("New row")}}}, c.Entries...)
	next := page("Title", List(c))
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}

func BenchmarkFull1000Rows(b *testing.B) {
	n := page("Title", List(rows(1000, -1)))
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendFull(d[:0], n); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}
