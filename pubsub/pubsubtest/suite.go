package pubsubtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/pubsub"
)

// NewCluster builds the PubSubs of one conformance test: nodes of them,
// named uniquely, each started with the adapter under test, all connected
// to one engine. It registers their cleanup with t.Cleanup. restart, if
// not nil, stops the engine and starts it again on the same address (the
// PubSubs stay up and must recover by themselves); it returns once the
// engine accepts connections again.
type NewCluster func(t *testing.T, nodes int) (ps []*pubsub.PubSub, restart func())

// Timeout bounds every wait of the suite. It is generous: the suite runs
// under -race on small shared machines.
var timeout = 20 * time.Second

// Run is the conformance suite every [pubsub.Adapter] passes: per-publisher
// ordering, fan-out to many subscribers on many nodes, no echo of a node's
// own broadcasts, unsubscribe and resubscribe, BroadcastFrom, DirectBroadcast,
// 1 MiB and binary payloads, topic names that are not plain words, and an
// engine restart in the middle of a stream (skipped if restart is nil).
//
//	func TestConformance(t *testing.T) {
//		pubsubtest.Run(t, func(t *testing.T, n int) ([]*pubsub.PubSub, func()) { ... })
//	}
func Run(t *testing.T, newCluster NewCluster) {
	t.Run("OrderingPerPublisher", func(t *testing.T) { testOrdering(t, newCluster) })
	t.Run("FanOut", func(t *testing.T) { testFanOut(t, newCluster) })
	t.Run("Unsubscribe", func(t *testing.T) { testUnsubscribe(t, newCluster) })
	t.Run("BroadcastFrom", func(t *testing.T) { testBroadcastFrom(t, newCluster) })
	t.Run("DirectBroadcast", func(t *testing.T) { testDirect(t, newCluster) })
	t.Run("LargePayload", func(t *testing.T) { testLarge(t, newCluster) })
	t.Run("BinaryPayloadAndTopicNames", func(t *testing.T) { testBinary(t, newCluster) })
	t.Run("EngineRestart", func(t *testing.T) { testRestart(t, newCluster) })
}

// Events the suite uses besides its payload messages.
const (
	evMsg   = "msg"
	evProbe = "probe"
	evFence = "fence"
)

// collector is a Subscriber that keeps the "msg" messages it gets and notes
// probes and fences.
type collector struct {
	mu     sync.Mutex
	msgs   []pubsub.Message
	probes int
	fences map[string]bool
}

func newCollector() *collector { return &collector{fences: make(map[string]bool)} }

func (c *collector) Deliver(m *pubsub.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Event {
	case evProbe:
		c.probes++
	case evFence:
		c.fences[string(m.Payload)] = true
	default:
		cp := *m
		cp.From = nil
		c.msgs = append(c.msgs, cp)
	}
}

func (c *collector) got() []pubsub.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pubsub.Message(nil), c.msgs...)
}

func (c *collector) payloads() []string {
	var out []string
	for _, m := range c.got() {
		out = append(out, string(m.Payload))
	}
	return out
}

func (c *collector) sawProbe() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.probes > 0
}

func (c *collector) sawFence(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fences[id]
}

// eventually polls cond until it holds or the suite's timeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func bcast(t *testing.T, ps *pubsub.PubSub, topic, event string, payload []byte) {
	t.Helper()
	if _, err := ps.Broadcast(context.Background(), &pubsub.Message{Topic: topic, Event: event, Payload: payload}); err != nil {
		t.Fatalf("broadcast from %s: %v", ps.Node(), err)
	}
}

