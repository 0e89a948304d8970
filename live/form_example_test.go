package live_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// A form validated as the user types: errors show only for the fields the
// user touched (the client sends the others with an "_unused_" companion).
func ExampleForm() {
	// what phx-change sends after the user typed "ana" into the email
	// field of an empty form
	params, err := live.DecodeForm("user[_unused_name]=&user[name]=&user[email]=ana")
	if err != nil {
		panic(err)
	}
	f := live.NewForm("user", params["user"].(map[string]any))
	if f.Value("name") == "" {
		f.AddError("name", "can't be blank")
	}
	if !strings.Contains(f.Value("email"), "@") {
		f.AddError("email", "must have an @")
	}
	for _, field := range []string{"name", "email"} {
		ff := f.Field(field)
		fmt.Printf("%s id=%s used=%v errors=%v\n", ff.Name, ff.ID, ff.Used, ff.Errors)
	}
	fmt.Println("valid:", f.Valid())
	// Output:
	// user[name] id=user_name used=false errors=[]
	// user[email] id=user_email used=true errors=[must have an @]
	// valid: false
}

// recs loads recommendations without blocking the page: the template
// shows the loading state first.
type recs struct{}

var recsTemplate = render.Must(render.New("recs").Parse(
	`<div id="recs">{{with .Recs}}{{if .Loading}}Loading…{{else if .OK}}{{.Result}}{{else}}Error: {{.Failed}}{{end}}{{end}}</div>`))

func (recs) Mount(s *live.Socket, _ url.Values) error {
	s.AssignAsync("Recs", func(ctx context.Context) (any, error) {
		return "tea, biscuits", nil // a slow query, honouring ctx
	})
	return nil
}

func (recs) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(recsTemplate) }

// AssignAsync runs its function only once the browser is connected: the
// dead render shows the loading state, and the connected view then
// receives the value in a diff.
func ExampleSocket_AssignAsync() {
	l, err := live.New(live.Config{SecretKeyBase: []string{"an example secret key base of 32+ bytes!"}})
	if err != nil {
		panic(err)
	}
	l.Handle("/recs", func() live.View { return recs{} })
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "/recs", nil))
	fmt.Println(regexp.MustCompile(`<div id="recs">.*?</div>`).FindString(rec.Body.String()))
	// Output:
	// <div id="recs">Loading…</div>
}

// signup is a view over live.Form, for livetest's form helpers.
type signup struct{}

var signupTemplate = render.Must(render.New("signup").Parse(
	`<form phx-change="validate">{{with .Form.Field "name"}}<input name="{{.Name}}" value="{{.Value}}">{{range .Errors}}<p class="error">name {{.}}</p>{{end}}{{end}}` +
		`{{with .Form.Field "email"}}<input name="{{.Name}}" value="{{.Value}}">{{range .Errors}}<p class="error">email {{.}}</p>{{end}}{{end}}</form>`))

func (signup) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Form", live.NewForm("user", nil))
	return nil
}

func (signup) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(signupTemplate) }

func (signup) HandleEvent(s *live.Socket, e live.Event) error {
	f := live.FormOf(e, "user")
	if f.Value("name") == "" {
		f.AddError("name", "can't be blank")
	}
	if !strings.Contains(f.Value("email"), "@") {
		f.AddError("email", "must have an @")
	}
	s.Assign("Form", f)
	return nil
}

func TestLivetestFormHelpers(t *testing.T) {
	l := newServer(t)
	l.Handle("/signup", func() live.View { return signup{} })
	v := livetest.Mount(t, l, "/signup")
	v.ChangeForm(t, "validate", "user", map[string]string{"name": "", "email": "ana"}, "email")
	if h := v.HTML(t); strings.Contains(h, "name can&#39;t be blank") || !strings.Contains(h, "email must have an @") {
		t.Fatalf("after touching email: %s", h)
	}
	v.ChangeForm(t, "validate", "user", map[string]string{"name": "", "email": "ana"}, "email", "name")
	if h := v.HTML(t); !strings.Contains(h, "name can&#39;t be blank") {
		t.Fatalf("after touching name: %s", h)
	}
	v.SubmitForm(t, "validate", "user", map[string]string{"name": "Ana", "email": "a@b"})
	if h := v.HTML(t); strings.Contains(h, "class=\"error\"") || !strings.Contains(h, `value="Ana"`) {
		t.Fatalf("after a valid submit: %s", h)
	}
}

func TestLivetestRenderComponent(t *testing.T) {
	l := deckServer(t)
	got := livetest.RenderComponent(t, l, "card", "solo", map[string]any{"Title": "Alone"})
	if got != `<div data-phx-component="1" class="card">Alone 0</div>` {
		t.Fatalf("component alone: %s", got)
	}
	if _, err := l.RenderComponent("nope", "1", nil); err == nil {
		t.Fatal("unknown component rendered")
	}
	if n := l.LiveComponents(); n != 0 {
		t.Fatalf("a component rendered alone is counted: %d", n)
	}
}
