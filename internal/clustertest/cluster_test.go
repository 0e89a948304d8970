// Package clustertest runs parley-demo as a real cluster: three processes on
// one SO_REUSEPORT address joined by an embedded NATS server, driven over
// WebSocket with the Phoenix V2 protocol. Skipped under -short.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/internal/demo"
	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/internal/wsclient"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const wait = 30 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// node is one parley-demo process.
type node struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	logs bytes.Buffer // stderr; read after done
}

func startNode(t *testing.T, bin, name, addr string, engineArgs []string) *node {
	t.Helper()
	n := &node{name: name, done: make(chan struct{})}
	// The demo serves the client packages, so it needs the real ones.
	nodeModules, err := parley.FindNodeModules("")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-addr", addr, "-reuseport", "-node", name,
		"-data", filepath.Join(t.TempDir(), "data"), "-node-modules", nodeModules,
		"-presence-broadcast", "200ms", "-presence-down", "2s"}, engineArgs...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stderr = &n.logs
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "PARLEY_LISTENING ") {
				once.Do(func() { close(listening) })
			}
		}
		n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", name, n.logs.String())
		}
	})
	select {
	case <-listening:
	case <-n.done:
		t.Fatalf("node %s exited at start:\n%s", name, n.logs.String())
	case <-time.After(wait):
		t.Fatalf("node %s not listening after %v", name, wait)
	}
	return n
}

// client is a Phoenix V2 client over one WebSocket.
type client struct {
	user   string
	node   string
	conn   *wsclient.Conn
	ref    int
	frames chan []json.RawMessage
	done   chan struct{}

	// mu guards the fields below, filled by the reader.
	mu       sync.Mutex
	messages []string        // lobby "message" bodies
	present  map[string]bool // party presence by username
}

func dial(t *testing.T, addr, user string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := wsclient.Dial(ctx, "ws://"+addr+"/socket/websocket?vsn=2.0.0&username="+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{user: user, conn: conn, frames: make(chan []json.RawMessage, 1024), done: make(chan struct{}), present: map[string]bool{}}
	go c.read()
	t.Cleanup(func() {
		conn.CloseNow()
		<-c.done
	})
	reply := c.join(t, demo.NodeTopic)
	var r struct {
		Response struct{ Node string } `json:"response"`
	}
	json.Unmarshal(reply, &r)
	c.node = r.Response.Node
	return c
}

// read keeps lobby messages and presence, and passes replies on.
func (c *client) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		var f []json.RawMessage
		if json.Unmarshal(data, &f) != nil || len(f) != 5 {
			continue
		}
		var event string
		json.Unmarshal(f[3], &event)
		switch event {
		case "phx_reply":
			select {
			case c.frames <- f:
			default:
			}
		case "message":
			var m struct{ Body string }
			json.Unmarshal(f[4], &m)
			c.mu.Lock()
			c.messages = append(c.messages, m.Body)
			c.mu.Unlock()
		case "presence_state":
			var st map[string]json.RawMessage
			json.Unmarshal(f[4], &st)
			c.mu.Lock()
			clear(c.present)
			for k := range st {
				c.present[k] = true
			}
			c.mu.Unlock()
		case "presence_diff":
			var d struct{ Joins, Leaves map[string]json.RawMessage }
			json.Unmarshal(f[4], &d)
			c.mu.Lock()
			for k := range d.Leaves {
				delete(c.present, k)
			}
			for k := range d.Joins {
				c.present[k] = true
			}
			c.mu.Unlock()
		}
	}
}

func (c *client) send(t *testing.T, joinRef, topic, event string, payload any) string {
	t.Helper()
	c.ref++
	ref := strconv.Itoa(c.ref)
	if joinRef == "" {
		joinRef = ref
	}
	frame, _ := json.Marshal([]any{joinRef, ref, topic, event, payload})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.conn.Write(ctx, wsclient.Text, frame); err != nil {
		t.Fatalf("%s: write: %v", c.user, err)
	}
	return ref
}

// join joins topic and returns the ok reply's payload.
func (c *client) join(t *testing.T, topic string) json.RawMessage {
	t.Helper()
	ref := c.send(t, "", topic, "phx_join", map[string]any{})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f := <-c.frames:
			var got string
			json.Unmarshal(f[1], &got)
			if got != ref {
				continue
			}
			if !bytes.Contains(f[4], []byte(`"status":"ok"`)) {
				t.Fatalf("%s: join %s: %s", c.user, topic, f[4])
			}
			return f[4]
		case <-c.done:
			t.Fatalf("%s: connection lost while joining %s", c.user, topic)
		case <-timer.C:
			t.Fatalf("%s: no reply to joining %s", c.user, topic)
		}
	}
}

func (c *client) lobbyMessages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.messages...)
}

func (c *client) presentUsers() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for k := range c.present {
		out[k] = true
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// engine is the NATS or Redis server a cluster runs on.
type engine interface {
	// args are parley-demo's flags for the engine.
	args() []string
	// restart stops the engine and starts it again on the same address.
	restart(t *testing.T)
}

type natsEngine struct {
	srv  *server.Server
	port int
}

func newNATSEngine(t *testing.T) *natsEngine {
	t.Helper()
	e := &natsEngine{port: server.RANDOM_PORT}
	e.start(t)
	e.port = e.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { e.srv.Shutdown(); e.srv.WaitForShutdown() })
	return e
}

