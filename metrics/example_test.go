package metrics_test

import (
	"os"

	"github.com/parley-go/parley/metrics"
)

func Example() {
	reg := metrics.NewRegistry()
	joins := reg.Counter("app_joins_total", "Channel joins.", "topic")
	room := joins.With("room:*") // resolve once, reuse on the hot path
	room.Inc()
	room.Inc()
	_, _ = reg.WriteTo(os.Stdout)
	// Output:
	// # HELP app_joins_total Channel joins.
	// # TYPE app_joins_total counter
	// app_joins_total{topic="room:*"} 2
}