// ready waits until every collector has seen a probe from node from:
// then the engine knows of every subscription, and whatever anyone
// publishes afterwards reaches them.
func ready(t *testing.T, from *pubsub.PubSub, topic string, cs ...*collector) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bcast(t, from, topic, evProbe, nil)
		all := true
		for _, c := range cs {
			all = all && c.sawProbe()
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions to %q not effective after %v", topic, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var fenceSeq atomic.Uint64

// fence makes every node in turn broadcast a fence on topic and waits until
// every collector saw each one. After it, everything the nodes broadcast
// before it (and any echo of it) has arrived.
func fence(t *testing.T, nodes []*pubsub.PubSub, topic string, cs ...*collector) {
	t.Helper()
	for _, n := range nodes {
		id := strconv.FormatUint(fenceSeq.Add(1), 10)
		bcast(t, n, topic, evFence, []byte(id))
		for _, c := range cs {
			eventually(t, "fence "+id+" from "+n.Node(), func() bool { return c.sawFence(id) })
		}
	}
}

// checkSequences checks that c got, from each publisher, exactly
// "<node>:0" … "<node>:n-1" in order.
func checkSequences(t *testing.T, who string, c *collector, publishers []*pubsub.PubSub, n int) {
	t.Helper()
	next := make(map[string]int)
	for _, p := range c.payloads() {
		node, seq, ok := strings.Cut(p, ":")
		i, err := strconv.Atoi(seq)
		if !ok || err != nil {
			t.Fatalf("%s got unexpected payload %q", who, p)
		}
		if i != next[node] {
			t.Fatalf("%s got %s:%d after %s:%d: order lost, or a duplicate (echo)", who, node, i, node, next[node]-1)
		}
		next[node]++
	}
	for _, p := range publishers {
		if next[p.Node()] != n {
			t.Fatalf("%s got %d messages from %s, want %d", who, next[p.Node()], p.Node(), n)
		}
	}
}

func testOrdering(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 3)
	const topic, n = "conformance:order", 300
	cs := make([]*collector, len(nodes))
	for i, ps := range nodes {
		cs[i] = newCollector()
		if err := ps.Subscribe(topic, cs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, ps := range nodes {
		ready(t, ps, topic, cs...)
	}
	// Every node publishes at the same time.
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, ps := range nodes {
		wg.Go(func() {
			for i := range n {
				m := &pubsub.Message{Topic: topic, Event: evMsg, Payload: fmt.Appendf(nil, "%s:%d", ps.Node(), i)}
				if _, err := ps.Broadcast(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, c := range cs {
		eventually(t, fmt.Sprintf("node %d to get %d messages", i, n*len(nodes)), func() bool { return len(c.got()) >= n*len(nodes) })
	}
	fence(t, nodes, topic, cs...)
	for i, c := range cs {
		checkSequences(t, nodes[i].Node(), c, nodes, n)
	}
}

func testFanOut(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 4)
	const topic, perNode, n = "conformance:fanout", 25, 20
	var all []*collector
	for _, ps := range nodes {
		for range perNode {
			c := newCollector()
			if err := ps.Subscribe(topic, c); err != nil {
				t.Fatal(err)
			}
			all = append(all, c)
		}
		if got := ps.Subscribers(topic); got != perNode {
			t.Fatalf("%s has %d subscribers, want %d", ps.Node(), got, perNode)
		}
	}
	ready(t, nodes[0], topic, all...)
	for _, ps := range nodes {
		for i := range n {
			bcast(t, ps, topic, evMsg, fmt.Appendf(nil, "%s:%d", ps.Node(), i))
		}
	}
	fence(t, nodes, topic, all...)
	for i, c := range all {
		checkSequences(t, fmt.Sprintf("subscriber %d on %s", i%perNode, nodes[i/perNode].Node()), c, nodes, n)
	}
}

func testUnsubscribe(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 2)
	a, b := nodes[0], nodes[1]
	gone, stay := newCollector(), newCollector()
	b.Subscribe("conformance:u1", gone)
	b.Subscribe("conformance:u2", stay)
	ready(t, a, "conformance:u1", gone)
	ready(t, a, "conformance:u2", stay)
	bcast(t, a, "conformance:u1", evMsg, []byte("before"))
	eventually(t, "the message before unsubscribing", func() bool { return len(gone.got()) == 1 })

	b.Unsubscribe("conformance:u1", gone)
	if n := b.Subscribers("conformance:u1"); n != 0 {
		t.Fatalf("%d subscribers left after the last unsubscribed", n)
	}
	bcast(t, a, "conformance:u1", evMsg, []byte("while nobody listens"))
	fence(t, nodes, "conformance:u2", stay)
	if got := gone.payloads(); len(got) != 1 {
		t.Fatalf("an unsubscribed subscriber got %q", got)
	}
	// A new first subscriber gets the topic's broadcasts again, and not the
	// one sent while nobody on its node listened.
	again := newCollector()
	b.Subscribe("conformance:u1", again)
	ready(t, a, "conformance:u1", again)
	bcast(t, a, "conformance:u1", evMsg, []byte("after"))
	eventually(t, "the message after resubscribing", func() bool { return len(again.got()) == 1 })
	fence(t, nodes, "conformance:u1", again)
	if got := again.payloads(); len(got) != 1 || got[0] != "after" {
		t.Fatalf("resubscribed subscriber got %q, want [after]", got)
	}
	if got := gone.payloads(); len(got) != 1 {
		t.Fatalf("an unsubscribed subscriber got %q", got)
	}
}

func testBroadcastFrom(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 2)
	const topic = "conformance:from"
	sender, local, remote := newCollector(), newCollector(), newCollector()
	nodes[0].Subscribe(topic, sender)
	nodes[0].Subscribe(topic, local)
	nodes[1].Subscribe(topic, remote)
	ready(t, nodes[0], topic, remote)
	n, err := nodes[0].BroadcastFrom(context.Background(), sender, &pubsub.Message{Topic: topic, Event: evMsg, Payload: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("BroadcastFrom delivered locally %d times, want 1", n)
	}
	fence(t, nodes, topic, sender, local, remote)
	if got := sender.payloads(); len(got) != 0 {
		t.Fatalf("the sender got its own message: %q", got)
	}
	for name, c := range map[string]*collector{"local": local, "remote": remote} {
		if got := c.payloads(); len(got) != 1 || got[0] != "hi" {
			t.Fatalf("%s subscriber got %q, want [hi]", name, got)
		}
	}
}

func testDirect(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 3)
	const topic = "conformance:direct"
	cs := make([]*collector, len(nodes))
	for i, ps := range nodes {
		cs[i] = newCollector()
		ps.Subscribe(topic, cs[i])
	}
	ready(t, nodes[0], topic, cs...)
	ctx := context.Background()
	target := nodes[2].Node()
	for i := range 10 {
		if err := nodes[0].DirectBroadcast(ctx, target, &pubsub.Message{Topic: topic, Event: evMsg, Payload: fmt.Appendf(nil, "%s:%d", nodes[0].Node(), i)}); err != nil {
			t.Fatal(err)
		}
	}
	// To itself: local delivery only.
	if err := nodes[1].DirectBroadcast(ctx, nodes[1].Node(), &pubsub.Message{Topic: topic, Event: evMsg, Payload: []byte("self")}); err != nil {
		t.Fatal(err)
	}
	fence(t, nodes, topic, cs...)
	checkSequences(t, target, cs[2], nodes[:1], 10)
	if got := cs[0].payloads(); len(got) != 0 {
		t.Fatalf("the sender got its direct messages: %q", got)
	}
	if got := cs[1].payloads(); len(got) != 1 || got[0] != "self" {
		t.Fatalf("a bystander got %q, want only its own [self]", got)
	}
}

func testLarge(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 2)
	const topic = "conformance:large"
	c := newCollector()
	nodes[1].Subscribe(topic, c)
	ready(t, nodes[0], topic, c)
	rng := rand.New(rand.NewPCG(1, 2))
	var sent [][]byte
	for i := range 3 {
		p := make([]byte, 1<<20)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		p[0] = byte(i)
		sent = append(sent, p)
		if _, err := nodes[0].Broadcast(context.Background(), &pubsub.Message{Topic: topic, Event: evMsg, Payload: p, Binary: true}); err != nil {
			t.Fatalf("1 MiB broadcast: %v", err)
		}
	}
	eventually(t, "three 1 MiB messages", func() bool { return len(c.got()) >= 3 })
	for i, m := range c.got() {
		if !bytes.Equal(m.Payload, sent[i]) || !m.Binary {
			t.Fatalf("1 MiB message %d arrived changed (%d bytes, binary %v)", i, len(m.Payload), m.Binary)
		}
	}
}

func testBinary(t *testing.T, newCluster NewCluster) {
	nodes, _ := newCluster(t, 2)
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	topics := []string{"room:a.b", "room:a%2Eb", "room:a b", "*", ">", "a.>", "é:\x00:\xff", ""}
	cs := make([]*collector, len(topics))
	for i, tp := range topics {
		cs[i] = newCollector()
		nodes[1].Subscribe(tp, cs[i])
		ready(t, nodes[0], tp, cs[i])
	}
	for i, tp := range topics {
		m := &pubsub.Message{Topic: tp, Event: "ev.ent " + strconv.Itoa(i), Payload: append([]byte{byte(i)}, all...), Binary: i%2 == 0}
		if _, err := nodes[0].Broadcast(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	for i, tp := range topics {
		c := cs[i]
		eventually(t, fmt.Sprintf("the message on %q", tp), func() bool { return len(c.got()) >= 1 })
	}
	for i, tp := range topics {
		fence(t, nodes, tp, cs[i])
		got := cs[i].got()
		if len(got) != 1 {
			t.Fatalf("topic %q got %d messages, want 1 (topics crossed?)", tp, len(got))
		}
		m := got[0]
		if m.Topic != tp || m.Event != "ev.ent "+strconv.Itoa(i) || m.Binary != (i%2 == 0) ||
			!bytes.Equal(m.Payload, append([]byte{byte(i)}, all...)) {
			t.Fatalf("topic %q: message arrived changed: topic %q event %q binary %v", tp, m.Topic, m.Event, m.Binary)
		}
	}
}

func testRestart(t *testing.T, newCluster NewCluster) {
	nodes, restart := newCluster(t, 3)
	if restart == nil {
		t.Skip("no engine to restart")
	}
	const topic = "conformance:restart"
	c := newCollector()
	nodes[1].Subscribe(topic, c)
	ready(t, nodes[0], topic, c)

	// A stream from node 0, one message a millisecond, across the restart.
	var published atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			// Errors while the engine is away are expected.
			_, _ = nodes[0].Broadcast(ctx, &pubsub.Message{Topic: topic, Event: evMsg, Payload: fmt.Appendf(nil, "%s:%d", nodes[0].Node(), i)})
			cancel()
			published.Store(int64(i))
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	eventually(t, "the stream to flow", func() bool { return len(c.got()) >= 20 })
	restart()
	after := published.Load()
	t.Logf("engine restarted after message %d; %d received so far", after, len(c.got()))
	eventually(t, "the stream to resume after the restart", func() bool {
		got := c.got()
		if len(got) == 0 {
			return false
		}
		_, seq, _ := strings.Cut(string(got[len(got)-1].Payload), ":")
		i, _ := strconv.Atoi(seq)
		return int64(i) > after+20
	})
	close(stop)
	<-done
	// Loss during the outage is allowed; reordering and duplicates are not.
	last := -1
	for _, p := range c.payloads() {
		_, seq, _ := strings.Cut(p, ":")
		i, _ := strconv.Atoi(seq)
		if i <= last {
			t.Fatalf("message %d after %d across the restart", i, last)
		}
		last = i
	}
	// Subscriptions made after the restart, and direct messages, work too.
	fresh := newCollector()
	nodes[2].Subscribe("conformance:after-restart", fresh)
	ready(t, nodes[1], "conformance:after-restart", fresh)
	if err := nodes[0].DirectBroadcast(context.Background(), nodes[2].Node(), &pubsub.Message{Topic: "conformance:after-restart", Event: evMsg, Payload: []byte("direct")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a direct message after the restart", func() bool { return len(fresh.got()) == 1 })
}
