package render

import (
	"fmt"
	"html/template"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/live/diff"
)

// trackRow is a plain item: tracked per item.
type trackRow struct {
	ID    int
	Name  string
	Score float64
	Tags  [2]string
}

type trackPage struct {
	Title string
	Sel   int
	Rows  []trackRow
}

// trackTemplates are range bodies over trackPage.Rows that per-item
// tracking covers: keyed and by index, reading only the item, or the item
// and another assign, through a called template, in an attribute.
var trackTemplates = map[string]string{
	"keyed":    `<h1>{{.Title}}</h1><ul>{{range .Rows}}<li id="r{{.ID}}">{{key .ID}}{{.Name}} {{.Score}} {{index .Tags 1}}</li>{{end}}</ul>`,
	"index":    `<ul>{{range .Rows}}<li>{{.ID}}: {{.Name}}</li>{{end}}</ul>`,
	"dollar":   `<ul>{{range $r := .Rows}}{{key $r.ID}}<li class="{{if eq $r.ID $.Sel}}sel{{end}}">{{$r.Name}}</li>{{end}}</ul>`,
	"template": `{{define "row"}}<td>{{.Name}}</td><td>{{printf "%.1f" .Score}}</td>{{end}}<table>{{range .Rows}}{{key .ID}}<tr>{{template "row" .}}</tr>{{end}}</table>`,
	"key-last": `<p>{{range .Rows}}<b title="{{.Name}}">{{.ID}}</b>{{key .Name}}{{end}}</p>`,
	"if-range": `{{if .Title}}<ul>{{range .Rows}}{{key .ID}}<li>{{.Name}}</li>{{end}}</ul>{{else}}none{{end}}`,
}

// tracked renders text with data through a memo and returns the tree and
// how many items the first tracked range evaluated (-1: not tracked).
func renderTracked(t *testing.T, tm *Template, memo *Memo, data any, ch Changes) (*diff.Node, int) {
	t.Helper()
	n, err := tm.RenderMemo(data, ch, memo)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if len(memo.loops) == 0 {
		return n, -1
	}
	return n, memo.loops[0].fresh
}

func TestTrackEvaluatesOnlyChangedItems(t *testing.T) {
	tm := mustParse(t, trackTemplates["keyed"])
	rows := []trackRow{{1, "a", 1, [2]string{"x", "y"}}, {2, "b", 2, [2]string{}}, {3, "c", 3, [2]string{}}}
	var memo Memo
	prev, fresh := renderTracked(t, tm, &memo, &trackPage{Title: "t", Rows: rows}, nil)
	if fresh != 3 {
		t.Fatalf("full render evaluated %d items, want 3", fresh)
	}
	steps := []struct {
		name  string
		edit  func([]trackRow) []trackRow
		fresh int
	}{
		{"nothing", func(r []trackRow) []trackRow { return r }, 0},
		{"one field", func(r []trackRow) []trackRow { r[1].Name = "B"; return r }, 1},
		{"array element", func(r []trackRow) []trackRow { r[0].Tags[1] = "z"; return r }, 1},
		{"minus zero", func(r []trackRow) []trackRow { r[2].Score = 0; return r }, 1},
		{"zero to minus zero", func(r []trackRow) []trackRow { r[2].Score = math.Copysign(0, -1); return r }, 1},
		{"insert first", func(r []trackRow) []trackRow { return slices.Insert(r, 0, trackRow{ID: 9, Name: "new"}) }, 1},
		// A moved item met before the shift is known costs an evaluation
		// (at most two of them are evaluated before looking everywhere).
		{"move last to first", func(r []trackRow) []trackRow { return append([]trackRow{r[len(r)-1]}, r[:len(r)-1]...) }, 1},
		{"delete", func(r []trackRow) []trackRow { return slices.Delete(r, 1, 2) }, 0},
		{"reverse", func(r []trackRow) []trackRow { slices.Reverse(r); return r }, 2},
		{"reverse again", func(r []trackRow) []trackRow { slices.Reverse(r); return r }, 2},
		{"equal copy", func(r []trackRow) []trackRow { return slices.Clone(r) }, 0},
		{"rebuilt strings", func(r []trackRow) []trackRow {
			c := slices.Clone(r)
			for i := range c {
				c[i].Name = strings.Clone(c[i].Name + "")
			}
			return c
		}, 0},
	}
	for _, st := range steps {
		rows = st.edit(rows)
		data := &trackPage{Title: "t", Rows: rows}
		next, fresh := renderTracked(t, tm, &memo, data, Changed("Rows"))
		if fresh != st.fresh {
			t.Errorf("%s: evaluated %d items, want %d", st.name, fresh, st.fresh)
		}
		checkAgainstFull(t, tm, st.name, prev, next, data)
		prev = next
	}
}

