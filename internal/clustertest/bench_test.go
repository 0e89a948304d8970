package clustertest

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
	"github.com/parley-go/parley/pubsub/redispubsub"
)

// BenchmarkCrossNode measures a broadcast from node 0 to one subscriber on
// each other node, through a real engine on loopback, all nodes in this
// process (one clock):
//
//	latency:    one message at a time; reports p50 and p99 of send → delivery on a remote node
//	throughput: b.N messages as fast as node 0 can publish; reports messages/s delivered per remote node
//
// go test ./internal/clustertest -run '^$' -bench CrossNode -benchtime 3000x
func BenchmarkCrossNode(b *testing.B) {
	for _, engine := range []string{"nats", "redis"} {
		for _, nodes := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/nodes=%d/latency", engine, nodes), func(b *testing.B) { benchLatency(b, engine, nodes) })
			b.Run(fmt.Sprintf("%s/nodes=%d/throughput", engine, nodes), func(b *testing.B) { benchThroughput(b, engine, nodes) })
		}
	}
}

var epoch = time.Now()

// timing is a Subscriber that records the latency of every message whose
// payload starts with its send time (nanoseconds since epoch).
type timing struct {
	mu    sync.Mutex
	lat   []time.Duration
	count atomic.Int64
	probe atomic.Bool
}

func (s *timing) Deliver(m *pubsub.Message) {
	if m.Event == "probe" {
		s.probe.Store(true)
		return
	}
	sent := time.Duration(binary.LittleEndian.Uint64(m.Payload))
	d := time.Since(epoch) - sent
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
	s.count.Add(1)
}

func benchCluster(b *testing.B, engine string, n int) ([]*pubsub.PubSub, []*timing) {
	b.Helper()
	quiet := slog.New(slog.DiscardHandler)
	var newAdapter func() pubsub.Adapter
	switch engine {
	case "nats":
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, MaxPayload: 8 << 20})
		if err != nil {
			b.Fatal(err)
		}
		ns.Start()
		b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		if !ns.ReadyForConnections(wait) {
			b.Fatal("NATS not ready")
		}
		newAdapter = func() pubsub.Adapter {
			return natspubsub.New(natspubsub.Config{URL: ns.ClientURL(), Logger: quiet})
		}
	case "redis":
		url := startRedis(b)
		newAdapter = func() pubsub.Adapter { return redispubsub.New(redispubsub.Config{URL: url, Logger: quiet}) }
	}
	var nodes []*pubsub.PubSub
	var subs []*timing
	for i := range n {
		ps, err := pubsub.New(pubsub.Config{Node: "b" + strconv.Itoa(i), Adapter: newAdapter(), Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ps.Close() })
		nodes = append(nodes, ps)
		if i > 0 {
			s := &timing{}
			ps.Subscribe("bench", s)
			subs = append(subs, s)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		nodes[0].Broadcast(context.Background(), &pubsub.Message{Topic: "bench", Event: "probe"})
		ready := true
		for _, s := range subs {
			ready = ready && s.probe.Load()
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("subscriptions not effective")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nodes, subs
}

func message() *pubsub.Message {
	p := make([]byte, 256)
	binary.LittleEndian.PutUint64(p, uint64(time.Since(epoch)))
	return &pubsub.Message{Topic: "bench", Event: "msg", Payload: p}
}

func waitAll(b *testing.B, subs []*timing, n int64) {
	deadline := time.Now().Add(2 * time.Minute)
	for _, s := range subs {
		for s.count.Load() < n {
			if time.Now().After(deadline) {
				b.Fatalf("delivered %d of %d", s.count.Load(), n)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func benchLatency(b *testing.B, engine string, n int) {
	nodes, subs := benchCluster(b, engine, n)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := nodes[0].Broadcast(ctx, message()); err != nil {
			b.Fatal(err)
		}
		waitAll(b, subs, int64(i+1))
	}
	b.StopTimer()
	var all []time.Duration
	for _, s := range subs {
		s.mu.Lock()
		all = append(all, s.lat...)
		s.mu.Unlock()
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

func benchThroughput(b *testing.B, engine string, n int) {
	nodes, subs := benchCluster(b, engine, n)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := nodes[0].Broadcast(ctx, message()); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(b, subs, int64(b.N))
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*len(subs))/elapsed.Seconds(), "deliveries/s")
}

// startRedis starts redis-server on a free loopback port in a temporary
// directory, stopped when b ends, and returns its URL.
func startRedis(b *testing.B) string {
	b.Helper()
	return newRedisEngine(b).url()
}
