// Package promparley exposes a Parley metrics registry to Prometheus's
// client_golang, so that Parley's series are scraped beside an
// application's own from one registry and one handler:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(promparley.NewCollector(ep.Metrics()))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// It is a module of its own, so that Parley itself depends on no metrics
// library: import it only if the application uses client_golang.
//
// The collector reads the registry's snapshot ([metrics.Registry.Gather])
// on every scrape and builds constant metrics from it; it holds no state
// and is safe for concurrent scrapes. It is an unchecked collector (its
// Describe sends nothing), because Parley declares series as traffic
// arrives (a topic pattern, a close reason): client_golang then checks
// each scrape's metrics for consistency instead.
package promparley

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-go/parley/metrics"
)

// Collector is a prometheus.Collector over a Parley metrics registry.
type Collector struct {
	reg *metrics.Registry
}

// NewCollector returns a Collector of reg (usually Endpoint.Metrics()).
func NewCollector(reg *metrics.Registry) *Collector { return &Collector{reg: reg} }

// Describe sends nothing: see the package documentation.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series of the registry.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.reg.Gather() {
		desc := prometheus.NewDesc(f.Name, f.Help, f.Labels, nil)
		for _, s := range f.Series {
			var m prometheus.Metric
			var err error
			switch f.Type {
			case "counter":
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, s.Value, s.Values...)
			case "gauge":
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, s.Value, s.Values...)
			case "histogram":
				buckets := make(map[float64]uint64, len(s.Buckets))
				for _, b := range s.Buckets {
					buckets[b.UpperBound] = b.Count
				}
				m, err = prometheus.NewConstHistogram(desc, s.Count, s.Sum, buckets, s.Values...)
			default:
				continue
			}
			if err != nil {
				m = prometheus.NewInvalidMetric(desc, err)
			}
			ch <- m
		}
	}
}
