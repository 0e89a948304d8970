package demo_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-go/parley/internal/demo"
	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestSecurityHeaders: every demo page carries the security headers, and
// the CSP admits what the pages need (module scripts and sockets of this
// origin, inline styles) and nothing inline for scripts.
func TestSecurityHeaders(t *testing.T) {
	d, err := demo.New(demo.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(demo.SecurityHeaders(d.Endpoint))
	defer func() {
		srv.Close()
		if err := d.Endpoint.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, path := range []string{"/", "/lobby", "/party", "/counter", "/assets/parley/live.js", "/favicon.svg", "/nowhere"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "strict-origin-when-cross-origin",
			"X-Frame-Options":        "SAMEORIGIN",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self';", "style-src 'self' 'unsafe-inline'", "connect-src 'self' ws://" + host + " ",
			"frame-ancestors 'self'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		for _, d := range strings.Split(csp, ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "script-src") && d != "script-src 'self'" {
				t.Errorf("%s: script-src %q must be 'self' only", path, d)
			}
		}
	}
}

// TestUnknownResources: every demo app's unknown resource answers 404
// with the plain error page, never 500.
func TestUnknownResources(t *testing.T) {
	d, err := demo.New(demo.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Endpoint)
	defer func() {
		srv.Close()
		if err := d.Endpoint.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	for path, want := range map[string]int{
		"/chat/rooms/99": 404, "/chat/rooms/x": 404, "/blog/nope": 404, "/commerce/products/nope": 404,
		"/commerce/better_products/nope": 404, "/commerce/inventory/nope": 404,
		"/chat/rooms/1": 200, "/commerce/products/scarce-scarf": 200, "/blog": 200,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d: %.300s", path, resp.StatusCode, want, body)
		}
		if want == 404 && !strings.Contains(string(body), "Not Found") {
			t.Errorf("%s: the 404 page: %.300s", path, body)
		}
	}
	// No directory listings: every asset root answers 404 for directories.
	for _, path := range []string{"/assets/parley/", "/assets/phoenix/", "/assets/phoenix_live_view/", "/assets/blog/",
		"/assets/", "/lobby/", "/party/", "/assets/phoenix/priv/"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "<a href") {
			t.Errorf("%s: %d %.300s, want 404", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/assets/blog/ghosts.js", "/assets/phoenix/phoenix.mjs", "/lobby/lobby.js"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}
