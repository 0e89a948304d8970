package js_test

import (
	"fmt"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/live/render"
)

// A dropdown opens and closes on the client (toggle, an attribute) and
// tells the server in the same click (push). The Cmd goes into the
// template as a value; html/template escapes it and the browser hands the
// client the JSON back.
func Example() {
	open := js.Toggle(js.ToggleOpts{To: "#menu", In: js.Transition{Classes: "fade-in"}}).
		ToggleAttributeBetween("aria-expanded", "true", "false").
		Push("menu-toggled", js.PushOpts{Value: map[string]any{"menu": "main"}})
	fmt.Println(open)

	t := render.Must(render.New("menu").Parse(`<button phx-click="{{.Open}}">Menu</button>`))
	n, err := t.Render(map[string]any{"Open": open}, nil)
	if err != nil {
		panic(err)
	}
	html, err := diff.HTML(n)
	if err != nil {
		panic(err)
	}
	fmt.Println(html)
	// Output:
	// [["toggle",{"ins":[["fade-in"],[],[]],"to":"#menu"}],["toggle_attr",{"attr":["aria-expanded","true","false"]}],["push",{"event":"menu-toggled","value":{"menu":"main"}}]]
	// <button phx-click="[[&#34;toggle&#34;,{&#34;ins&#34;:[[&#34;fade-in&#34;],[],[]],&#34;to&#34;:&#34;#menu&#34;}],[&#34;toggle_attr&#34;,{&#34;attr&#34;:[&#34;aria-expanded&#34;,&#34;true&#34;,&#34;false&#34;]}],[&#34;push&#34;,{&#34;event&#34;:&#34;menu-toggled&#34;,&#34;value&#34;:{&#34;menu&#34;:&#34;main&#34;}}]]">Menu</button>
}