// checkAgainstFull checks that next, diffed against prev and applied to a
// client holding prev, gives the HTML of a fresh full render of data (and
// html/template's).
func checkAgainstFull(t *testing.T, tm *Template, what string, prev, next *diff.Node, data any) {
	t.Helper()
	var client diff.Tree
	full, err := diff.Full(prev)
	if err != nil {
		t.Fatalf("%s: full: %v", what, err)
	}
	if _, err := client.Apply(full); err != nil {
		t.Fatalf("%s: apply full: %v", what, err)
	}
	d, err := diff.Diff(prev, next)
	if err != nil {
		t.Fatalf("%s: diff: %v", what, err)
	}
	if d != nil {
		if _, err := client.Apply(d); err != nil {
			t.Fatalf("%s: apply %s: %v", what, d, err)
		}
	}
	got, err := client.HTML()
	if err != nil {
		t.Fatalf("%s: client HTML: %v", what, err)
	}
	fresh, err := tm.Render(data, nil)
	if err != nil {
		t.Fatalf("%s: fresh render: %v", what, err)
	}
	want, err := diff.HTML(fresh)
	if err != nil {
		t.Fatalf("%s: fresh HTML: %v", what, err)
	}
	if got != want {
		t.Fatalf("%s: diff %s\n got %q\nwant %q", what, d, got, want)
	}
	if h, err := diff.HTML(next); err != nil || h != want {
		t.Fatalf("%s: next tree: %v\n got %q\nwant %q", what, err, h, want)
	}
}

// TestTrackProperty: random edits, inserts, deletes and moves of the items
// (and changes of the other assigns); each render with a memo, diffed
// against the previous tree and applied by the client, equals a fresh full
// render.
func TestTrackProperty(t *testing.T) {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range trackTemplates {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			tm := mustParse(t, trackTemplates[name])
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 14))
				var memo Memo
				nextID := 0
				newRow := func() trackRow {
					nextID++
					// Few distinct names and scores: equal items and
					// repeated keys (key-last keys by name) happen.
					return trackRow{ID: nextID, Name: fmt.Sprint("n", r.IntN(4)), Score: float64(r.IntN(3)) - 1}
				}
				var rows []trackRow
				for range r.IntN(6) {
					rows = append(rows, newRow())
				}
				data := &trackPage{Title: "t", Rows: rows}
				prev, _ := renderTracked(t, tm, &memo, data, nil)
				evaluated, total := 0, 0
				for step := range 40 {
					rows = slices.Clone(rows)
					ch := Changed("Rows")
					for range 1 + r.IntN(3) {
						switch op := r.IntN(9); {
						case op == 0 || len(rows) == 0:
							rows = slices.Insert(rows, r.IntN(len(rows)+1), newRow())
						case op == 1:
							i := r.IntN(len(rows))
							rows = slices.Delete(rows, i, i+1+r.IntN(len(rows)-i))
						case op == 2:
							i, j := r.IntN(len(rows)), r.IntN(len(rows))
							rows[i], rows[j] = rows[j], rows[i]
						case op == 3:
							i := r.IntN(len(rows))
							it := rows[i]
							rows = slices.Insert(slices.Delete(rows, i, i+1), r.IntN(len(rows)), it)
						case op == 4:
							rows[r.IntN(len(rows))].Score = math.Copysign(0, float64(r.IntN(2))-0.5)
						case op == 5:
							rows[r.IntN(len(rows))].Tags[r.IntN(2)] = fmt.Sprint(r.IntN(3))
						case op == 6:
							rows = append(rows, rows[r.IntN(len(rows))]) // an equal item, a repeated key
						case op == 7:
							data.Sel = r.IntN(nextID + 1)
							ch["Sel"] = struct{}{}
						default:
							rows[r.IntN(len(rows))].Name = fmt.Sprint("n", r.IntN(4))
						}
					}
					if r.IntN(10) == 0 {
						data.Title = fmt.Sprint("t", step)
						ch["Title"] = struct{}{}
					}
					data.Rows = rows
					next, fresh := renderTracked(t, tm, &memo, data, ch)
					if fresh >= 0 {
						evaluated += fresh
					}
					total += len(rows)
					checkAgainstFull(t, tm, fmt.Sprintf("seed %d step %d", seed, step), prev, next, data)
					prev = next
				}
				if evaluated >= total {
					t.Errorf("seed %d: %d of %d items evaluated: no tracking", seed, evaluated, total)
				}
			}
		})
	}
}

