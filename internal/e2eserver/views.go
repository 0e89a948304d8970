package main

import (
	"net/url"
	"strconv"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/live/render"
)

// registerViews routes the live views that only the e2e tests use, under
// /e2e/.
func registerViews(l *live.Server) {
	l.Handle("/e2e/js", func() live.View { return &jsView{} })
}

// jsView exercises JS commands: a menu toggled on the client, a push with
// a value, and a class toggled together with a push.
type jsView struct{ pushes int }

var jsTemplate = render.Must(render.New("js").Parse(`<main>
<button id="menu-btn" phx-click="{{.Toggle}}" aria-expanded="false">Menu</button>
<ul id="menu" style="display: none"><li>One</li><li>Two</li></ul>
<button id="push-btn" phx-click="{{.Push}}">Push</button>
<p id="pushes">{{.Pushes}}</p><p id="last">{{.Last}}</p>
</main>`))

func (v *jsView) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Toggle", js.Toggle(js.ToggleOpts{To: "#menu"}).
		ToggleAttributeBetween("aria-expanded", "true", "false"))
	s.Assign("Push", js.Push("pushed", js.PushOpts{Value: map[string]any{"from": "js", "n": 7}}).
		AddClass("was-pushed", js.ClassOpts{To: "#pushes"}))
	s.Assign("Pushes", "0")
	s.Assign("Last", "")
	return nil
}

func (v *jsView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(jsTemplate) }

func (v *jsView) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name == "pushed" {
		v.pushes++
		s.Assign("Pushes", strconv.Itoa(v.pushes))
		s.Assign("Last", e.String("from")+":"+e.String("n"))
	}
	return nil
}
