package metrics_test

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/metrics"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != metrics.ContentType {
		t.Fatalf("content type %q", ct)
	}
	return rec.Body.String()
}

func TestExposition(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("test_events_total", "Events seen.", "kind")
	c.With("a").Inc()
	c.With("a").Add(2)
	c.With(`q"u\o` + "\n").Inc()
	g := r.Gauge("test_open", "Open things.")
	g.With().Inc()
	g.With().Inc()
	g.With().Dec()
	remove := r.GaugeFunc("test_depth", "Depth.", "t").Add(func() float64 { return 1.5 }, "ws")
	r.GaugeFunc("test_depth", "Depth.", "t").Add(func() float64 { return 2 }, "ws")
	h := r.Histogram("test_seconds", "Durations.", []float64{0.1, 1}, "view")
	h.With("/x").Observe(0.05)
	h.With("/x").Observe(0.5)
	h.With("/x").Observe(3)
	r.Counter("test_unused_total", "Never incremented, so not written.", "x")

	want := `# HELP test_depth Depth.
# TYPE test_depth gauge
test_depth{t="ws"} 3.5
# HELP test_events_total Events seen.
# TYPE test_events_total counter
test_events_total{kind="a"} 3
test_events_total{kind="q\"u\\o\n"} 1
# HELP test_open Open things.
# TYPE test_open gauge
test_open 1
# HELP test_seconds Durations.
# TYPE test_seconds histogram
test_seconds_bucket{view="/x",le="0.1"} 1
test_seconds_bucket{view="/x",le="1"} 2
test_seconds_bucket{view="/x",le="+Inf"} 3
test_seconds_sum{view="/x"} 3.55
test_seconds_count{view="/x"} 3
`
	if got := scrape(t, r); got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	remove()
	remove()
	if got := scrape(t, r); !strings.Contains(got, `test_depth{t="ws"} 2`+"\n") {
		t.Fatalf("after removing a gauge func:\n%s", got)
	}
}

func TestRedeclare(t *testing.T) {
	r := metrics.NewRegistry()
	a := r.Counter("x_total", "X.", "l")
	b := r.Counter("x_total", "X.", "l")
	a.With("v").Inc()
	if b.With("v").Value() != 1 {
		t.Fatal("a second declaration is not the same family")
	}
	for name, f := range map[string]func(){
		"other kind":   func() { r.Gauge("x_total", "X.", "l") },
		"other labels": func() { r.Counter("x_total", "X.", "m") },
		"bad name":     func() { r.Counter("x-total", "X.") },
		"le label":     func() { r.Histogram("h", "H.", nil, "le") },
		"wrong arity":  func() { a.With("v", "w") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestNilIsANoOp(t *testing.T) {
	var r *metrics.Registry
	r.Counter("a_total", "").With("x").Inc()
	r.Gauge("b", "").With().Dec()
	r.Histogram("c", "", nil).With().Observe(1)
	r.GaugeFunc("d", "").Add(func() float64 { return 1 })()
	if n, err := r.WriteTo(nil); n != 0 || err != nil {
		t.Fatal(n, err)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("c_total", "C.", "w")
	h := r.Histogram("h_seconds", "H.", nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.With(string(rune('a' + w%2))).Inc()
				h.With().Observe(0.001)
			}
		}()
	}
	for range 10 {
		_ = scrape(t, r)
	}
	wg.Wait()
	if got := c.With("a").Value() + c.With("b").Value(); got != 4000 {
		t.Fatalf("count %d", got)
	}
	if got := h.With().Count(); got != 4000 {
		t.Fatalf("histogram count %d", got)
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := metrics.NewRegistry().Counter("c_total", "C.").With()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

// TestGather: the snapshot holds every family with series, sorted, with
// cumulative histogram buckets; families without series are left out.
func TestGather(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("b_total", "B.", "k").With("x").Add(2)
	r.Gauge("a_gauge", "A.").With().Set(-3)
	r.Counter("empty_total", "No series.")
	h := r.Histogram("c_seconds", "C.", []float64{1, 2}).With()
	h.Observe(0.5)
	h.Observe(1.5)
	h.Observe(9)
	r.GaugeFunc("d_func", "D.", "k").Add(func() float64 { return 1.5 }, "y")
	got := r.Gather()
	var names []string
	for _, f := range got {
		names = append(names, f.Name+":"+f.Type)
	}
	if want := "a_gauge:gauge b_total:counter c_seconds:histogram d_func:gauge"; strings.Join(names, " ") != want {
		t.Fatalf("families %v, want %s", names, want)
	}
	if s := got[1].Series[0]; s.Value != 2 || s.Values[0] != "x" || got[1].Labels[0] != "k" {
		t.Errorf("counter series %+v", s)
	}
	if s := got[0].Series[0]; s.Value != -3 {
		t.Errorf("gauge series %+v", s)
	}
	hs := got[2].Series[0]
	if hs.Count != 3 || hs.Sum != 11 || len(hs.Buckets) != 2 || hs.Buckets[0] != (metrics.Bucket{UpperBound: 1, Count: 1}) || hs.Buckets[1] != (metrics.Bucket{UpperBound: 2, Count: 2}) {
		t.Errorf("histogram series %+v", hs)
	}
	if s := got[3].Series[0]; s.Value != 1.5 || s.Values[0] != "y" {
		t.Errorf("gauge func series %+v", s)
	}
}
