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
