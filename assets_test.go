package parley_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
)

type rootView struct{}

func (rootView) Mount(*live.Socket, url.Values) error { return nil }
func (rootView) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode([]string{`<p id="root">root view</p>`}), nil
}

func get(t *testing.T, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func liveEndpoint(t *testing.T, cfg parley.Config, patterns ...string) (*parley.Endpoint, *httptest.Server) {
	t.Helper()
	ep, err := parley.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := live.New(live.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range patterns {
		if err := l.Handle(p, func() live.View { return rootView{} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := ep.Live(l); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	t.Cleanup(func() {
		srv.Close()
		if err := ep.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return ep, srv
}

// TestClientAssets: Endpoint.Live serves the bootstrap and both npm
// packages' browser builds, with content-hash ETags and long caching for
// hashed URLs, and no directory listings anywhere.
func TestClientAssets(t *testing.T) {
	_, srv := liveEndpoint(t, parley.Config{}, "/")
	_, page := get(t, srv.URL+"/")
	for _, want := range []string{`/assets/parley/live.js?v=`, `/assets/parley/live.css?v=`, `/assets/parley/favicon.svg?v=`, `class="parley-reconnecting"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	for path, ctype := range map[string]string{
		"/assets/parley/live.js":                             "text/javascript",
		"/assets/parley/live.css":                            "text/css",
		"/assets/parley/favicon.svg":                         "image/svg+xml",
		"/assets/phoenix/phoenix.mjs":                        "text/javascript",
		"/assets/phoenix_live_view/phoenix_live_view.esm.js": "text/javascript",
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Errorf("%s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
			continue
		}
		etag := resp.Header.Get("ETag")
		if resp.Header.Get("Cache-Control") != "public, no-cache" || len(etag) != 14 {
			t.Errorf("%s: Cache-Control %q, ETag %q", path, resp.Header.Get("Cache-Control"), etag)
		}
		if r2, _ := get(t, srv.URL+path, "If-None-Match", etag); r2.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", path, r2.StatusCode)
		}
		hashed := srv.URL + path + "?v=" + strings.Trim(etag, `"`)
		if r3, _ := get(t, hashed); r3.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", hashed, r3.Header.Get("Cache-Control"))
		}
	}
	if !strings.Contains(page, `/assets/parley/live.js?v=`) {
		t.Fatal("no hashed script")
	}
	for _, path := range []string{"/assets/parley/", "/assets/phoenix/", "/assets/phoenix_live_view/", "/assets/phoenix/nope.js",
		"/assets/phoenix/..%2fpackage.json", "/assets/phoenix/%2e%2e/package.json"} {
		if resp, body := get(t, srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404: %.200s", path, resp.StatusCode, body)
		}
	}
}

// TestLiveAtRoot: a view routed at "/" renders at / only, next to its
// socket, and other paths stay 404.
func TestLiveAtRoot(t *testing.T) {
	_, srv := liveEndpoint(t, parley.Config{}, "/")
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<p id="root">root view</p>`) {
		t.Fatalf("/: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.URL+"/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
	// The live socket is still reachable (a plain GET is refused by the
	// WebSocket transport, not by the router).
	if resp, _ := get(t, srv.URL+"/live/websocket"); resp.StatusCode == http.StatusNotFound || resp.StatusCode == 200 {
		t.Errorf("/live/websocket: %d", resp.StatusCode)
	}
}

// TestRouteErrors: malformed and conflicting routes are returned errors
// naming both patterns; nothing panics.
func TestRouteErrors(t *testing.T) {
	newLive := func(patterns ...string) *live.Server {
		l, err := live.New(live.Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			_ = l.Handle(p, func() live.View { return rootView{} })
		}
		return l
	}
	cases := []struct {
		name  string
		setup func(ep *parley.Endpoint) error
		want  []string
	}{
		{"live route on the live socket", func(ep *parley.Endpoint) error { return ep.Live(newLive("/live/{x}")) },
			[]string{"/live/{x}", "/live/websocket"}},
		{"live route over a handler", func(ep *parley.Endpoint) error {
			if err := ep.Handle("GET /counter", http.NotFoundHandler()); err != nil {
				return err
			}
			return ep.Live(newLive("/counter"))
		}, []string{"/counter", "conflicts"}},
		{"two live routes of one shape", func(ep *parley.Endpoint) error { return ep.Live(newLive("/a/{x}", "/a/{y}")) },
			[]string{"/a/{x}", "/a/{y}"}},
		{"malformed live route", func(ep *parley.Endpoint) error { return ep.Live(newLive("/a/{x")) }, []string{"/a/{x"}},
		{"relative live route", func(ep *parley.Endpoint) error { return ep.Live(newLive("counter")) }, []string{"counter"}},
		{"malformed handler pattern", func(ep *parley.Endpoint) error { return ep.Handle("GET /a/{", http.NotFoundHandler()) }, []string{"/a/{"}},
		{"nil handler", func(ep *parley.Endpoint) error { return ep.Handle("/x", nil) }, []string{"/x", "nil"}},
		{"socket twice", func(ep *parley.Endpoint) error {
			if _, err := ep.Socket("/socket", channelConfig()); err != nil {
				return err
			}
			_, err := ep.Socket("/socket", channelConfig())
			return err
		}, []string{"/socket/websocket"}},
		{"socket path without slash", func(ep *parley.Endpoint) error { _, err := ep.Socket("socket", channelConfig()); return err }, []string{"socket"}},
		{"no client packages", func(ep *parley.Endpoint) error { return ep.Live(newLive("/")) }, []string{"npm install phoenix@1.8 phoenix_live_view@1.2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := parley.Config{}
			if c.name == "no client packages" {
				cfg.NodeModules = t.TempDir()
			}
			ep, err := parley.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ep.Shutdown(context.Background()) }()
			err = c.setup(ep)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if c.name == "no client packages" && !errors.Is(err, parley.ErrNoNodeModules) {
				t.Errorf("error %v is not ErrNoNodeModules", err)
			}
		})
	}
}

// TestBundledClient: with BundledClient the Endpoint needs no
// node_modules and serves only its own files.
func TestBundledClient(t *testing.T) {
	_, srv := liveEndpoint(t, parley.Config{BundledClient: true, NodeModules: t.TempDir()}, "/")
	if resp, _ := get(t, srv.URL+"/assets/parley/live.css"); resp.StatusCode != 200 {
		t.Errorf("live.css: %d", resp.StatusCode)
	}
	if resp, _ := get(t, srv.URL+"/assets/phoenix/phoenix.mjs"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("phoenix.mjs: %d, want 404 with BundledClient", resp.StatusCode)
	}
}

func channelConfig() channel.Config {
	return channel.Config{Router: &channel.Router{}}
}
