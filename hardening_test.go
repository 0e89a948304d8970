package parley_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/transport"
)

// blocker is a channel whose "block" event holds its handler until the
// channel ends.
type blocker struct{}

func (blocker) Join(*channel.Context, json.RawMessage) (any, error) { return nil, nil }
func (blocker) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	if m.Event == "block" {
		<-c.Context().Done()
		return nil, nil
	}
	return channel.Ok(m.Payload), nil
}

type testServer struct {
	ep  *parley.Endpoint
	srv *httptest.Server
	ws  string // ws://host/socket/websocket?vsn=2.0.0
}

func startEndpoint(t *testing.T, cfg parley.Config, chCfg channel.Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ep, err := parley.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	router := &channel.Router{}
	router.Handle("greet:*", func() channel.Channel { return greeter{} })
	router.Handle("block:*", func() channel.Channel { return blocker{} })
	chCfg.Router = router
	if _, err := ep.Socket("/socket", chCfg); err != nil {
		t.Fatal(err)
	}
	ep.Handle("GET /metrics", ep.MetricsHandler())
	srv := httptest.NewServer(ep)
	t.Cleanup(func() {
		srv.Close()
		if err := ep.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return &testServer{ep: ep, srv: srv, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/socket/websocket?vsn=2.0.0"}
}

func dial(t *testing.T, u string, from string) (*wsclient.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var opts wsclient.Options
	if from != "" {
		opts.LocalAddr = netip.MustParseAddr(from)
	}
	return wsclient.Dial(ctx, u, &opts)
}

func send(t *testing.T, c *wsclient.Conn, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, wsclient.Text, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

// await reads frames until one contains want; it returns the error that
// ended the connection instead, if any.
func await(t *testing.T, c *wsclient.Conn, want string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), want) {
			return nil
		}
	}
}

func closeNow(c *wsclient.Conn) { _ = c.CloseNow() }

// poll retries cond until it holds or 5 s pass.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnsPerAddrLimit: over MaxConnsPerAddr, WebSocket upgrades and
// long-poll opens get 429; other addresses are not affected; a closed
// connection frees its slot.
func TestConnsPerAddrLimit(t *testing.T) {
	ts := startEndpoint(t, parley.Config{MaxConnsPerAddr: 2}, channel.Config{})
	a, err := dial(t, ts.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(a)
	lpOpen := lp(t, "GET", ts.srv.URL+"/socket/longpoll?vsn=2.0.0", "")
	if lpOpen.Status != 410 {
		t.Fatalf("long-poll open: %+v", lpOpen)
	}
	if _, err := dial(t, ts.ws, ""); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("third connection from one address: %v, want HTTP 429", err)
	}
	resp, err := http.Get(ts.srv.URL + "/socket/longpoll?vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("long-poll open over the limit: HTTP %d", resp.StatusCode)
	}
	// The first connection still works.
	send(t, a, `["1","1","greet:x","phx_join",{}]`)
	if err := await(t, a, `"status":"ok"`); err != nil {
		t.Fatal(err)
	}
	// Another address is counted apart (127.0.0.2 is loopback on Linux).
	if b, err := dial(t, ts.ws, "127.0.0.2"); err != nil {
		t.Logf("127.0.0.2 unavailable here: %v", err)
	} else {
		closeNow(b)
	}
	closeNow(a)
	var c *wsclient.Conn
	poll(t, "a slot freed by the closed connection", func() bool {
		c, err = dial(t, ts.ws, "")
		return err == nil
	})
	closeNow(c)
	m := scrape(t, ts)
	if m[`parley_limit_hits_total{limit="conns_per_addr"}`] < 2 {
		t.Fatalf("conns_per_addr hits: %v", m[`parley_limit_hits_total{limit="conns_per_addr"}`])
	}
}

// TestEventFloodClosesWith1008 over real TCP: a client over its event
// burst is closed with 1008 while another client is served.
func TestEventFloodClosesWith1008(t *testing.T) {
	ts := startEndpoint(t, parley.Config{EventsPerSecond: 0.001, EventBurst: 3}, channel.Config{})
	a, err := dial(t, ts.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(a)
	send(t, a, `["1","1","greet:x","phx_join",{}]`)
	for i := 2; i < 10; i++ {
		// Writes fail once the server has closed the connection.
		_ = a.Write(context.Background(), wsclient.Text, []byte(`["1","`+strconv.Itoa(i)+`","greet:x","echo",{}]`))
	}
	var ce *wsclient.CloseError
	if err := await(t, a, "never"); !errors.As(err, &ce) || ce.Code != 1008 {
		t.Fatalf("flooding client: %v, want close 1008", err)
	}
	b, err := dial(t, ts.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(b)
	send(t, b, `["1","1","greet:y","phx_join",{}]`)
	if err := await(t, b, `"status":"ok"`); err != nil {
		t.Fatal(err)
	}
	poll(t, "the 1008 disconnect counted", func() bool {
		return scrape(t, ts)[`parley_disconnects_total{transport="websocket",code="1008",reason="rate limited"}`] == 1
	})
}

// TestHeartbeatWhileHandlerBlocks over real TCP: a handler that does not
// return delays only its channel; heartbeats and other channels are
// answered.
func TestHeartbeatWhileHandlerBlocks(t *testing.T) {
	ts := startEndpoint(t, parley.Config{}, channel.Config{})
	c, err := dial(t, ts.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(c)
	send(t, c, `["1","1","block:a","phx_join",{}]`)
	send(t, c, `["2","2","greet:b","phx_join",{}]`)
	send(t, c, `["1","3","block:a","block",{}]`)
	send(t, c, `[null,"4","phoenix","heartbeat",{}]`)
	if err := await(t, c, `[null,"4","phoenix","phx_reply",{"status":"ok"`); err != nil {
		t.Fatal(err)
	}
	send(t, c, `["2","5","greet:b","echo",{"still":"here"}]`)
	if err := await(t, c, `"still":"here"`); err != nil {
		t.Fatal(err)
	}
}

// scrape fetches /metrics and returns each sample by its name and labels.
func scrape(t *testing.T, ts *testServer) map[string]float64 {
	t.Helper()
	resp, err := http.Get(ts.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("metrics content type %q", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

type hello struct{ n int }

func (h *hello) Mount(*live.Socket, url.Values) error { return nil }
func (h *hello) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode([]string{"<p>", "</p>"}, diff.Text(strconv.Itoa(h.n))), nil
}
func (h *hello) HandleEvent(s *live.Socket, _ live.Event) error {
	h.n++
	s.Assign("n", h.n)
	return nil
}

// TestMetricsEndpoint drives traffic through every layer and checks that
// the scraped counters and gauges move with it.
func TestMetricsEndpoint(t *testing.T) {
	ts := startEndpoint(t, parley.Config{}, channel.Config{})
	lv, err := live.New(live.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	lv.Handle("/hello", func() live.View { return &hello{} })
	if err := ts.ep.Live(lv); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, ts)
	if len(before) != 0 {
		t.Logf("metrics before any traffic: %v", before)
	}

	c, err := dial(t, ts.ws, "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(c)
	send(t, c, `["1","1","greet:a","phx_join",{}]`)
	if err := await(t, c, `"status":"ok"`); err != nil {
		t.Fatal(err)
	}
	send(t, c, `["2","2","nowhere","phx_join",{}]`)
	if err := await(t, c, `unmatched topic`); err != nil {
		t.Fatal(err)
	}
	if err := ts.ep.Broadcast(context.Background(), "greet:a", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := await(t, c, `"news"`); err != nil {
		t.Fatal(err)
	}
	// A second connection, left open and idle to the end of the test. It
	// must stay reachable: a dropped one is closed by its finalizer on the
	// next GC, and the gauge would count one connection.
	idle, err := dial(t, ts.ws+"&x=1", "")
	if err != nil {
		t.Fatal(err)
	}
	defer closeNow(idle)
	origin := http.Header{"Origin": {"http://evil.example"}}
	if _, err := wsclient.Dial(context.Background(), ts.ws, &wsclient.Options{Header: origin}); err == nil {
		t.Fatal("cross-origin upgrade accepted")
	}
	v := livetest.Mount(t, lv, "/hello")
	v.Click(t, "inc", nil)

	m := scrape(t, ts)
	want := map[string]float64{
		`parley_connections{transport="websocket"}`:                               2,
		`parley_channels_joined{pattern="greet:*"}`:                               1,
		`parley_joins_total{pattern="greet:*"}`:                                   1,
		`parley_joins_refused_total{pattern="",reason="unmatched topic"}`:         1,
		`parley_broadcasts_total`:                                                 1,
		`parley_deliveries_total`:                                                 1,
		`parley_connections_refused_total{transport="websocket",reason="origin"}`: 1,
		`parley_live_renders_total{view="/hello"}`:                                2,
		`parley_live_render_seconds_count{view="/hello"}`:                         2,
		`parley_live_diff_bytes_count{view="/hello"}`:                             2,
		`parley_outbound_queue_frames{transport="websocket"}`:                     0,
		`parley_outbound_queue_bytes{transport="longpoll"}`:                       0,
		`parley_messages_in_total`:                                                2,
	}
	for k, w := range want {
		if got, ok := m[k]; !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	closeNow(c)
	poll(t, "the connections gauge back to 1 and the lost connection counted", func() bool {
		m = scrape(t, ts)
		return m[`parley_connections{transport="websocket"}`] == 1 &&
			m[`parley_channels_joined{pattern="greet:*"}`] == 0 &&
			m[`parley_disconnects_total{transport="websocket",code="1006",reason="connection lost"}`] == 1
	})
	_ = transport.LimitConnsPerAddr
}
