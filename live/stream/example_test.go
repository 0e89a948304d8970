package stream_test

import (
	"fmt"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/live/stream"
)

func Example() {
	type message struct {
		ID   int
		Body string
	}
	tmpl := render.Must(render.New("chat").Parse(
		`<ul id="messages" phx-update="stream">{{range $id, $m := .messages}}<li id="{{$id}}">{{$m.Body}}</li>{{end}}</ul>`))
	messages := stream.New("messages", func(m message) string { return fmt.Sprint("messages-", m.ID) })
	assigns := map[string]any{"messages": messages}

	// Mount: the last messages, kept to 30 on the page.
	messages.InsertMany([]message{{1, "hi"}, {2, "hello"}}, stream.Limit(-30))
	first, _ := tmpl.Render(assigns, nil)
	join, _ := diff.Full(first)
	fmt.Println(string(join))

	// A new message: only it travels.
	messages.Insert(message{3, "bye"}, stream.Limit(-30))
	next, _ := tmpl.Render(assigns, render.Changed("messages"))
	d, _ := diff.Diff(first, next)
	fmt.Println(string(d))
	// Output:
	// {"0":{"s":["<li id=\"","\">","</li>"],"k":{"0":{"0":"messages-1","1":"hi"},"1":{"0":"messages-2","1":"hello"},"kc":2},"stream":["messages",[["messages-1",-1,-30,false],["messages-2",-1,-30,false]],[]]},"s":["<ul id=\"messages\" phx-update=\"stream\">","</ul>"]}
	// {"0":{"k":{"0":{"0":"messages-3","1":"bye"},"kc":1},"stream":["messages",[["messages-3",-1,-30,false]],[]]}}
}
