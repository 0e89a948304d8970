package livetest_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// counter counts clicks and can be renamed by a form.
type counter struct {
	n     int
	label string
}

var counterTemplate = render.Must(render.New("counter").Parse(
	`<h1>{{.Label}}: <span id="n">{{.N}}</span></h1>` +
		`<button phx-click="inc">+</button>` +
		`<form phx-submit="rename"><input name="label"></form>`))

func (c *counter) Mount(s *live.Socket, params url.Values) error {
	c.n, _ = strconv.Atoi(params.Get("start"))
	c.label = "Count"
	c.assign(s)
	return nil
}

func (c *counter) assign(s *live.Socket) {
	s.Assign("N", c.n)
	s.Assign("Label", c.label)
}

func (c *counter) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(counterTemplate)
}

func (c *counter) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "inc":
		c.n++
	case "rename":
		c.label = e.String("label")
	}
	c.assign(s)
	return nil
}

// Example is a LiveView test as one writes it: mount the view (dead render
// and join, in-process), click, submit a form, and read the HTML the
// browser would show after applying every diff. In a real test t is the
// test function's *testing.T; an Example has none.
func Example() {
	l, err := live.New(live.Config{SecretKeyBase: []string{live.GenerateSecretKeyBase()}})
	if err != nil {
		panic(err)
	}
	l.Handle("/counter", func() live.View { return &counter{} })
	t := &testing.T{}

	v := livetest.Mount(t, l, "/counter?start=5")
	defer v.Leave(t)
	h1 := regexp.MustCompile(`<h1>.*</h1>`)
	fmt.Println(h1.FindString(v.HTML(t)))
	v.Click(t, "inc", nil)
	v.Click(t, "inc", nil)
	fmt.Println(h1.FindString(v.HTML(t)))
	v.Submit(t, "rename", url.Values{"label": {"Clicks"}})
	fmt.Println(h1.FindString(v.HTML(t)))
	// Output:
	// <h1>Count: <span id="n">5</span></h1>
	// <h1>Count: <span id="n">7</span></h1>
	// <h1>Clicks: <span id="n">7</span></h1>
}
