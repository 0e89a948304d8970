package parley_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/transport/websocket"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

type lpBody struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

func lp(t *testing.T, method, u, body string) lpBody {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b lpBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b
}

// TestLongPollChannelRoundTrip drives a channel join, a push with reply
// and a broadcast through the Endpoint's long-poll transport.
func TestLongPollChannelRoundTrip(t *testing.T) {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		t.Fatal(err)
	}
	router := &channel.Router{}
	router.Handle("greet:*", func() channel.Channel { return greeter{} })
	if _, err := ep.Socket("/socket", channel.Config{Router: router}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	defer func() {
		srv.Close()
		if err := ep.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	base := srv.URL + "/socket/longpoll?vsn=2.0.0"
	open := lp(t, "GET", base, "")
	if open.Status != 410 || open.Token == "" {
		t.Fatalf("open = %+v", open)
	}
	session := base + "&token=" + url.QueryEscape(open.Token)
	post := lp(t, "POST", session, `["1","1","greet:a","phx_join",{}]`+"\n"+`["1","2","greet:a","echo",{"x":1}]`+"\n")
	if post.Status != 200 {
		t.Fatalf("post = %+v", post)
	}
	// The POST answers once its messages are handed to the socket, not once
	// the join has run: a broadcast goes only to a joined channel, so wait
	// for the join's reply (as a client does) before broadcasting.
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 1 && time.Now().Before(deadline) {
		got = append(got, lp(t, "GET", session, "").Messages...)
	}
	if err := ep.Broadcast(context.Background(), "greet:a", "news", map[string]string{"h": "<b>&"}); err != nil {
		t.Fatal(err)
	}
	for len(got) < 3 && time.Now().Before(deadline) {
		got = append(got, lp(t, "GET", session, "").Messages...)
	}
	want := []string{
		`["1","1","greet:a","phx_reply",{"status":"ok","response":{"hello":"greet:a"}}]`,
		`["1","2","greet:a","phx_reply",{"status":"ok","response":{"x":1}}]`,
		`[null,null,"greet:a","news",{"h":"<b>&"}]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHandleFuncAndMetrics: HandleFunc serves a function and refuses nil;
// a metric declared on Endpoint.Metrics is exposed by MetricsHandler.
func TestHandleFuncAndMetrics(t *testing.T) {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ep.Shutdown(context.Background()) }()
	if err := ep.HandleFunc("GET /hi", nil); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("nil HandleFunc: %v", err)
	}
	if err := ep.HandleFunc("GET /hi", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }); err != nil {
		t.Fatal(err)
	}
	ep.Metrics().Counter("app_greetings_total", "Greetings served.").With().Inc()
	if err := ep.Handle("GET /metrics", ep.MetricsHandler()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	for path, want := range map[string]string{"/hi": "hi", "/metrics": "app_greetings_total 1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
}

// TestShutdownDeadline: connections still open when the context ends are
// aborted, and Shutdown says why it ended early.
func TestShutdownDeadline(t *testing.T) {
	ts := startEndpoint(t, parley.Config{WebSocket: websocket.Options{DrainBatch: 1, DrainInterval: time.Hour}}, channel.Config{})
	var conns []*wsclient.Conn
	for range 2 {
		c, err := dial(t, ts.ws, "")
		if err != nil {
			t.Fatal(err)
		}
		defer closeNow(c)
		send(t, c, `["1","1","greet:a","phx_join",{}]`)
		if err := await(t, c, `"status":"ok"`); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ts.ep.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "parley: shutdown:") {
		t.Fatalf("Shutdown with an expired context: %v", err)
	}
	for i, c := range conns {
		if err := await(t, c, "never sent"); err == nil {
			t.Errorf("connection %d still open after Shutdown", i)
		}
	}
}

// TestFindNodeModules: found from the module's directory (this test runs
// in it), and a directory with none above it gets ErrNoNodeModules with
// the command that fixes it.
func TestFindNodeModules(t *testing.T) {
	nm, err := parley.FindNodeModules("")
	if err != nil || filepath.Base(nm) != "node_modules" {
		t.Errorf("FindNodeModules(\"\") = %q, %v", nm, err)
	}
	if nm2, err := parley.FindNodeModules("live"); err != nil || nm2 != nm {
		t.Errorf("FindNodeModules(\"live\") = %q, %v; want %q", nm2, err, nm)
	}
	_, err = parley.FindNodeModules(t.TempDir())
	if !errors.Is(err, parley.ErrNoNodeModules) || !strings.Contains(err.Error(), "npm install phoenix@1.8 phoenix_live_view@1.2") {
		t.Errorf("FindNodeModules(empty dir): %v", err)
	}
	// A node_modules with only one of the two packages is not enough.
	half := t.TempDir()
	if err := os.MkdirAll(filepath.Join(half, "phoenix", "priv", "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "phoenix", "priv", "static", "phoenix.mjs"), []byte("export {}"), 0o644); err != nil {
		t.Fatal(err)
	}
	ep, err := parley.New(parley.Config{NodeModules: half})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ep.Shutdown(context.Background()) }()
	if err := ep.ServeClientAssets(); !errors.Is(err, parley.ErrNoNodeModules) || !strings.Contains(err.Error(), "phoenix_live_view") {
		t.Errorf("ServeClientAssets with half a node_modules: %v", err)
	}
}

// historyRoom joins anyone.
type historyRoom struct{}

func (historyRoom) Join(*channel.Context, json.RawMessage) (any, error) { return nil, nil }
func (historyRoom) HandleIn(*channel.Context, channel.Message) (*channel.Reply, error) {
	return nil, nil
}

// TestEndpointBroadcastRecordsHistory: Endpoint.Broadcast to a topic whose
// route keeps a history numbers and records the message, so a client that
// missed it gets it back on rejoin; other topics are broadcast as before.
func TestEndpointBroadcastRecordsHistory(t *testing.T) {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ep.Shutdown(context.Background()) }()
	router := &channel.Router{}
	router.Handle("news:*", func() channel.Channel { return historyRoom{} }, channel.WithHistory(channel.History{}))
	router.Handle("plain:*", func() channel.Channel { return historyRoom{} })
	srv, err := ep.Socket("/socket", channel.Config{Router: router})
	if err != nil {
		t.Fatal(err)
	}
	c := channeltest.Connect(t, srv, nil)
	defer c.Close()
	first := c.Join(t, "news:1", nil)
	pos := first.Reply.Recovery(t)
	first.Channel.Leave(t)
	for i := range 3 {
		if err := ep.Broadcast(context.Background(), "news:1", "item", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	again := c.Join(t, "news:1", channeltest.RecoverParams(pos.Epoch, pos.Offset))
	if r := again.Reply.Recovery(t); r.Recovered == nil || !*r.Recovered {
		t.Fatalf("rejoin after 3 Endpoint broadcasts: %+v (from %+v)", r, pos)
	}
	for i := range 3 {
		if got := string(again.Channel.ExpectNext(t, "item").Payload); got != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("replayed message %d: %s", i, got)
		}
	}
	plain := c.Join(t, "plain:1", nil).Ok(t)
	if err := ep.Broadcast(context.Background(), "plain:1", "item", map[string]int{"n": 9}); err != nil {
		t.Fatal(err)
	}
	plain.ExpectPush(t, "item")
}
