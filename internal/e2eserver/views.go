package main

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/live/render"
)

// registerViews routes the live views that only the e2e tests use, under
// /e2e/.
func registerViews(l *live.Server) {
	l.Handle("/e2e/js", func() live.View { return &jsView{} })
	l.Handle("/e2e/components", func() live.View { return &cardsView{srv: l} })
	l.Component("e2e-card", func() live.Component { return &e2eCard{} })
	l.Handle("/e2e/async", func() live.View { return &asyncView{gate: make(chan struct{})} })
	l.Handle("/e2e/form", func() live.View { return &formView{} })
}

// formView validates a form live: errors show only for the fields the user
// touched (live.Form's used tracking), a submit validates everything.
type formView struct{}

var formTemplate = render.Must(render.New("form").Parse(`<main>
<form id="f" phx-change="validate" phx-submit="save">
{{with .Form.Field "name"}}<label for="{{.ID}}">Name</label><input type="text" name="{{.Name}}" id="{{.ID}}" value="{{.Value}}">
{{range .Errors}}<p class="error" id="name-error">{{.}}</p>{{end}}{{end}}
{{with .Form.Field "email"}}<label for="{{.ID}}">Email</label><input type="text" name="{{.Name}}" id="{{.ID}}" value="{{.Value}}">
{{range .Errors}}<p class="error" id="email-error">{{.}}</p>{{end}}{{end}}
<button id="save" type="submit" phx-disable-with="Saving…">Save</button>
</form>
<p id="saved">{{.Saved}}</p>
</main>`))

func validate(f live.Form) live.Form {
	name := f.Value("name")
	switch {
	case strings.TrimSpace(name) == "":
		f.AddError("name", "can't be blank")
	case len(name) > 20:
		f.AddError("name", "is too long (20 characters at most)")
	}
	if !strings.Contains(f.Value("email"), "@") {
		f.AddError("email", "must have an @")
	}
	return f
}

func (v *formView) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Form", live.NewForm("user", nil))
	s.Assign("Saved", "")
	return nil
}

func (v *formView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(formTemplate) }

func (v *formView) HandleEvent(s *live.Socket, e live.Event) error {
	f := validate(live.FormOf(e, "user"))
	switch e.Name {
	case "validate":
		s.Assign("Form", f)
	case "save":
		if !f.Valid() {
			s.Assign("Form", f)
			return nil
		}
		s.Assign("Saved", "Saved "+f.Value("name")+" <"+f.Value("email")+">")
		s.Assign("Form", live.NewForm("user", nil))
	}
	return nil
}

// asyncView loads two assigns asynchronously: "Slow" waits until the page
// clicks "release", "Broken" fails at once.
type asyncView struct{ gate chan struct{} }

var asyncTemplate = render.Must(render.New("async").Parse(`<main>
<div id="slow">{{with .Slow}}{{if .Loading}}Loading…{{else if .OK}}{{.Result}}{{else}}Error: {{.Failed}}{{end}}{{end}}</div>
<div id="broken">{{with .Broken}}{{if .Loading}}Loading…{{else if .OK}}{{.Result}}{{else}}Error: {{.Failed}}{{end}}{{end}}</div>
<button id="release" phx-click="release">Release</button>
</main>`))

func (v *asyncView) Mount(s *live.Socket, _ url.Values) error {
	gate := v.gate
	s.AssignAsync("Slow", func(ctx context.Context) (any, error) {
		select {
		case <-gate:
			return "Customers also bought: tea", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	s.AssignAsync("Broken", func(context.Context) (any, error) { return nil, errors.New("the service is down") })
	return nil
}

func (v *asyncView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(asyncTemplate)
}

func (v *asyncView) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name == "release" {
		select {
		case <-v.gate:
		default:
			close(v.gate)
		}
	}
	return nil
}

// cardsView is a list of live components: each counts its own clicks;
// "remove" drops the last one, "count" shows how many components the
// server holds.
type cardsView struct {
	srv *live.Server
	ids []string
}

type cardItem struct{ ID, Title string }

var cardsTemplate = render.Must(render.New("cards").Parse(`<main>
<div id="cards">{{range .Cards}}{{live_component "e2e-card" .ID "Title" .Title}}{{end}}</div>
<button id="remove" phx-click="remove">Remove last</button> <button id="count" phx-click="count">Count</button>
<p id="live-count">{{.Count}}</p>
</main>`))

func (v *cardsView) Mount(s *live.Socket, _ url.Values) error {
	v.ids = []string{"one", "two", "three"}
	v.assign(s)
	s.Assign("Count", "")
	return nil
}

func (v *cardsView) assign(s *live.Socket) {
	cards := make([]cardItem, len(v.ids))
	for i, id := range v.ids {
		cards[i] = cardItem{ID: id, Title: "Card " + id}
	}
	s.Assign("Cards", cards)
}

func (v *cardsView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(cardsTemplate)
}

func (v *cardsView) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "remove":
		if len(v.ids) > 0 {
			v.ids = v.ids[:len(v.ids)-1]
			v.assign(s)
		}
	case "count":
		s.Assign("Count", strconv.Itoa(v.srv.LiveComponents()))
	}
	return nil
}

// e2eCard is one card component.
type e2eCard struct{ n int }

var e2eCardTemplate = render.Must(render.New("e2e-card").Parse(
	`<div id="card-{{.ID}}" class="card"><span class="title">{{.Title}}</span> <span class="n">{{.N}}</span> ` +
		`<button class="bump" phx-click="bump" phx-target="{{.Myself}}">+</button></div>`))

func (c *e2eCard) Mount(cs *live.ComponentSocket) error {
	cs.Assign("ID", cs.ID())
	cs.Assign("N", 0)
	return nil
}

func (c *e2eCard) Render(cs *live.ComponentSocket) (*diff.Node, error) {
	return cs.RenderTemplate(e2eCardTemplate)
}

func (c *e2eCard) HandleEvent(cs *live.ComponentSocket, e live.Event) error {
	if e.Name == "bump" {
		c.n++
		cs.Assign("N", c.n)
	}
	return nil
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
