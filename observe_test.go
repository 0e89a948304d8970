package parley_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"testing"

	"github.com/parley-go/parley"
)

// pprofGet serves one request to PprofHandler with a context that is
// already cancelled, so that profile and trace stop at once.
func pprofGet(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	parley.PprofHandler().ServeHTTP(rec, httptest.NewRequest("GET", target, nil).WithContext(ctx))
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", target, got)
	}
	return rec
}

// TestPprofHandler: the index lists the profiles; text and binary
// profiles, CPU profile and trace are served; an unknown profile is 404;
// a CPU profile or trace already running answers 409.
func TestPprofHandler(t *testing.T) {
	gzipMagic := []byte{0x1f, 0x8b}
	t.Run("index", func(t *testing.T) {
		rec := pprofGet(t, "/debug/pprof/")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), " goroutine") || !strings.Contains(rec.Body.String(), "profile?seconds=N") {
			t.Errorf("index: %d %q", rec.Code, rec.Body.String())
		}
	})
	t.Run("goroutine text", func(t *testing.T) {
		rec := pprofGet(t, "/debug/pprof/goroutine?debug=1")
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || !strings.Contains(rec.Body.String(), "TestPprofHandler") {
			t.Errorf("goroutine: %d %s %.200q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	})
	t.Run("heap binary after gc", func(t *testing.T) {
		rec := pprofGet(t, "/debug/pprof/heap?gc=1")
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/octet-stream" || !bytes.HasPrefix(rec.Body.Bytes(), gzipMagic) {
			t.Errorf("heap: %d %s %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		if rec := pprofGet(t, "/debug/pprof/nosuch"); rec.Code != http.StatusNotFound {
			t.Errorf("nosuch: %d", rec.Code)
		}
	})
	t.Run("cpu profile", func(t *testing.T) {
		rec := pprofGet(t, "/debug/pprof/profile?seconds=bad")
		if rec.Code != 200 || !bytes.HasPrefix(rec.Body.Bytes(), gzipMagic) {
			t.Errorf("profile: %d, %d bytes", rec.Code, rec.Body.Len())
		}
		var other bytes.Buffer
		if err := pprof.StartCPUProfile(&other); err != nil {
			t.Skipf("a CPU profile is already running (go test -cpuprofile?): %v", err)
		}
		defer pprof.StopCPUProfile()
		if rec := pprofGet(t, "/debug/pprof/profile?seconds=1"); rec.Code != http.StatusConflict {
			t.Errorf("profile while another runs: %d, want 409", rec.Code)
		}
	})
	t.Run("trace", func(t *testing.T) {
		rec := pprofGet(t, "/debug/pprof/trace?seconds=2")
		if rec.Code != 200 || rec.Body.Len() == 0 {
			t.Errorf("trace: %d, %d bytes", rec.Code, rec.Body.Len())
		}
		var other bytes.Buffer
		if err := trace.Start(&other); err != nil {
			t.Skipf("a trace is already running (go test -trace?): %v", err)
		}
		defer trace.Stop()
		if rec := pprofGet(t, "/debug/pprof/trace"); rec.Code != http.StatusConflict {
			t.Errorf("trace while another runs: %d, want 409", rec.Code)
		}
	})
}
