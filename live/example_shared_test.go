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

// ticker is a SharedView: its page is tickerTemplate applied to its
// assigns and nothing else, so the many views that apply the same
// broadcast share one render and one encoded diff.
type ticker struct{}

var tickerTemplate = render.Must(render.New("ticker").Parse(
	`<table>{{range .Quotes}}{{key .Symbol}}<tr><td>{{.Symbol}}</td><td>{{.Price}}</td></tr>{{end}}</table>`))

type quote struct {
	Symbol string
	Price  float64
}

func (ticker) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Quotes", []quote{{"ACME", 12.5}, {"INIT", 3.25}})
	return nil
}

func (ticker) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(tickerTemplate) }

func (ticker) SharedTemplate() *render.Template { return tickerTemplate }

func ExampleSharedView() {
	l, err := live.New(live.Config{})
	if err != nil {
		panic(err)
	}
	l.Handle("/ticker", func() live.View { return ticker{} })
	var _ live.SharedView = ticker{}

	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "/ticker", nil))
	fmt.Println(strings.Contains(rec.Body.String(), "<tr><td>ACME</td><td>12.5</td></tr>"))
	// Output:
	// true
}
