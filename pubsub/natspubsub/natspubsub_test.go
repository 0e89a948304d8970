package natspubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// natsServer is an embedded NATS server on a free loopback port that can be
// restarted on the same port.
type natsServer struct {
	t    *testing.T
	port int
	s    *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, port: server.RANDOM_PORT}
	ns.start()
	ns.port = ns.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       ns.port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20, // Parley frames may be 1 MiB
	})
	if err != nil {
		ns.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		ns.t.Fatal("embedded NATS not ready")
	}
	ns.s = s
}

func (ns *natsServer) stop() {
	if ns.s != nil {
		ns.s.Shutdown()
		ns.s.WaitForShutdown()
		ns.s = nil
	}
}

func (ns *natsServer) restart() {
	ns.stop()
	ns.start()
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

var quiet = slog.New(slog.DiscardHandler)

func newNode(t *testing.T, url, namespace, node string) (*pubsub.PubSub, *natspubsub.Adapter) {
	t.Helper()
	a := natspubsub.New(natspubsub.Config{URL: url, Namespace: namespace, ReconnectWait: 50 * time.Millisecond, Logger: quiet})
	ps, err := pubsub.New(pubsub.Config{Node: node, Adapter: a, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func TestConformance(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, n int) ([]*pubsub.PubSub, func()) {
		ns := startNATS(t)
		var nodes []*pubsub.PubSub
		for i := range n {
			ps, _ := newNode(t, ns.url(), "conformance", fmt.Sprintf("node%d", i))
			nodes = append(nodes, ps)
		}
		return nodes, ns.restart
	})
}

// TestNamespacesAreApart runs two applications on one NATS server with the
// same topic and node names.
func TestNamespacesAreApart(t *testing.T) {
	ns := startNATS(t)
	a1, _ := newNode(t, ns.url(), "app1", "a")
	b1, _ := newNode(t, ns.url(), "app1", "b")
	a2, _ := newNode(t, ns.url(), "app2.sub", "a")
	b2, _ := newNode(t, ns.url(), "app2.sub", "b")
	got1, got2 := &events{}, &events{}
	b1.Subscribe("room:x", got1)
	b2.Subscribe("room:x", got2)
	ctx := context.Background()
	waitFor(t, "app1 to deliver", func() bool {
		a1.Broadcast(ctx, &pubsub.Message{Topic: "room:x", Event: "app1"})
		return got1.count("app1") > 0
	})
	waitFor(t, "app2 to deliver", func() bool {
		a2.Broadcast(ctx, &pubsub.Message{Topic: "room:x", Event: "app2"})
		a2.DirectBroadcast(ctx, "b", &pubsub.Message{Topic: "room:x", Event: "app2"})
		return got2.count("app2") > 0
	})
	// Fence: an app1 message published after app2's arrives; by then any
	// app2 message that could leak into app1 has too.
	a1.Broadcast(ctx, &pubsub.Message{Topic: "room:x", Event: "fence"})
	waitFor(t, "app1 fence", func() bool { return got1.count("fence") > 0 })
	if n := got1.count("app2"); n != 0 {
		t.Fatalf("app1 received %d of app2's messages: namespaces leak", n)
	}
	if n := got2.count("app1") + got2.count("fence"); n != 0 {
		t.Fatalf("app2 received %d of app1's messages: namespaces leak", n)
	}
}

// TestStatsAndReconnect checks the counters across an engine restart.
func TestStatsAndReconnect(t *testing.T) {
	ns := startNATS(t)
	a, sa := newNode(t, ns.url(), "stats", "a")
	b, sb := newNode(t, ns.url(), "stats", "b")
	got := &counter{}
	b.Subscribe("t", got)
	if st := sb.Stats(); !st.Connected || st.Topics != 1 {
		t.Fatalf("stats %+v: want connected with 1 topic", st)
	}
	ctx := context.Background()
	waitFor(t, "delivery", func() bool { a.Broadcast(ctx, &pubsub.Message{Topic: "t"}); return got.Load() > 0 })
	ns.restart()
	waitFor(t, "both to reconnect", func() bool {
		return sa.Stats().Reconnects == 1 && sb.Stats().Reconnects == 1 && sa.Stats().Connected && sb.Stats().Connected
	})
	n := got.Load()
	waitFor(t, "delivery after the restart", func() bool { a.Broadcast(ctx, &pubsub.Message{Topic: "t"}); return got.Load() > n })
	st := sb.Stats()
	if st.Disconnects != 1 || st.Received == 0 || sa.Stats().Published == 0 {
		t.Fatalf("stats after a restart: %+v", st)
	}
	b.Unsubscribe("t", got)
	if st := sb.Stats(); st.Topics != 0 {
		t.Fatalf("%d topics subscribed after the last unsubscribe", st.Topics)
	}
}

// TestPresenceOverNATS: three trackers on three nodes converge, and the
// presences of a node that stops without a goodbye leave the others after
// the down period.
func TestPresenceOverNATS(t *testing.T) {
	ns := startNATS(t)
	testPresence(t, func(node string) *pubsub.PubSub {
		ps, _ := newNode(t, ns.url(), "presence", node)
		return ps
	})
}

func testPresence(t *testing.T, newPubSub func(node string) *pubsub.PubSub) {
	const topic = "room:lobby"
	var trackers []*presence.Tracker
	var pubsubs []*pubsub.PubSub
	for i := range 3 {
		ps := newPubSub(fmt.Sprintf("p%d", i))
		tr, err := presence.New(presence.Config{
			PubSub:              ps,
			BroadcastPeriod:     100 * time.Millisecond,
			MaxSilentPeriods:    3,
			DownPeriod:          1500 * time.Millisecond,
			PermdownPeriod:      time.Minute,
			SkipPermdownOnClose: true,
			Logger:              quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close(context.Background()) })
		if _, err := tr.Track(fmt.Sprintf("owner%d", i), topic, fmt.Sprintf("user%d", i), map[string]any{"node": i}); err != nil {
			t.Fatal(err)
		}
		trackers = append(trackers, tr)
		pubsubs = append(pubsubs, ps)
	}
	for i, tr := range trackers {
		waitFor(t, fmt.Sprintf("tracker %d to list all three users", i), func() bool { return len(tr.List(topic)) == 3 })
	}
	// Node 2 dies: no goodbye (SkipPermdownOnClose), its PubSub goes away.
	if err := trackers[2].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	pubsubs[2].Close()
	stopped := time.Now()
	for i, tr := range trackers[:2] {
		waitFor(t, fmt.Sprintf("tracker %d to drop user2", i), func() bool {
			_, ok := tr.List(topic)["user2"]
			return !ok && len(tr.List(topic)) == 2
		})
	}
	if d := time.Since(stopped); d < time.Second {
		t.Fatalf("user2 left after %v, before the down period", d)
	}
}

// counter is a Subscriber that counts its deliveries.
type counter struct{ atomic.Int64 }

func (c *counter) Deliver(*pubsub.Message) { c.Add(1) }

// events counts delivered messages by event.
type events struct {
	mu sync.Mutex
	n  map[string]int
}

func (e *events) Deliver(m *pubsub.Message) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[m.Event]++
}

func (e *events) count(event string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[event]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
