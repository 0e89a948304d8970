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

// rowsNested is rows whose name sits in a nested node: one statics array
// repeated in every row, which ShareTemplates sends once.
func rowsNested(n int) *Node {
	c := NewComprehension(rowStatics)
	c.Entries = make([]Entry, n)
	for i := range c.Entries {
		id := strconv.Itoa(i)
		name := NewNode([]string{"<span class=\"name\">", "</span>"}, Text("Row number "+id))
		c.Entries[i] = Entry{Key: id, Dynamics: []Dyn{Text(id), Nested(name)}}
	}
	return page("Title", List(c))
}

func BenchmarkFull1000NestedRows(b *testing.B) {
	for _, share := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "shared"}[share], func(b *testing.B) {
			n := rowsNested(1000)
			enc := Encoder{ShareTemplates: share}
			var d []byte
			for b.Loop() {
				var err error
				if d, err = enc.AppendFull(d[:0], n); err != nil {
					b.Fatal(err)
				}
			}
			report(b, d)
		})
	}
}

// One of 100 components changes: "c" holds one small diff.
func BenchmarkDiffOneComponentOf100(b *testing.B) {
	render := func(changed int) *Node {
		dyns := make([]Dyn, 100)
		st := make([]string, 101)
		comps := make(map[int32]*Node, 100)
		for i := range dyns {
			cid := int32(i + 1)
			dyns[i] = Component(cid)
			text := "Card " + strconv.Itoa(i)
			if i == changed {
				text += " (edited)"
			}
			comps[cid] = NewNode([]string{"<div class=\"card\">", "</div>"}, Text(text))
		}
		n := NewNode(st, dyns...)
		n.Components = comps
		return n
	}
	prev, next := render(-1), render(50)
	var d []byte
	for b.Loop() {
		var err error
		if d, err = AppendDiff(d[:0], prev, next); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d)
}
