// Package counter is the smallest LiveView: a number and two buttons, plus
// a server-side tick that shows server-initiated updates.
//
// Entry point: [Register] routes /counter on a live.Server.
package counter

import (
	"net/url"
	"strconv"
	"time"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
)

// View is the counter page.
type View struct {
	n     int
	ticks int
}

// Register routes /counter to the view.
func Register(l *live.Server) {
	l.Handle("/counter", func() live.View { return &View{} })
}

var statics = []string{
	`<main class="counter"><style>.counter{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:1rem auto;padding:0 1rem}` +
		`.counter a{color:#4b5fd6}.counter button{font-size:1.25rem;min-width:3rem;padding:.3rem .8rem;margin-right:.5rem}` +
		`.counter .ticks{color:#555}</style><p><a id="home" href="/">← All apps</a></p><h1>Count: <span id="count">`,
	`</span></h1><button id="dec" phx-click="dec">−</button> <button id="inc" phx-click="inc">+</button><p class="ticks">Server ticks: <span id="ticks">`,
	`</span></p></main>`,
}

type tick struct{}

// Mount starts at 0 and, once connected, ticks every second.
func (v *View) Mount(s *live.Socket, _ url.Values) error {
	s.SetTitle("Counter")
	if s.Connected() {
		s.SendAfter(time.Second, tick{})
	}
	return nil
}

// Render draws the page.
func (v *View) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode(statics, diff.Text(strconv.Itoa(v.n)), diff.Text(strconv.Itoa(v.ticks))), nil
}

// HandleEvent counts clicks.
func (v *View) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "inc":
		v.n++
	case "dec":
		v.n--
	}
	s.Assign("n", v.n)
	return nil
}

// HandleInfo counts ticks.
func (v *View) HandleInfo(s *live.Socket, msg any) error {
	if _, ok := msg.(tick); ok {
		v.ticks++
		s.Assign("ticks", v.ticks)
		s.SendAfter(time.Second, tick{})
	}
	return nil
}
