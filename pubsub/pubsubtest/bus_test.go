package pubsubtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// recorder is a Subscriber that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Deliver(m *pubsub.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(m.Payload))
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newNodes(t *testing.T, bus *pubsubtest.Bus, names ...string) []*pubsub.PubSub {
	t.Helper()
	var out []*pubsub.PubSub
	for _, n := range names {
		ps, err := pubsub.New(pubsub.Config{Node: n, Adapter: bus.Adapter()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ps.Close() })
		out = append(out, ps)
	}
	return out
}

func TestBroadcastReachesOtherNodesWithSubscribers(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	ps := newNodes(t, bus, "a", "b", "c")
	ra, rb := &recorder{}, &recorder{}
	ps[0].Subscribe("t", ra)
	ps[1].Subscribe("t", rb)
	// c has no subscriber of t.
	ctx := context.Background()
	for i := range 100 {
		if _, err := ps[0].Broadcast(ctx, &pubsub.Message{Topic: "t", Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "b to get 100 messages", func() bool { return len(rb.got()) == 100 })
	// The sender's own subscriber got them locally, once each: the bus
	// never delivers back to the sender.
	if got := ra.got(); len(got) != 100 {
		t.Fatalf("sender's subscriber got %d, want 100", len(got))
	}
	for i, m := range rb.got() {
		if m != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order lost", i, m)
		}
	}
	if d, _ := bus.Stats(); d != 100 {
		t.Fatalf("bus delivered %d messages, want 100 (none to c, none back to a)", d)
	}
}

func TestDirectBroadcastReachesOneNode(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	ps := newNodes(t, bus, "a", "b", "c")
	rb, rc := &recorder{}, &recorder{}
	ps[1].Subscribe("t", rb)
	ps[2].Subscribe("t", rc)
	if err := ps[0].DirectBroadcast(context.Background(), "c", &pubsub.Message{Topic: "t", Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "c to get the message", func() bool { return len(rc.got()) == 1 })
	if len(rb.got()) != 0 {
		t.Fatalf("b got a direct message for c: %v", rb.got())
	}
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	ps := newNodes(t, bus, "a", "b")
	rb := &recorder{}
	ps[1].Subscribe("t", rb)
	ps[1].Unsubscribe("t", rb)
	ps[0].Broadcast(context.Background(), &pubsub.Message{Topic: "t", Payload: []byte("x")})
	if d, dropped := bus.Stats(); d != 0 || dropped != 0 {
		t.Fatalf("a message for a node without interest was sent: delivered %d dropped %d", d, dropped)
	}
}

func TestDropRate(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{DropRate: 0.3, Seed: 7})
	defer bus.Close()
	ps := newNodes(t, bus, "a", "b")
	rb := &recorder{}
	ps[1].Subscribe("t", rb)
	const n = 2000
	for range n {
		ps[0].Broadcast(context.Background(), &pubsub.Message{Topic: "t", Payload: []byte("x")})
	}
	waitFor(t, 2*time.Second, "every message handled", func() bool {
		d, dropped := bus.Stats()
		return d+dropped == n && len(rb.got()) == int(d)
	})
	_, dropped := bus.Stats()
	if frac := float64(dropped) / n; frac < 0.25 || frac > 0.35 {
		t.Fatalf("dropped %.2f of the messages, want about 0.3", frac)
	}
}

func TestPartitionAndHeal(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	ps := newNodes(t, bus, "a", "b")
	ra, rb := &recorder{}, &recorder{}
	ps[0].Subscribe("t", ra)
	ps[1].Subscribe("t", rb)
	ctx := context.Background()
	bus.Partition("b")
	ps[0].Broadcast(ctx, &pubsub.Message{Topic: "t", Payload: []byte("a1")})
	ps[1].Broadcast(ctx, &pubsub.Message{Topic: "t", Payload: []byte("b1")})
	ps[0].DirectBroadcast(ctx, "b", &pubsub.Message{Topic: "t", Payload: []byte("a2")})
	if _, dropped := bus.Stats(); dropped != 3 {
		t.Fatalf("dropped %d across the partition, want 3", dropped)
	}
	bus.Heal("b")
	ps[0].Broadcast(ctx, &pubsub.Message{Topic: "t", Payload: []byte("a3")})
	ps[1].Broadcast(ctx, &pubsub.Message{Topic: "t", Payload: []byte("b3")})
	// Each sees its own messages locally and, after healing, the other's.
	waitFor(t, 2*time.Second, "delivery after heal", func() bool {
		return len(rb.got()) == 3 && len(ra.got()) == 3
	})
	if got := fmt.Sprint(rb.got()); got != "[b1 b3 a3]" {
		t.Fatalf("b got %v, want [b1 b3 a3]", got)
	}
	if got := fmt.Sprint(ra.got()); got != "[a1 a3 b3]" {
		t.Fatalf("a got %v, want [a1 a3 b3]", got)
	}
}

func TestCloseStopsDelivery(t *testing.T) {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	ps := newNodes(t, bus, "a", "b")
	if err := ps[1].Close(); err != nil {
		t.Fatal(err)
	}
	rb := &recorder{}
	ps[1].Subscribe("t", rb) // local only now: the adapter is closed
	ps[0].Broadcast(context.Background(), &pubsub.Message{Topic: "t", Payload: []byte("x")})
	if d, _ := bus.Stats(); d != 0 {
		t.Fatalf("delivered %d to a closed node", d)
	}
	bus.Close()
	if _, err := ps[0].Broadcast(context.Background(), &pubsub.Message{Topic: "t"}); !errors.Is(err, pubsubtest.ErrClosed) {
		t.Fatalf("broadcast on a closed bus: %v, want ErrClosed", err)
	}
	// A node name may be reused only while free.
	bus2 := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus2.Close()
	newNodes(t, bus2, "x")
	if _, err := pubsub.New(pubsub.Config{Node: "x", Adapter: bus2.Adapter()}); !errors.Is(err, pubsubtest.ErrNodeTaken) {
		t.Fatalf("second node x: %v, want ErrNodeTaken", err)
	}
}

func Example() {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	a, _ := pubsub.New(pubsub.Config{Node: "a", Adapter: bus.Adapter()})
	b, _ := pubsub.New(pubsub.Config{Node: "b", Adapter: bus.Adapter()})
	defer a.Close()
	defer b.Close()
	got := make(chan string, 1)
	b.Subscribe("room:lobby", &chanSubscriber{got})
	a.Broadcast(context.Background(), &pubsub.Message{Topic: "room:lobby", Payload: []byte("hello from a")})
	fmt.Println(<-got)
	// Output: hello from a
}

type chanSubscriber struct{ c chan<- string }

func (s *chanSubscriber) Deliver(m *pubsub.Message) { s.c <- string(m.Payload) }

// TestConformance runs the adapter suite on the Bus; its "engine restart"
// is a partition of every node, healed at once.
func TestConformance(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, n int) ([]*pubsub.PubSub, func()) {
		bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
		t.Cleanup(func() { bus.Close() })
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("node%d", i))
		}
		nodes := newNodes(t, bus, names...)
		return nodes, func() {
			bus.Partition(names...)
			bus.Heal(names...)
		}
	})
}
