package presence_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
	"github.com/parley-go/parley/wire"
)

const topic = "room:lobby"

// recorder subscribes to a topic and keeps the payloads of the broadcast
// frames it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Deliver(m *pubsub.Message) {
	msg, err := wire.DecodeText(m.Payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.msgs = append(r.msgs, "undecodable: "+err.Error())
		return
	}
	if msg.JoinRef.Valid || msg.Ref.Valid || msg.Event != presence.EventDiff {
		r.msgs = append(r.msgs, "unexpected frame: "+string(m.Payload))
		return
	}
	r.msgs = append(r.msgs, string(msg.Payload))
}

func (r *recorder) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// count returns how many recorded diffs contain s.
func (r *recorder) count(s string) int {
	n := 0
	for _, p := range r.payloads() {
		if strings.Contains(p, s) {
			n++
		}
	}
	return n
}

type node struct {
	name string
	ps   *pubsub.PubSub
	tr   *presence.Tracker
	rec  *recorder
}

type cluster struct {
	bus   *pubsubtest.Bus
	cfg   presence.Config
	nodes map[string]*node
}

// fastConfig has periods short enough for tests: heartbeats every 50 ms, an
// empty one at least every 150 ms.
func fastConfig(down time.Duration) presence.Config {
	return presence.Config{
		BroadcastPeriod:  50 * time.Millisecond,
		MaxSilentPeriods: 2,
		DownPeriod:       down,
		PermdownPeriod:   time.Minute,
		Logger:           slog.New(slog.DiscardHandler),
	}
}

func newCluster(t *testing.T, cfg presence.Config, bus pubsubtest.BusConfig, names ...string) *cluster {
	t.Helper()
	c := &cluster{bus: pubsubtest.NewBus(bus), cfg: cfg, nodes: make(map[string]*node)}
	t.Cleanup(func() { c.bus.Close() })
	for _, n := range names {
		c.start(t, n, nil)
	}
	return c
}

// start adds a node; edit, if set, changes its tracker's config.
func (c *cluster) start(t *testing.T, name string, edit func(*presence.Config)) *node {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{Node: name, Adapter: c.bus.Adapter()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	cfg := c.cfg
	cfg.PubSub = ps
	if edit != nil {
		edit(&cfg)
	}
	tr, err := presence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(context.Background()) })
	n := &node{name: name, ps: ps, tr: tr, rec: &recorder{}}
	ps.Subscribe(topic, n.rec)
	c.nodes[name] = n
	return n
}

// stop closes a node's tracker and takes it off the bus.
func (c *cluster) stop(t *testing.T, name string) {
	t.Helper()
	n := c.nodes[name]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n.ps.Close()
	delete(c.nodes, name)
}

func keys(tr *presence.Tracker) string {
	var ks []string
	for k, p := range tr.List(topic) {
		ks = append(ks, fmt.Sprintf("%s×%d", k, len(p.Metas)))
	}
	return fmt.Sprint(sortStrings(ks))
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// converged reports whether every node encodes the same presence_state
// for topic and it has want keys.
func (c *cluster) converged(want int) bool {
	var first string
	for _, n := range c.nodes {
		s, _ := n.tr.State(topic)
		if first == "" {
			first = string(s)
		} else if string(s) != first {
			return false
		}
		if len(n.tr.List(topic)) != want {
			return false
		}
	}
	return true
}

func (c *cluster) waitConverged(t *testing.T, d time.Duration, want int) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d nodes to agree on %d keys", len(c.nodes), want), func() bool { return c.converged(want) })
}

