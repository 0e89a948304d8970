package render_test

import (
	"fmt"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// A view keeps one Memo across its renders: in a changed list, only the
// items that differ from the previous render's are evaluated.
func ExampleTemplate_RenderMemo() {
	t := render.Must(render.New("list").Parse(
		`<ul>{{range .Rows}}{{key .ID}}<li>{{.Name}}: {{.Count}}</li>{{end}}</ul>`))
	type row struct {
		ID, Count int
		Name      string
	}
	rows := []row{{1, 10, "web"}, {2, 20, "db"}, {3, 30, "cache"}}
	var memo render.Memo
	prev, _ := t.RenderMemo(map[string]any{"Rows": rows}, nil, &memo)

	rows[1].Count++ // changed in place; rows 1 and 3 are reused as rendered
	next, _ := t.RenderMemo(map[string]any{"Rows": rows}, render.Changed("Rows"), &memo)
	d, _ := diff.Diff(prev, next)
	fmt.Printf("%s\n", d)
	html, _ := diff.HTML(next)
	fmt.Println(html)
	// Output:
	// {"0":{"k":{"1":{"1":"21"},"kc":3}}}
	// <ul><li>web: 10</li><li>db: 21</li><li>cache: 30</li></ul>
}
