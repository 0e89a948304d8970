package parley

import (
	"net/http"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/metrics"
)

// renderObserver turns LiveView render reports into metrics.
func renderObserver(r *metrics.Registry) func(live.RenderInfo) {
	renders := r.Counter("parley_live_renders_total", "LiveView renders sent to clients, by route pattern.", "view")
	seconds := r.Histogram("parley_live_render_seconds", "Time to render and diff a LiveView.", nil, "view")
	size := r.Histogram("parley_live_diff_bytes", "Bytes of a LiveView diff (or full render on join).",
		metrics.ExponentialBuckets(16, 4, 8), "view")
	return func(ri live.RenderInfo) {
		renders.With(ri.View).Inc()
		seconds.With(ri.View).Observe(ri.Duration.Seconds())
		size.With(ri.View).Observe(float64(ri.Bytes))
	}
}

// PprofHandler serves runtime profiles for go tool pprof, without
// net/http/pprof (which registers itself on http.DefaultServeMux). Mount
// it under a prefix ending in "/debug/pprof/", on an internal listener or
// behind authentication:
//
//	mux.Handle("/debug/pprof/", parley.PprofHandler())
//
// The last path element names the profile: "profile?seconds=N" (CPU),
// "trace?seconds=N" (execution trace), or any runtime/pprof profile
// ("heap", "goroutine", "allocs", "block", "mutex", "threadcreate"), with
// ?debug=1 or 2 for text. The index lists them.
func PprofHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		seconds := func() time.Duration {
			n, err := strconv.Atoi(r.URL.Query().Get("seconds"))
			if err != nil || n <= 0 {
				n = 30
			}
			return time.Duration(min(n, 300)) * time.Second
		}
		wait := func(d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
		}
		switch name {
		case "":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("profiles: profile?seconds=N trace?seconds=N"))
			for _, p := range pprof.Profiles() {
				_, _ = w.Write([]byte(" " + p.Name()))
			}
			_, _ = w.Write([]byte("\n"))
		case "profile":
			w.Header().Set("Content-Type", "application/octet-stream")
			if err := pprof.StartCPUProfile(w); err != nil {
				http.Error(w, "pprof: "+err.Error(), http.StatusConflict)
				return
			}
			wait(seconds())
			pprof.StopCPUProfile()
		case "trace":
			w.Header().Set("Content-Type", "application/octet-stream")
			if err := trace.Start(w); err != nil {
				http.Error(w, "pprof: "+err.Error(), http.StatusConflict)
				return
			}
			wait(seconds())
			trace.Stop()
		default:
			p := pprof.Lookup(name)
			if p == nil {
				http.NotFound(w, r)
				return
			}
			debug, _ := strconv.Atoi(r.URL.Query().Get("debug"))
			if name == "heap" && r.URL.Query().Get("gc") != "" {
				runtime.GC()
			}
			if debug > 0 {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			} else {
				w.Header().Set("Content-Type", "application/octet-stream")
			}
			_ = p.WriteTo(w, debug)
		}
	})
}