func (e *natsEngine) start(t *testing.T) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: e.port, NoLog: true, NoSigs: true, MaxPayload: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(wait) {
		t.Fatal("embedded NATS not ready")
	}
	e.srv = ns
}

func (e *natsEngine) args() []string { return []string{"-nats", e.srv.ClientURL()} }

func (e *natsEngine) restart(t *testing.T) {
	t.Helper()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.start(t)
}

// redisEngine is a redis-server on a free loopback port in a temporary
// directory (installed by scripts/deps.sh).
type redisEngine struct {
	addr, dir string
	cmd       *exec.Cmd
}

const redisBin = "/usr/bin/redis-server"

func newRedisEngine(t testing.TB) *redisEngine {
	t.Helper()
	if _, err := os.Stat(redisBin); err != nil {
		t.Skipf("%s is missing (scripts/deps.sh installs it)", redisBin)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &redisEngine{addr: ln.Addr().String(), dir: t.TempDir()}
	ln.Close()
	e.start(t)
	t.Cleanup(e.stop)
	return e
}

func (e *redisEngine) start(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(e.addr)
	e.cmd = exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--dir", e.dir, "--save", "", "--appendonly", "no")
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", e.addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not accepting: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *redisEngine) stop() {
	if e.cmd != nil {
		_ = e.cmd.Process.Kill()
		_ = e.cmd.Wait()
		e.cmd = nil
	}
}

func (e *redisEngine) url() string    { return "redis://" + e.addr + "/0" }
func (e *redisEngine) args() []string { return []string{"-redis", e.url()} }

func (e *redisEngine) restart(t *testing.T) {
	t.Helper()
	e.stop()
	e.start(t)
}

func TestThreeNodesOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test: skipped under -short")
	}
	runCluster(t, newNATSEngine(t))
}

func TestThreeNodesOverRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test: skipped under -short")
	}
	runCluster(t, newRedisEngine(t))
}