// A plain item type with a method: the method could read anything, so the
// range is not tracked.
type rowWithMethod struct{ Name string }

var clock atomic.Int64

func (r rowWithMethod) Age() int64 { return clock.Load() }

// TestTrackFallsBack: bodies and items that per-item tracking cannot
// prove unchanged are evaluated in full, and render correctly.
func TestTrackFallsBack(t *testing.T) {
	var global atomic.Int64
	funcs := template.FuncMap{"global": func() int64 { return global.Load() }}
	type listPage struct {
		Items any
		Other int
	}
	type withSlice struct {
		Tags []string
		N    int
	}
	type withPointer struct{ P *int }
	type withIface struct{ V any }
	one, two := 1, 2
	cases := []struct {
		name, text string
		v1, v2     any // Items before and after; v2 is changed in a way only a full evaluation sees
		mutate     func()
	}{
		{"user function reading a global", `{{range .Items}}{{key .}}<i>{{.}}:{{global}}</i>{{end}}`,
			[]int{1, 2}, []int{1, 2}, func() { global.Add(1) }},
		{"method reading a global", `{{range .Items}}<i>{{.Name}} {{.Age}}</i>{{end}}`,
			[]rowWithMethod{{"a"}}, []rowWithMethod{{"a"}}, func() { clock.Add(1) }},
		{"slice field as key", `{{range .Items}}{{key .Tags}}<i>{{.Tags}} {{.N}}</i>{{end}}`,
			[]withSlice{{[]string{"a"}, 1}, {[]string{"a"}, 2}}, []withSlice{{[]string{"a"}, 2}, {[]string{"a"}, 1}}, nil},
		{"pointer items", `{{range .Items}}<i>{{.P}}</i>{{end}}`,
			[]withPointer{{&one}}, []withPointer{{&one}}, func() { one = 7 }},
		{"interface items", `{{range .Items}}<i>{{.V}}</i>{{end}}`,
			[]withIface{{1}}, []withIface{{"1"}}, nil},
		{"pointer elements", `{{range .Items}}<i>{{.}}</i>{{end}}`,
			[]*int{&two}, []*int{&two}, func() { two = 8 }},
		{"whole dollar", `{{range .Items}}<i>{{.}} {{$}}</i>{{end}}`,
			[]int{1}, []int{1}, nil},
		{"index variable", `{{range $i, $v := .Items}}<i>{{$i}}={{$v}}</i>{{end}}`,
			[]int{1, 2}, []int{2, 1}, nil},
		{"map items", `{{range .Items}}<i>{{.a}}</i>{{end}}`,
			[]map[string]int{{"a": 1}}, []map[string]int{{"a": 2}}, nil},
		{"break", `{{range .Items}}{{if eq . 2}}{{break}}{{end}}<i>{{.}}</i>{{end}}`,
			[]int{1, 2, 3}, []int{2, 1, 3}, nil},
		{"else", `{{range .Items}}<i>{{.}}</i>{{else}}none{{end}}`,
			[]int{1}, []int{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := Must(New("p").Funcs(funcs).Parse(tc.text))
			var memo Memo
			d1 := &listPage{Items: tc.v1}
			prev, err := tm.RenderMemo(d1, nil, &memo)
			if err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate()
			}
			d2 := &listPage{Items: tc.v2}
			next, err := tm.RenderMemo(d2, Changed("Items"), &memo)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstFull(t, tm, tc.name, prev, next, d2)
		})
	}
}

