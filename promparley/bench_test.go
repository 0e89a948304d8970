package promparley_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-go/parley/metrics"
)

// The hot paths Parley's code takes (a series resolved once, then Inc or
// Observe per event), in Parley's registry and in client_golang's, for the
// decision recorded in DEPENDENCIES.md.

func BenchmarkCounterInc(b *testing.B) {
	b.Run("parley", func(b *testing.B) {
		c := metrics.NewRegistry().Counter("c_total", "C.", "pattern").With("room:*")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "C."}, []string{"pattern"}).WithLabelValues("room:*")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Inc()
			}
		})
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	b.Run("parley", func(b *testing.B) {
		h := metrics.NewRegistry().Histogram("h_seconds", "H.", metrics.DefaultBuckets, "view").With("/counter")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Observe(0.003)
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "H.", Buckets: metrics.DefaultBuckets}, []string{"view"}).WithLabelValues("/counter")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Observe(0.003)
			}
		})
	})
}