// hears reports whether c received a lobby message with the prefix.
func hears(c *client, prefix string) bool {
	for _, m := range c.lobbyMessages() {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// heardTimes reports how many lobby messages with exactly body c received.
func heardTimes(c *client, body string) int {
	n := 0
	for _, m := range c.lobbyMessages() {
		if m == body {
			n++
		}
	}
	return n
}

// probe sends numbered lobby messages with prefix from sender until every
// client heard one (subscriptions and reconnections reach the engine
// asynchronously).
func probe(t *testing.T, sender *client, joinRef string, clients []*client, prefix string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for i := 0; ; i++ {
		sender.send(t, joinRef, "lobby:cluster", "message", map[string]string{"body": fmt.Sprintf("%s %d", prefix, i)})
		all := true
		for _, c := range clients {
			all = all && hears(c, prefix)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			for _, c := range clients {
				if !hears(c, prefix) {
					t.Errorf("%s on %s heard no %q", c.user, c.node, prefix)
				}
			}
			t.Fatalf("%q probes did not reach every client within %v", prefix, wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runCluster starts three parley-demo nodes on one SO_REUSEPORT address
// over eng and checks broadcasts, presence, an engine restart, a node
// killed with SIGKILL, and its clients reconnecting to the survivors.
func runCluster(t *testing.T, eng engine) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "parley-demo")
	build := exec.Command("go", "build", "-o", bin, "github.com/parley-go/parley/cmd/parley-demo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build parley-demo: %v\n%s", err, out)
	}

	addr := freeAddr(t)
	names := []string{"n0", "n1", "n2"}
	nodes := map[string]*node{}
	for _, name := range names {
		nodes[name] = startNode(t, bin, name, addr, eng.args())
	}

	// Connect until every node serves at least two clients: SO_REUSEPORT
	// spreads connections by a hash of their addresses.
	byNode := map[string][]*client{}
	var clients []*client
	for i := 0; len(byNode["n0"]) < 2 || len(byNode["n1"]) < 2 || len(byNode["n2"]) < 2; i++ {
		if i == 60 {
			t.Fatalf("60 connections did not reach every node: %d, %d, %d", len(byNode["n0"]), len(byNode["n1"]), len(byNode["n2"]))
		}
		c := dial(t, addr, fmt.Sprintf("user%d", i))
		if nodes[c.node] == nil {
			t.Fatalf("client landed on unknown node %q", c.node)
		}
		byNode[c.node] = append(byNode[c.node], c)
		clients = append(clients, c)
	}
	t.Logf("%d clients: %d on n0, %d on n1, %d on n2", len(clients), len(byNode["n0"]), len(byNode["n1"]), len(byNode["n2"]))
	joinRefs := map[*client]string{}  // lobby:cluster
	partyRefs := map[*client]string{} // room:cluster

	t.Run("LobbyBroadcastReachesEveryNode", func(t *testing.T) {
		for _, c := range clients {
			c.join(t, "lobby:cluster")
			joinRefs[c] = strconv.Itoa(c.ref)
		}
		sender := byNode["n0"][0]
		probe(t, sender, joinRefs[sender], clients, "probe")
		// One message from each node, then a last one from another node:
		// each message published after every client heard the one before
		// it reaches a node's subscription after any echo of the earlier
		// one, so once the last is heard everywhere a duplicate of any
		// earlier message would have arrived too.
		senders := []*client{byNode["n1"][0], byNode["n2"][0], byNode["n0"][0], byNode["n1"][1]}
		var bodies []string
		for i, from := range senders {
			body := fmt.Sprintf("hello %d from %s", i, from.node)
			bodies = append(bodies, body)
			from.send(t, joinRefs[from], "lobby:cluster", "message", map[string]string{"body": body})
			for _, c := range clients {
				eventually(t, fmt.Sprintf("%q to reach %s on %s", body, c.user, c.node), func() bool { return hears(c, body) })
			}
		}
		for _, c := range clients {
			for _, body := range bodies[:len(bodies)-1] {
				if n := heardTimes(c, body); n != 1 {
					t.Errorf("%s on %s got %q %d times, want exactly once", c.user, c.node, body, n)
				}
			}
		}
	})

	t.Run("PartyPresenceOnEveryNode", func(t *testing.T) {
		for _, c := range clients {
			c.join(t, "room:cluster")
			partyRefs[c] = strconv.Itoa(c.ref)
		}
		for _, c := range clients {
			eventually(t, fmt.Sprintf("%s on %s to list all %d users", c.user, c.node, len(clients)), func() bool {
				return len(c.presentUsers()) == len(clients)
			})
		}
	})

	t.Run("GracefulLeaveSeenOnEveryNode", func(t *testing.T) {
		// A user leaves the party channel with phx_leave and keeps the
		// connection: every other node must drop it from the list (the
		// leave's tombstone replicates), and list it again on rejoin.
		leaver := byNode["n1"][1]
		leaver.send(t, partyRefs[leaver], "room:cluster", "phx_leave", map[string]any{})
		for _, c := range clients {
			if c == leaver {
				continue
			}
			eventually(t, fmt.Sprintf("%s on %s to drop %s after its leave", c.user, c.node, leaver.user), func() bool {
				users := c.presentUsers()
				return !users[leaver.user] && len(users) == len(clients)-1
			})
		}
		leaver.join(t, "room:cluster")
		partyRefs[leaver] = strconv.Itoa(leaver.ref)
		for _, c := range clients {
			eventually(t, fmt.Sprintf("%s on %s to list %s again", c.user, c.node, leaver.user), func() bool {
				return len(c.presentUsers()) == len(clients)
			})
		}
	})

	t.Run("EngineRestartTrafficResumes", func(t *testing.T) {
		eng.restart(t)
		restarted := time.Now()
		// No node is restarted: every node's adapter reconnects and
		// resubscribes by itself.
		sender := byNode["n1"][0]
		probe(t, sender, joinRefs[sender], clients, "after restart")
		t.Logf("cross-node traffic resumed %v after the engine restarted", time.Since(restarted).Round(10*time.Millisecond))
	})

	t.Run("KilledNodeUsersLeave", func(t *testing.T) {
		victim := nodes["n2"]
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.done
		killed := time.Now()
		gone := map[string]bool{}
		for _, c := range byNode["n2"] {
			gone[c.user] = true
		}
		for _, name := range []string{"n0", "n1"} {
			for _, c := range byNode[name] {
				eventually(t, fmt.Sprintf("%s on %s to drop n2's users", c.user, c.node), func() bool {
					users := c.presentUsers()
					for u := range gone {
						if users[u] {
							return false
						}
					}
					return len(users) == len(clients)-len(gone)
				})
			}
		}
		t.Logf("n2's %d users left the other nodes' lists %v after kill -9 (down period 2s)", len(gone), time.Since(killed).Round(10*time.Millisecond))
	})

	t.Run("ClientsReconnectToSurvivors", func(t *testing.T) {
		// n2's clients lost their connections; dialing the same address
		// again lands on a survivor (n2's listener is gone), where they
		// rejoin and everybody sees them again.
		survivors := append(append([]*client(nil), byNode["n0"]...), byNode["n1"]...)
		for _, old := range byNode["n2"] {
			select {
			case <-old.done:
			case <-time.After(wait):
				t.Fatalf("%s's connection to the killed node is still open", old.user)
			}
			c := dial(t, addr, old.user)
			if c.node == "n2" || nodes[c.node] == nil {
				t.Fatalf("%s reconnected to %q", c.user, c.node)
			}
			c.join(t, "room:cluster")
			survivors = append(survivors, c)
		}
		for _, c := range survivors {
			eventually(t, fmt.Sprintf("%s on %s to list all %d users again", c.user, c.node, len(clients)), func() bool {
				return len(c.presentUsers()) == len(clients)
			})
		}
	})
	_ = os.Remove(bin)
}
