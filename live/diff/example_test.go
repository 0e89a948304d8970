package diff_test

import (
	"fmt"

	"github.com/parley-go/parley/live/diff"
)

func Example() {
	statics := []string{"<div><h1>Count: ", "</h1><ul>", "</ul></div>"}
	item := []string{"<li>", "</li>"}
	render := func(count string, items ...string) *diff.Node {
		list := diff.NewComprehension(item)
		for _, it := range items {
			list.Entries = append(list.Entries, diff.Entry{Key: it, Dynamics: []diff.Dyn{diff.Text(it)}})
		}
		return diff.NewNode(statics, diff.Text(count), diff.List(list))
	}

	// Join: the full render, with the page title.
	prev := render("0", "a", "b")
	full, _ := diff.Full(prev)
	title := "Counter"
	fmt.Printf("%s\n", diff.Envelope(full, diff.Message{Title: &title}))

	// Next render: the count changed and "c" was prepended.
	next := render("1", "c", "a", "b")
	d, _ := diff.Diff(prev, next)
	fmt.Printf("%s\n", d)

	// The client's side: merge both and render.
	var tree diff.Tree
	tree.Apply(full)
	tree.Apply(d)
	html, _ := tree.HTML()
	fmt.Println(html)

	// Nothing changed: nothing to send.
	d, _ = diff.Diff(next, render("1", "c", "a", "b"))
	fmt.Println(d == nil)
	// Output:
	// {"0":"0","1":{"s":["<li>","</li>"],"k":{"0":{"0":"a"},"1":{"0":"b"},"kc":2}},"s":["<div><h1>Count: ","</h1><ul>","</ul></div>"],"t":"Counter"}
	// {"0":"1","1":{"k":{"0":{"0":"c"},"1":0,"2":1,"kc":3,"km":true}}}
	// <div><h1>Count: 1</h1><ul><li>c</li><li>a</li><li>b</li></ul></div>
	// true
}
