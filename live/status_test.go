package live_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/livetest"
)

// statusView's Mount fails as its "fail" param says, in the dead render
// ("dead-...") or only once connected ("live-...").
type statusView struct{}

func (statusView) Mount(s *live.Socket, p url.Values) error {
	mode := p.Get("fail")
	if when, what, ok := strings.Cut(mode, "-"); ok && (when == "dead" || s.Connected()) {
		switch what {
		case "notfound":
			return fmt.Errorf("item %q: %w", p.Get("id"), live.ErrNotFound)
		case "redirect":
			s.Redirect("/elsewhere")
		case "error":
			return errors.New("database on fire")
		}
	}
	return nil
}

func (statusView) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode([]string{"<p>item</p>"}), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestMountStatus: Mount's not-found is a 404 page at the dead render and
// a fresh page load when connected; a redirect is a 302 or a client
// redirect; any other error is a plain 500 page (the cause only in the
// log).
func TestMountStatus(t *testing.T) {
	var logs syncBuffer
	l, err := live.New(live.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Handle("/items/{id}", func() live.View { return statusView{} }); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query  string
		status int
		body   string
	}{
		{"fail=dead-notfound", 404, "Not Found"},
		{"fail=dead-error", 500, "Internal Server Error"},
		{"fail=dead-redirect", 302, ""},
		{"", 200, "<p>item</p>"},
	} {
		resp := livetest.DeadRender(t, l, "/items/7?"+c.query)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
			t.Errorf("%s: %d %q, want %d with %q", c.query, resp.StatusCode, body, c.status, c.body)
		}
		if strings.Contains(string(body), "database on fire") {
			t.Errorf("%s: the cause leaked into the page", c.query)
		}
		if c.status == 302 && resp.Header.Get("Location") != "/elsewhere" {
			t.Errorf("redirect to %q", resp.Header.Get("Location"))
		}
	}
	if !strings.Contains(logs.String(), "database on fire") {
		t.Errorf("the 500's cause is not logged:\n%s", logs.String())
	}

	_, r := livetest.Join(t, l, "/items/7?fail=live-notfound")
	if r.Status != "error" || !strings.Contains(string(r.Response), `"redirect":{"to":"http://parley.test/items/7?fail=live-notfound"}`) {
		t.Errorf("connected not-found: %s %s", r.Status, r.Response)
	}
	_, r = livetest.Join(t, l, "/items/7?fail=live-redirect")
	if r.Status != "error" || !strings.Contains(string(r.Response), `"redirect":{"to":"/elsewhere"}`) {
		t.Errorf("connected redirect: %s %s", r.Status, r.Response)
	}
	if v := livetest.Mount(t, l, "/items/7"); !strings.Contains(v.HTML(t), "<p>item</p>") {
		t.Errorf("mounted %s", v.HTML(t))
	}
}

// TestErrorPageOption: Config.ErrorPage replaces the default page.
func TestErrorPageOption(t *testing.T) {
	l, err := live.New(live.Config{ErrorPage: func(w http.ResponseWriter, _ *http.Request, status int) {
		w.WriteHeader(status)
		fmt.Fprintf(w, "custom %d", status)
	}})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Handle("/items/{id}", func() live.View { return statusView{} })
	resp := livetest.DeadRender(t, l, "/items/1?fail=dead-notfound")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || string(body) != "custom 404" {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}
