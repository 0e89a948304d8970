package live_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// greeter is a LiveView: its state lives on the server, Render draws it
// from a template, and HandleEvent changes it when the browser sends
// phx-click="shout".
type greeter struct{ name string }

var greeterTemplate = render.Must(render.New("greeter").Parse(
	`<p id="greeting">Hello, {{.Name}}!</p><button phx-click="shout">Shout</button>`))

func (g *greeter) Mount(s *live.Socket, params url.Values) error {
	g.name = params.Get("name")
	s.Assign("Name", g.name)
	return nil
}

func (g *greeter) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(greeterTemplate)
}

func (g *greeter) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name == "shout" {
		g.name = strings.ToUpper(g.name)
		s.Assign("Name", g.name)
	}
	return nil
}

// A view is routed on a live.Server, which serves its first render as a
// plain HTML page (the "dead render"); the phoenix_live_view client then
// joins it over the live socket and receives only what changes. Mount the
// Server on an Endpoint with Endpoint.Live to get that socket.
func Example() {
	l, err := live.New(live.Config{})
	if err != nil {
		panic(err)
	}
	l.Handle("/hello", func() live.View { return &greeter{} })

	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "/hello?name=Ada", nil))
	page := rec.Body.String()
	fmt.Println(rec.Code, strings.Contains(page, `<p id="greeting">Hello, Ada!</p>`))
	fmt.Println(strings.Contains(page, `data-phx-session=`), strings.Contains(page, `name="csrf-token"`))
	// Output:
	// 200 true
	// true true
}