// TestTrackOtherAssign: a body reading another assign evaluates every
// item when that assign changes, and only changed items otherwise.
func TestTrackOtherAssign(t *testing.T) {
	tm := mustParse(t, trackTemplates["dollar"])
	rows := []trackRow{{ID: 1, Name: "a"}, {ID: 2, Name: "b"}}
	var memo Memo
	data := &trackPage{Sel: 1, Rows: rows}
	prev, _ := renderTracked(t, tm, &memo, data, nil)
	data.Sel = 2
	next, fresh := renderTracked(t, tm, &memo, data, Changed("Sel"))
	if fresh != 2 {
		t.Fatalf("Sel changed: %d items evaluated, want 2", fresh)
	}
	checkAgainstFull(t, tm, "sel", prev, next, data)
	prev = next
	rows[0].Name = "A"
	next, fresh = renderTracked(t, tm, &memo, data, Changed("Rows"))
	if fresh != 1 {
		t.Fatalf("one row changed: %d items evaluated, want 1", fresh)
	}
	checkAgainstFull(t, tm, "row", prev, next, data)
	// The range not rendered while Sel changes (the title hides it), then
	// shown again: its memo must not be reused.
	tm2 := mustParse(t, `{{if .Title}}<ul>{{range $r := .Rows}}{{key $r.ID}}<li>{{if eq $r.ID $.Sel}}*{{end}}{{$r.Name}}</li>{{end}}</ul>{{end}}`)
	var memo2 Memo
	data = &trackPage{Title: "on", Sel: 1, Rows: rows}
	prev, _ = renderTracked(t, tm2, &memo2, data, nil)
	data.Title = ""
	next, _ = renderTracked(t, tm2, &memo2, data, Changed("Title"))
	checkAgainstFull(t, tm2, "hidden", prev, next, data)
	prev = next
	data.Sel = 2
	next, _ = renderTracked(t, tm2, &memo2, data, Changed("Sel"))
	checkAgainstFull(t, tm2, "hidden, sel", prev, next, data)
	prev = next
	data.Title = "on"
	next, _ = renderTracked(t, tm2, &memo2, data, Changed("Title"))
	checkAgainstFull(t, tm2, "shown again", prev, next, data)
}

// TestTrackMemoAfterError: a render that fails leaves the memo unused by
// the next render, which is then complete and correct.
func TestTrackMemoAfterError(t *testing.T) {
	tm := mustParse(t, `<ul>{{range .Rows}}{{key .ID}}<li>{{.Name}} {{index .Tags .ID}}</li>{{end}}</ul>`)
	rows := []trackRow{{ID: 0, Name: "a"}, {ID: 1, Name: "b"}}
	var memo Memo
	data := &trackPage{Rows: rows}
	prev, _ := renderTracked(t, tm, &memo, data, nil)
	rows[1].ID = 5 // index out of range: the render fails
	if _, err := tm.RenderMemo(data, Changed("Rows"), &memo); err == nil {
		t.Fatal("no error for an index out of range")
	}
	rows[1].ID = 1
	rows[0].Name = "A"
	next, fresh := renderTracked(t, tm, &memo, data, Changed("Rows"))
	if fresh != 2 {
		t.Errorf("after a failed render %d items evaluated, want all 2", fresh)
	}
	checkAgainstFull(t, tm, "after error", prev, next, data)
	// Another template resets the memo.
	other := mustParse(t, `<ol>{{range .Rows}}{{key .ID}}<li>{{.ID}}</li>{{end}}</ol>`)
	n, fresh := renderTracked(t, other, &memo, data, Changed("Rows"))
	if fresh != 2 {
		t.Errorf("other template: %d items evaluated, want 2", fresh)
	}
	if h, _ := diff.HTML(n); h != "<ol><li>0</li><li>1</li></ol>" {
		t.Errorf("other template: %q", h)
	}
}

type embedsMethod struct {
	rowWithMethod
	N int
}

// TestTrackPromotedMethod: an unnamed item type gets methods from an
// embedded field: not tracked.
func TestTrackPromotedMethod(t *testing.T) {
	tm := mustParse(t, `{{range .Items}}<i>{{.N}} {{.Age}}</i>{{end}}`)
	type page struct{ Items []struct{ embedsMethod } }
	var memo Memo
	data := &page{Items: []struct{ embedsMethod }{{embedsMethod{N: 1}}}}
	prev, _ := renderTracked(t, tm, &memo, data, nil)
	clock.Add(1)
	next, fresh := renderTracked(t, tm, &memo, data, Changed("Items"))
	if fresh != -1 {
		t.Errorf("items with a promoted method tracked (%d evaluated)", fresh)
	}
	checkAgainstFull(t, tm, "promoted", prev, next, data)
}