// trackMany tracks n keys per node, named <node>-<i>, each under its own owner.
func (c *cluster) trackMany(t *testing.T, n int) {
	t.Helper()
	for _, nd := range c.nodes {
		for i := range n {
			if _, err := nd.tr.Track(fmt.Sprintf("%s-owner-%d", nd.name, i), topic, fmt.Sprintf("%s-%d", nd.name, i), map[string]any{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestClusterConverges(t *testing.T) {
	c := newCluster(t, fastConfig(500*time.Millisecond), pubsubtest.BusConfig{}, "a", "b", "c")
	c.trackMany(t, 20)
	c.waitConverged(t, 5*time.Second, 60)

	a := c.nodes["a"]
	for i := range 10 {
		a.tr.Untrack(fmt.Sprintf("a-owner-%d", i), topic, fmt.Sprintf("a-%d", i))
	}
	if _, err := a.tr.Update("a-owner-10", topic, "a-10", map[string]any{"status": "away"}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged(t, 5*time.Second, 50)
	p, _ := c.nodes["c"].tr.Get(topic, "a-10")
	if len(p.Metas) != 1 || p.Metas[0].PrevRef() == "" {
		t.Fatalf("c sees a-10 as %+v, want the updated meta", p)
	}
}

func TestClusterLossyConverges(t *testing.T) {
	// 30% of messages lost: heartbeats with deltas go missing and only the
	// clock-driven transfers can fill the gaps.
	c := newCluster(t, fastConfig(2*time.Second), pubsubtest.BusConfig{DropRate: 0.3, Seed: 42}, "a", "b", "c")
	c.trackMany(t, 30)
	c.waitConverged(t, 10*time.Second, 90)
	for _, name := range []string{"a", "b"} {
		n := c.nodes[name]
		for i := range 15 {
			n.tr.UntrackAll(fmt.Sprintf("%s-owner-%d", name, i))
		}
	}
	c.waitConverged(t, 10*time.Second, 60)
	if _, dropped := c.bus.Stats(); dropped == 0 {
		t.Fatal("the bus dropped nothing")
	}
	var transfers uint64
	for _, n := range c.nodes {
		transfers += n.tr.Stats().TransfersReceived
	}
	if transfers == 0 {
		t.Fatal("converged without a single transfer")
	}
}

func TestPartitionedNodeGoesDownAndComesBack(t *testing.T) {
	const down = 500 * time.Millisecond
	c := newCluster(t, fastConfig(down), pubsubtest.BusConfig{}, "a", "b", "c")
	c.trackMany(t, 3)
	c.waitConverged(t, 5*time.Second, 9)

	c.bus.Partition("c")
	cut := time.Now()
	a, b := c.nodes["a"], c.nodes["b"]
	waitFor(t, 3*down, "c's presences to leave a and b", func() bool {
		return len(a.tr.List(topic)) == 6 && len(b.tr.List(topic)) == 6
	})
	if e := time.Since(cut); e < down/2 {
		t.Fatalf("c's presences left after %v, before the down period", e)
	}
	// The diff follows the change to the state closely, not atomically.
	waitFor(t, time.Second, "a's subscribers to see c's presences leave", func() bool {
		return a.rec.count(`"leaves":{"c-0"`) == 1
	})
	// c sees the others go down too.
	waitFor(t, 3*down, "a's and b's presences to leave c", func() bool { return len(c.nodes["c"].tr.List(topic)) == 3 })

	// While cut off, c changes; after healing, everybody agrees again.
	c.nodes["c"].tr.UntrackAll("c-owner-0")
	c.bus.Heal("c")
	c.waitConverged(t, 5*time.Second, 8)
}

func TestCloseWithoutPermdownLeavesAfterDownPeriod(t *testing.T) {
	const down = 500 * time.Millisecond
	c := newCluster(t, fastConfig(down), pubsubtest.BusConfig{}, "a", "b")
	c.start(t, "c", func(cfg *presence.Config) { cfg.SkipPermdownOnClose = true })
	c.trackMany(t, 2)
	c.waitConverged(t, 5*time.Second, 6)
	c.stop(t, "c")
	stopped := time.Now()
	c.waitConverged(t, 3*down, 4)
	if e := time.Since(stopped); e < down/2 {
		t.Fatalf("c's presences left after %v, before the down period", e)
	}
}

func TestGracefulCloseLeavesAtOnce(t *testing.T) {
	const down = 10 * time.Second
	c := newCluster(t, fastConfig(down), pubsubtest.BusConfig{}, "a", "b", "c")
	c.trackMany(t, 2)
	c.waitConverged(t, 5*time.Second, 6)
	c.stop(t, "c")
	c.waitConverged(t, time.Second, 4) // far less than the down period
	waitFor(t, time.Second, "a's subscribers to see c's presences leave", func() bool {
		return c.nodes["a"].rec.count(`"leaves":{"c-0"`) == 1
	})
}

func TestRestartedNodeReplacesOldIncarnation(t *testing.T) {
	const down = 10 * time.Second
	c := newCluster(t, fastConfig(down), pubsubtest.BusConfig{}, "a", "b")
	old := c.start(t, "c", func(cfg *presence.Config) { cfg.SkipPermdownOnClose = true })
	old.tr.Track("o1", topic, "c-old", nil)
	c.waitConverged(t, 5*time.Second, 1)
	c.stop(t, "c") // a crash: nobody is told

	fresh := c.start(t, "c", nil)
	fresh.tr.Track("o1", topic, "c-new", nil)
	c.waitConverged(t, 2*time.Second, 1) // well before the down period
	if _, ok := c.nodes["a"].tr.Get(topic, "c-new"); !ok {
		t.Fatalf("a lists %s, want c-new only", keys(c.nodes["a"].tr))
	}
}

func TestDiffsGoToLocalSubscribersOnly(t *testing.T) {
	c := newCluster(t, fastConfig(time.Second), pubsubtest.BusConfig{}, "a", "b", "c")
	// d has a subscriber of the topic but no tracker: it must hear nothing.
	d, err := pubsub.New(pubsub.Config{Node: "d", Adapter: c.bus.Adapter()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dRec := &recorder{}
	d.Subscribe(topic, dRec)

	a := c.nodes["a"]
	a.tr.Track("o1", topic, "ana", map[string]any{"device": "phone"})
	// The diff reaches a's own subscribers synchronously.
	if a.rec.count(`"joins":{"ana"`) != 1 {
		t.Fatalf("a's subscriber got %v right after Track", a.rec.payloads())
	}
	c.waitConverged(t, 5*time.Second, 1)
	// A second change, to be sure anything sent after the first has arrived.
	a.tr.Track("o2", topic, "zed", nil)
	c.waitConverged(t, 5*time.Second, 2)
	waitFor(t, 2*time.Second, "zed's diffs", func() bool {
		return c.nodes["b"].rec.count(`"zed"`) == 1 && c.nodes["c"].rec.count(`"zed"`) == 1
	})
	for name, n := range c.nodes {
		if got := n.rec.count(`"joins":{"ana"`); got != 1 {
			t.Fatalf("node %s's subscriber got %d diffs joining ana, want 1: %v", name, got, n.rec.payloads())
		}
	}
	if got := dRec.payloads(); len(got) != 0 {
		t.Fatalf("a node without a tracker got diffs: %v", got)
	}
}

// TestRestartedNodeLearnsTheOthers: the new incarnation of a crashed node
// must get the other nodes' presences (by transfer), not only have its own
// listed by them, although the others' later deltas reach it before any
// transfer does.
func TestRestartedNodeLearnsTheOthers(t *testing.T) {
	const down = 10 * time.Second
	c := newCluster(t, fastConfig(down), pubsubtest.BusConfig{}, "a", "b")
	for i, n := range []string{"a", "b"} {
		if _, err := c.nodes[n].tr.Track(fmt.Sprintf("o%d", i), topic, n+"-1", nil); err != nil {
			t.Fatal(err)
		}
	}
	old := c.start(t, "c", func(cfg *presence.Config) { cfg.SkipPermdownOnClose = true })
	old.tr.Track("oc", topic, "c-old", nil)
	c.waitConverged(t, 5*time.Second, 3)
	c.stop(t, "c")

	fresh := c.start(t, "c", nil)
	fresh.tr.Track("oc", topic, "c-new", nil)
	// Changes on a and b after the restart: deltas the fresh node merges
	// before it has their earlier state.
	c.nodes["a"].tr.Track("o9", topic, "a-2", nil)
	c.nodes["b"].tr.Track("o8", topic, "b-2", nil)
	c.waitConverged(t, 5*time.Second, 5) // well before the down period
	if _, ok := fresh.tr.Get(topic, "a-1"); !ok {
		t.Fatalf("the restarted node lists %s, want a-1 among them", keys(fresh.tr))
	}
}

// TestNewNodeLearnsTheOthersAtOnce: with a long keep-alive (an empty
// heartbeat every 1,000 ticks) and nothing changing on the old nodes, a
// node that appears still gets their state within a few ticks: they answer
// its first heartbeat with one of theirs, whose clocks make it ask for a
// transfer. (Before, it waited for their next keep-alive, 50 s here.)
func TestNewNodeLearnsTheOthersAtOnce(t *testing.T) {
	cfg := fastConfig(30 * time.Second)
	cfg.MaxSilentPeriods = 1000
	c := newCluster(t, cfg, pubsubtest.BusConfig{}, "a", "b")
	for i, n := range []string{"a", "b"} {
		if _, err := c.nodes[n].tr.Track(fmt.Sprintf("o%d", i), topic, n+"-1", nil); err != nil {
			t.Fatal(err)
		}
	}
	c.waitConverged(t, 5*time.Second, 2)
	fresh := c.start(t, "c", nil)
	waitFor(t, 5*time.Second, "the new node to list a-1 and b-1", func() bool {
		_, a := fresh.tr.Get(topic, "a-1")
		_, b := fresh.tr.Get(topic, "b-1")
		return a && b
	})
}
