// Package soak holds Parley's soak test: an in-process Endpoint (a channel
// router with presence, a small LiveView) served on loopback, driven by
// waves of Phoenix V2 WebSocket clients and LiveView churn; afterwards the
// goroutine count and the resident memory must come back to the baseline.
//
// The short version runs with every `go test`; the long one only when
// PARLEY_SOAK is set to a duration (at most 10 minutes):
//
//	PARLEY_SOAK=3m go test -run Soak -v ./internal/soak/
package soak
