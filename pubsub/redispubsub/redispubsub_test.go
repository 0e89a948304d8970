package redispubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
	"github.com/parley-go/parley/pubsub/redispubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const redisServer = "/usr/bin/redis-server"

// redisProc is a redis-server on a free loopback port in a temporary
// directory, restartable on the same port, stopped at the end of the test.
type redisProc struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(t *testing.T) *redisProc {
	t.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		t.Skipf("%s is missing (scripts/deps.sh installs Debian's redis-server): %v", redisServer, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisProc{t: t, port: port, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) start() {
	r.t.Helper()
	cmd := exec.Command(redisServer,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server not accepting on %s: %v", r.addr(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *redisProc) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func (r *redisProc) restart() {
	r.stop()
	r.start()
}

func (r *redisProc) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }
func (r *redisProc) url() string  { return "redis://" + r.addr() + "/0" }

var quiet = slog.New(slog.DiscardHandler)

func newNode(t *testing.T, url, namespace, node string) (*pubsub.PubSub, *redispubsub.Adapter) {
	t.Helper()
	a := redispubsub.New(redispubsub.Config{URL: url, Namespace: namespace, ReconnectWait: 100 * time.Millisecond, Logger: quiet})
	ps, err := pubsub.New(pubsub.Config{Node: node, Adapter: a, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	return ps, a
}

func TestConformance(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T, n int) ([]*pubsub.PubSub, func()) {
		r := startRedis(t)
		var nodes []*pubsub.PubSub
		for i := range n {
			ps, _ := newNode(t, r.url(), "conformance", fmt.Sprintf("node%d", i))
			nodes = append(nodes, ps)
		}
		return nodes, r.restart
	})
}

func TestNamespacesAreApart(t *testing.T) {
	r := startRedis(t)
	a1, _ := newNode(t, r.url(), "app1", "a")
	b1, _ := newNode(t, r.url(), "app1", "b")
	a2, _ := newNode(t, r.url(), "app2", "a")
	b2, _ := newNode(t, r.url(), "app2", "b")
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
	if _, err := pubsub.New(pubsub.Config{Adapter: redispubsub.New(redispubsub.Config{URL: r.url(), Namespace: "a:b"})}); err == nil {
		t.Fatal("a namespace with ':' was accepted")
	}
}

func TestStatsAndReconnect(t *testing.T) {
	r := startRedis(t)
	a, sa := newNode(t, r.url(), "stats", "a")
	b, sb := newNode(t, r.url(), "stats", "b")
	got := &counter{}
	b.Subscribe("t", got)
	if st := sb.Stats(); !st.Connected || st.Topics != 1 {
		t.Fatalf("stats %+v: want connected with 1 topic", st)
	}
	ctx := context.Background()
	waitFor(t, "delivery", func() bool { a.Broadcast(ctx, &pubsub.Message{Topic: "t"}); return got.Load() > 0 })
	r.restart()
	n := got.Load()
	waitFor(t, "delivery after the restart", func() bool { a.Broadcast(ctx, &pubsub.Message{Topic: "t"}); return got.Load() > n })
	waitFor(t, "b to count the outage", func() bool {
		st := sb.Stats()
		return st.Connected && st.Disconnects == 1 && st.Reconnects == 1
	})
	if st := sa.Stats(); st.Published == 0 || st.Dropped != 0 {
		t.Fatalf("sender stats %+v", st)
	}
	b.Unsubscribe("t", got)
	if st := sb.Stats(); st.Topics != 0 || st.Received == 0 {
		t.Fatalf("stats after unsubscribing: %+v", st)
	}
}

func TestPresenceOverRedis(t *testing.T) {
	r := startRedis(t)
	const topic = "room:lobby"
	var trackers []*presence.Tracker
	var pubsubs []*pubsub.PubSub
	for i := range 3 {
		ps, _ := newNode(t, r.url(), "presence", fmt.Sprintf("p%d", i))
		tr, err := presence.New(presence.Config{
			PubSub: ps, BroadcastPeriod: 100 * time.Millisecond, MaxSilentPeriods: 3,
			DownPeriod: 1500 * time.Millisecond, PermdownPeriod: time.Minute,
			SkipPermdownOnClose: true, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close(context.Background()) })
		if _, err := tr.Track(fmt.Sprintf("owner%d", i), topic, fmt.Sprintf("user%d", i), nil); err != nil {
			t.Fatal(err)
		}
		trackers, pubsubs = append(trackers, tr), append(pubsubs, ps)
	}
	for i, tr := range trackers {
		waitFor(t, fmt.Sprintf("tracker %d to list all three users", i), func() bool { return len(tr.List(topic)) == 3 })
	}
	trackers[2].Close(context.Background())
	pubsubs[2].Close()
	stopped := time.Now()
	for i, tr := range trackers[:2] {
		waitFor(t, fmt.Sprintf("tracker %d to drop user2", i), func() bool { return len(tr.List(topic)) == 2 })
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
