package render_test

import (
	"fmt"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

func Example() {
	t := render.Must(render.New("counter").Parse(
		`<div><h1 title="{{.Title}}">Count: {{.Count}}</h1>` +
			`<ul>{{range .Items}}<li>{{key .}}{{.}}</li>{{end}}</ul></div>`))

	type page struct {
		Title string
		Count int
		Items []string
	}
	v1 := page{Title: "<Counter>", Count: 0, Items: []string{"a", "b"}}

	// Join: a full render (nil changes), statics included.
	prev, _ := t.Render(v1, nil)
	full, _ := diff.Full(prev)
	fmt.Printf("%s\n", full)

	// Count changed: Title and Items are not even evaluated, and the diff
	// carries one dynamic.
	v2 := v1
	v2.Count = 1
	next, _ := t.Render(v2, render.Changed("Count"))
	d, _ := diff.Diff(prev, next)
	fmt.Printf("%s\n", d)

	// An item prepended: keyed entries move.
	v3 := v2
	v3.Items = []string{"c", "a", "b"}
	last, _ := t.Render(v3, render.Changed("Items"))
	d, _ = diff.Diff(next, last)
	fmt.Printf("%s\n", d)
	// Output:
	// {"0":"&lt;Counter&gt;","1":"0","2":{"s":["<li>","</li>"],"k":{"0":{"0":"a"},"1":{"0":"b"},"kc":2}},"s":["<div><h1 title=\"","\">Count: ","</h1><ul>","</ul></div>"]}
	// {"1":"1"}
	// {"2":{"k":{"0":{"0":"c"},"1":0,"2":1,"kc":3,"km":true}}}
}
