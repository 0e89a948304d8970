package presence_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

const benchN = 10000

func benchTracker(b *testing.B, fetch bool) *presence.Tracker {
	b.Helper()
	ps, _ := pubsub.New(pubsub.Config{})
	cfg := presence.Config{PubSub: ps, BroadcastPeriod: 5 * time.Millisecond}
	if fetch {
		// A no-op Fetch forces the map-building path.
		cfg.Fetch = func(string, map[string]presence.Presence) {}
	}
	tr, err := presence.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tr.Close(context.Background()) })
	return tr
}

func track10k(b *testing.B, tr *presence.Tracker) {
	for i := range benchN {
		if _, err := tr.Track(fmt.Sprintf("owner-%d", i), "room:lobby", fmt.Sprintf("user-%d", i),
			map[string]any{"device": "phone", "online_at": 1700000000 + i}); err != nil {
			b.Fatal(err)
		}
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTrack10k tracks 10k presences in one topic and reports the heap
// retained per presence.
func BenchmarkTrack10k(b *testing.B) {
	var perEntry float64
	for b.Loop() {
		b.StopTimer()
		before := heap()
		tr := benchTracker(b, false)
		b.StartTimer()
		track10k(b, tr)
		b.StopTimer()
		// Steady state: the next heartbeat has taken the pending delta.
		for sent := tr.Stats().HeartbeatsSent; tr.Stats().HeartbeatsSent < sent+2; {
			time.Sleep(time.Millisecond)
		}
		perEntry = float64(heap()-before) / benchN
		runtime.KeepAlive(tr)
		tr.Close(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(perEntry, "B/presence")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchN), "ns/track")
}

// BenchmarkState10k builds the presence_state payload of a topic with 10k
// presences: List plus JSON encoding.
func BenchmarkState10k(b *testing.B) {
	for _, fetch := range []bool{false, true} {
		name := "direct"
		if fetch {
			name = "with-fetch"
		}
		b.Run(name, func(b *testing.B) {
			tr := benchTracker(b, fetch)
			track10k(b, tr)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				s, err := tr.State("room:lobby")
				if err != nil {
					b.Fatal(err)
				}
				size = len(s)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// BenchmarkListEncode10k is List then EncodeState, what a caller that
// edits the map does.
func BenchmarkListEncode10k(b *testing.B) {
	tr := benchTracker(b, false)
	track10k(b, tr)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := presence.EncodeState(tr.List("room:lobby")); err != nil {
			b.Fatal(err)
		}
	}
}
