package live_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// like is a live component: each instance keeps its own count, and its
// button's events come to it (phx-target is the component itself).
type like struct{ n int }

var likeTemplate = render.Must(render.New("like").Parse(
	`<span class="like">{{.Label}}: {{.N}} <button phx-click="like" phx-target="{{.Myself}}">+1</button></span>`))

func (l *like) Mount(c *live.ComponentSocket) error {
	c.Assign("N", 0)
	return nil
}

func (l *like) Render(c *live.ComponentSocket) (*diff.Node, error) {
	return c.RenderTemplate(likeTemplate)
}

func (l *like) HandleEvent(c *live.ComponentSocket, e live.Event) error {
	if e.Name == "like" {
		l.n++
		c.Assign("N", l.n)
	}
	return nil
}

// posts renders one like component per post, by name and id.
type posts struct{}

var postsTemplate = render.Must(render.New("posts").Parse(
	`<ul>{{range .Posts}}<li>{{live_component "like" . "Label" .}}</li>{{end}}</ul>`))

func (posts) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Posts", []string{"intro", "news"})
	return nil
}

func (posts) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(postsTemplate) }

// Live components are registered by name on the Server and rendered from
// a view's template with {{live_component NAME ID ASSIGNS...}}. Each
// (name, id) is one stateful component: mounted once, updated with the
// assigns whenever the view renders it, re-rendered only when they change,
// and sent under the diff's "c" with its own cid.
func ExampleServer_Component() {
	l, err := live.New(live.Config{SecretKeyBase: []string{"an example secret key base of 32+ bytes!"}})
	if err != nil {
		panic(err)
	}
	l.Component("like", func() live.Component { return &like{} })
	l.Handle("/posts", func() live.View { return posts{} })

	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "/posts", nil))
	fmt.Println(regexp.MustCompile(`<ul>.*</ul>`).FindString(rec.Body.String()))
	// Output:
	// <ul><li><span data-phx-component="1" class="like">intro: 0 <button phx-click="like" phx-target="1">+1</button></span></li><li><span data-phx-component="2" class="like">news: 0 <button phx-click="like" phx-target="2">+1</button></span></li></ul>
}
