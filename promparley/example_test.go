package promparley_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/promparley"
)

// Parley's series and the application's, from one registry and one
// handler.
func Example() {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		panic(err)
	}
	defer func() { _ = ep.Shutdown(context.Background()) }()
	ep.Metrics().Counter("parley_example_total", "An Endpoint metric.").With().Add(2)

	reg := prometheus.NewRegistry()
	orders := prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_orders_total", Help: "Orders."})
	orders.Inc()
	reg.MustRegister(orders, promparley.NewCollector(ep.Metrics()))

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if line == "shop_orders_total 1" || line == "parley_example_total 2" {
			fmt.Println(line)
		}
	}
	// Output:
	// parley_example_total 2
	// shop_orders_total 1
}
