package render

import (
	"math"
	"testing"
)

func TestSnapshot(t *testing.T) {
	tm := mustParse(t, `{{.A}}`)
	type row struct {
		N int
		S string
		F float64
	}
	base := func() map[string]any {
		return map[string]any{"A": "x", "Rows": []row{{1, "a", 0}}, "flash": map[string]string{"info": "hi"}, "Nil": nil, "Arr": [2]int{1, 2}}
	}
	snap := func(m map[string]any) *Inputs {
		t.Helper()
		in, ok := tm.Snapshot(m)
		if !ok {
			t.Fatalf("snapshot of %v refused", m)
		}
		return in
	}
	a := snap(base())
	if b := snap(base()); !a.Equal(b) || a.Hash() != b.Hash() {
		t.Fatal("equal assigns: inputs differ")
	}
	// The snapshot is a copy: changing the assigns in place changes
	// nothing in it.
	m := base()
	in := snap(m)
	m["Rows"].([]row)[0].S = "changed"
	m["flash"].(map[string]string)["info"] = "changed"
	if !in.Equal(a) {
		t.Fatal("the snapshot follows changes of the assigns")
	}
	edits := map[string]func(m map[string]any){
		"string":        func(m map[string]any) { m["A"] = "y" },
		"type":          func(m map[string]any) { m["A"] = 1 },
		"row field":     func(m map[string]any) { m["Rows"].([]row)[0].S = "b" },
		"minus zero":    func(m map[string]any) { m["Rows"].([]row)[0].F = math.Copysign(0, -1) },
		"row added":     func(m map[string]any) { m["Rows"] = append(m["Rows"].([]row), row{}) },
		"nil slice":     func(m map[string]any) { m["Rows"] = []row(nil) },
		"empty slice":   func(m map[string]any) { m["Rows"] = []row{} },
		"flash":         func(m map[string]any) { m["flash"] = map[string]string{"info": "ho"} },
		"flash key":     func(m map[string]any) { m["flash"] = map[string]string{"error": "hi"} },
		"nil to value":  func(m map[string]any) { m["Nil"] = 0 },
		"array":         func(m map[string]any) { m["Arr"] = [2]int{2, 1} },
		"assign added":  func(m map[string]any) { m["B"] = "" },
		"assign gone":   func(m map[string]any) { delete(m, "A") },
		"renamed":       func(m map[string]any) { m["B"] = m["A"]; delete(m, "A") },
		"typed nil":     func(m map[string]any) { m["Nil"] = []string(nil) },
		"string vs int": func(m map[string]any) { m["A"] = []string{"x"} },
	}
	for name, edit := range edits {
		m := base()
		edit(m)
		if b := snap(m); a.Equal(b) || b.Equal(a) {
			t.Errorf("%s: inputs equal", name)
		}
	}
	x := 1
	for name, v := range map[string]any{"pointer": &x, "slice of pointers": []*int{&x}, "map": map[string]int{}, "func": func() {}, "any slice": []any{1}} {
		if _, ok := tm.Snapshot(map[string]any{"V": v}); ok {
			t.Errorf("%s: snapshot accepted", name)
		}
	}
}

// TestMatches: Matches of the live assigns agrees with Equal of a new
// snapshot.
func TestMatches(t *testing.T) {
	tm := mustParse(t, `{{.A}}`)
	type row struct {
		N int
		S string
		F float64
	}
	base := func() map[string]any {
		return map[string]any{"A": "x", "Rows": []row{{1, "a", 0}}, "flash": map[string]string{"info": "hi"}, "Nil": nil, "Typed": []int(nil), "F": 0.0}
	}
	in, ok := tm.Snapshot(base())
	if !ok {
		t.Fatal("snapshot refused")
	}
	if !in.Matches(base()) {
		t.Fatal("equal assigns do not match")
	}
	for name, edit := range map[string]func(m map[string]any){
		"string":      func(m map[string]any) { m["A"] = "y" },
		"type":        func(m map[string]any) { m["A"] = 1 },
		"row":         func(m map[string]any) { m["Rows"].([]row)[0].N = 2 },
		"row count":   func(m map[string]any) { m["Rows"] = []row{} },
		"nil rows":    func(m map[string]any) { m["Rows"] = []row(nil) },
		"minus zero":  func(m map[string]any) { m["F"] = math.Copysign(0, -1) },
		"flash":       func(m map[string]any) { m["flash"] = map[string]string{} },
		"nil":         func(m map[string]any) { m["Nil"] = 1 },
		"typed nil":   func(m map[string]any) { m["Typed"] = []int{} },
		"other typed": func(m map[string]any) { m["Typed"] = []string(nil) },
		"added":       func(m map[string]any) { m["B"] = 1 },
		"removed":     func(m map[string]any) { delete(m, "A") },
		"pointer":     func(m map[string]any) { x := 1; m["A"] = &x },
	} {
		m := base()
		edit(m)
		if in.Matches(m) {
			t.Errorf("%s: matches", name)
		}
	}
}
