package promparley_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/promparley"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestScrapeBesideAppMetrics: one client_golang registry, one handler:
// Parley's counters, gauges, gauge functions and histograms (with labels)
// are scraped beside an app-defined counter, with the values Parley's own
// exposition shows.
func TestScrapeBesideAppMetrics(t *testing.T) {
	pr := metrics.NewRegistry()
	pr.Counter("parley_joins_total", "Joins.", "pattern").With("room:*").Add(3)
	pr.Gauge("parley_connections", "Open connections.", "transport").With("websocket").Set(2)
	pr.GaugeFunc("parley_queue_frames", "Queued frames.").Add(func() float64 { return 7 })
	h := pr.Histogram("parley_render_seconds", "Render time.", []float64{0.001, 0.01}, "view").With("/counter")
	h.Observe(0.0005)
	h.Observe(0.005)
	h.Observe(1)

	reg := prometheus.NewRegistry()
	app := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_signups_total", Help: "Signups."})
	app.Add(5)
	reg.MustRegister(app, promparley.NewCollector(pr))

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	for _, want := range []string{
		"app_signups_total 5",
		`parley_joins_total{pattern="room:*"} 3`,
		`parley_connections{transport="websocket"} 2`,
		"parley_queue_frames 7",
		`parley_render_seconds_bucket{view="/counter",le="0.001"} 1`,
		`parley_render_seconds_bucket{view="/counter",le="0.01"} 2`,
		`parley_render_seconds_bucket{view="/counter",le="+Inf"} 3`,
		`parley_render_seconds_count{view="/counter"} 3`,
		"# TYPE parley_render_seconds histogram",
		"# TYPE parley_joins_total counter",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
}

// TestScrapeMatchesParleyExposition: every sample line Parley's own
// handler writes is in the client_golang scrape too.
func TestScrapeMatchesParleyExposition(t *testing.T) {
	pr := metrics.NewRegistry()
	pr.Counter("c_total", "C.", "a", "b").With("x", `q"uote`).Inc()
	pr.Histogram("h_seconds", "H.", metrics.DefaultBuckets).With().Observe(0.2)
	var own strings.Builder
	if _, err := pr.WriteTo(&own); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(promparley.NewCollector(pr))
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	scraped := rec.Body.String()
	for _, line := range strings.Split(strings.TrimSpace(own.String()), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(scraped, line) {
			t.Errorf("client_golang scrape lacks Parley's line %q:\n%s", line, scraped)
		}
	}
}
