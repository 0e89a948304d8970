package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

// maxWaves bounds the wave phase of the long run, so that the whole test
// (warm-up and settling included) stays under 10 minutes.
const maxWaves = 9 * time.Minute

// load sizes a run.
type load struct {
	Duration time.Duration // of the wave phase, after the warm-up
	Wave     int           // WebSocket clients per wave, all at once
	LiveWave int           // LiveViews mounted at once per round
	Topics   int           // room:0 … room:<Topics-1>
}

// TestSoak is the long run, only with PARLEY_SOAK=<duration>.
func TestSoak(t *testing.T) {
	v := os.Getenv("PARLEY_SOAK")
	if v == "" {
		t.Skip("soak: set PARLEY_SOAK=<duration> (at most 9m of waves) to run it, e.g. PARLEY_SOAK=3m go test -run Soak -v ./internal/soak/")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("PARLEY_SOAK=%q: want a positive duration such as 3m", v)
	}
	if d > maxWaves {
		t.Logf("soak: PARLEY_SOAK=%v capped at %v", d, maxWaves)
		d = maxWaves
	}
	soak(t, load{Duration: d, Wave: 200, LiveWave: 20, Topics: 8})
}

// TestSoakShort is a few seconds of the same, run by every `go test`.
func TestSoakShort(t *testing.T) {
	soak(t, load{Duration: 5 * time.Second, Wave: 30, LiveWave: 5, Topics: 4})
}

func soak(t *testing.T, ld load) {
	s := start(t, ld.Topics)
	defer s.stop(t)

	idleG, idleRSS := measure()
	t.Logf("soak: idle server: %d goroutines, VmRSS %s", idleG, kb(idleRSS))

	// Warm-up: the same load for a fifth of the run (2 s to 30 s), so that
	// pools, maps, the heap and the runtime's own structures reach their
	// working size before the baseline.
	warmup := min(max(ld.Duration/5, 2*time.Second), 30*time.Second)
	warm := s.drive(t, ld, time.Now().Add(warmup), 2)
	if err := warm.err(); err != nil {
		t.Fatalf("soak: warm-up: %v", err)
	}
	baseG, baseRSS := settle()
	t.Logf("soak: baseline after warm-up (%s): %d goroutines, VmRSS %s", warm, baseG, kb(baseRSS))

	// The waves, with a monitor for the peaks.
	stopMon := make(chan struct{})
	monDone := make(chan struct{})
	var peakG atomic.Int64
	var peakRSS atomic.Int64
	began := time.Now()
	go func() {
		defer close(monDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 1; ; i++ {
			select {
			case <-stopMon:
				return
			case <-tick.C:
			}
			g, rss := int64(runtime.NumGoroutine()), vmRSS()
			if g > peakG.Load() {
				peakG.Store(g)
			}
			if rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
			if ld.Duration >= time.Minute && i%30 == 0 {
				t.Logf("soak: %v: %d goroutines, VmRSS %s", time.Since(began).Round(time.Second), g, kb(rss))
			}
		}
	}()
	res := s.drive(t, ld, began.Add(ld.Duration), 1)
	close(stopMon)
	<-monDone
	t.Logf("soak: %v of waves: %s; peak %d goroutines, VmRSS %s", time.Since(began).Round(time.Millisecond), res, peakG.Load(), kb(peakRSS.Load()))
	if err := res.err(); err != nil {
		t.Errorf("soak: %v", err)
	}
	if res.ticks.Load() == 0 || res.diffs.Load() == 0 || res.liveMounts.Load() == 0 {
		t.Errorf("soak: no broadcasts, presence diffs or LiveViews seen: %s", res)
	}

	// Everything is disconnected: goroutines and RSS must come back to
	// within 10 % of the baseline.
	maxG := baseG + baseG/10
	maxRSS := baseRSS + baseRSS/10
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, rss := measure()
		okG := g <= maxG
		okRSS := baseRSS < 0 || raceEnabled || rss <= maxRSS
		if okG && okRSS {
			t.Logf("soak: back to baseline after %v: %d goroutines (baseline %d, limit %d), VmRSS %s (baseline %s, limit %s%s)",
				time.Since(began.Add(ld.Duration)).Round(time.Millisecond), g, baseG, maxG, kb(rss), kb(baseRSS), kb(maxRSS), raceNote())
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("soak: not back to baseline 30 s after the last client: %d goroutines (baseline %d, limit %d), VmRSS %s (baseline %s, limit %s%s)\n%s",
				g, baseG, maxG, kb(rss), kb(baseRSS), kb(maxRSS), raceNote(), buf)
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
}

func raceNote() string {
	if raceEnabled {
		return "; not checked under -race"
	}
	return ""
}

// measure collects garbage, returns freed memory to the OS and reports the
// goroutine count and VmRSS in KiB (-1 where /proc is missing).
func measure() (goroutines int, rssKB int64) {
	runtime.GC()
	debug.FreeOSMemory()
	return runtime.NumGoroutine(), vmRSS()
}

// settle polls until the goroutine count stays the same for five samples
// in a row (at most 10 s), then measures.
func settle() (int, int64) {
	deadline := time.Now().Add(10 * time.Second)
	last, same := -1, 0
	for same < 5 && time.Now().Before(deadline) {
		g := runtime.NumGoroutine()
		if g == last {
			same++
		} else {
			last, same = g, 0
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	return measure()
}

func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

func kb(n int64) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

// server is the Endpoint under test.
type server struct {
	ep      *parley.Endpoint
	tracker *presence.Tracker
	live    *live.Server
	http    *httptest.Server
	ws      string // ws://127.0.0.1:port/socket/websocket?vsn=2.0.0
	topics  int

	stopBroadcast chan struct{}
	broadcastDone chan struct{}
}

const liveTopic = "soak:live"

func start(t *testing.T, topics int) *server {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ep, err := parley.New(parley.Config{Logger: log, DisableLongPoll: true})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := presence.New(presence.Config{PubSub: ep.PubSub(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	router := &channel.Router{}
	router.Handle("room:*", func() channel.Channel { return &room{tr: tr} })
	if _, err := ep.Socket("/socket", channel.Config{
		Router: router,
		Connect: func(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
			user := info.Params.Get("user")
			if user == "" {
				return nil, errors.New("user required")
			}
			return map[string]any{"user": user}, nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	l, err := live.New(live.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l.Handle("/soak", func() live.View { return &counter{} })
	if err := ep.Live(l); err != nil {
		t.Fatal(err)
	}
	s := &server{ep: ep, tracker: tr, live: l, http: httptest.NewServer(ep), topics: topics,
		stopBroadcast: make(chan struct{}), broadcastDone: make(chan struct{})}
	s.ws = "ws" + strings.TrimPrefix(s.http.URL, "http") + "/socket/websocket?vsn=2.0.0"
	go s.broadcaster()
	return s
}

// broadcaster sends a "tick" to one room every 20 ms, in turn, and one to
// the LiveViews every 100 ms.
func (s *server) broadcaster() {
	defer close(s.broadcastDone)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.stopBroadcast:
			return
		case <-tick.C:
		}
		_ = s.ep.Broadcast(context.Background(), "room:"+strconv.Itoa(n%s.topics), "tick", map[string]int{"n": n})
		if n%5 == 0 {
			_ = s.ep.Broadcast(context.Background(), liveTopic, "tick", map[string]int{"n": n})
		}
	}
}

func (s *server) stop(t *testing.T) {
	close(s.stopBroadcast)
	<-s.broadcastDone
	s.http.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.tracker.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := s.ep.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// room is the test channel: it tracks the user's presence, pushes the
// presence state after the join, and broadcasts "shout".
type room struct {
	tr   *presence.Tracker
	user string
}

type afterJoin struct{}

func (r *room) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	r.user = c.Assign("user")
	if _, err := r.tr.TrackChannel(c, r.user, map[string]any{"at": time.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	c.Send(afterJoin{})
	return map[string]string{"user": r.user}, nil
}

func (r *room) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return r.tr.PushState(c)
	}
	return nil
}

func (r *room) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	switch m.Event {
	case "shout":
		return channel.Ok(nil), c.Broadcast("shout", m.Payload)
	case "away":
		if _, err := r.tr.Update(c.ID(), c.Topic(), r.user, map[string]any{"away": true}); err != nil {
			return nil, err
		}
		return channel.Ok(nil), nil
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
}

// counter is the LiveView: clicks, and ticks from the broadcaster.
type counter struct{ n, ticks int }

var counterStatics = []string{`<main><p id="n">Count: `, `</p><p id="ticks">Ticks: `, `</p></main>`}

func (v *counter) Mount(s *live.Socket, _ url.Values) error {
	if s.Connected() {
		return s.Subscribe(liveTopic)
	}
	return nil
}

func (v *counter) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode(counterStatics, diff.Text(strconv.Itoa(v.n)), diff.Text(strconv.Itoa(v.ticks))), nil
}

func (v *counter) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name == "inc" {
		v.n++
		s.Assign("n", v.n)
	}
	return nil
}

func (v *counter) HandleInfo(s *live.Socket, msg any) error {
	if _, ok := msg.(*pubsub.Message); ok {
		v.ticks++
		s.Assign("ticks", v.ticks)
	}
	return nil
}

// result counts what a drive saw.
type result struct {
	waves, sessions, joins, pushes           atomic.Int64
	ticks, shouts, states, diffs, liveMounts atomic.Int64

	mu     sync.Mutex
	failed int
	errs   []error
}

func (r *result) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	if len(r.errs) < 10 {
		r.errs = append(r.errs, err)
	}
}

func (r *result) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == 0 {
		return nil
	}
	return fmt.Errorf("%d failures, the first ones: %w", r.failed, errors.Join(r.errs...))
}

func (r *result) String() string {
	return fmt.Sprintf("%d waves, %d WebSocket sessions, %d joins, %d pushes; received %d ticks, %d shouts, %d presence states, %d presence diffs; %d LiveViews mounted",
		r.waves.Load(), r.sessions.Load(), r.joins.Load(), r.pushes.Load(), r.ticks.Load(), r.shouts.Load(), r.states.Load(), r.diffs.Load(), r.liveMounts.Load())
}

// drive runs waves of WebSocket clients and, in parallel, rounds of
// LiveViews, until the deadline has passed and at least minWaves waves
// and LiveView rounds have run.
func (s *server) drive(t *testing.T, ld load, until time.Time, minWaves int) *result {
	res := &result{}
	more := func(n int) bool { return n < minWaves || time.Now().Before(until) }
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := 0; more(round); round++ {
			var rw sync.WaitGroup
			for range ld.LiveWave {
				rw.Go(func() {
					if err := liveSession(t, s.live); err != nil {
						res.fail(fmt.Errorf("live: %w", err))
						return
					}
					res.liveMounts.Add(1)
				})
			}
			rw.Wait()
		}
	})
	for wave := 0; more(wave); wave++ {
		var ww sync.WaitGroup
		for i := range ld.Wave {
			ww.Go(func() {
				c := &client{res: res, user: fmt.Sprintf("u%d-%d", wave, i)}
				if err := c.session(s.ws, s.topics, i%3 == 0); err != nil {
					res.fail(fmt.Errorf("%s: %w", c.user, err))
					return
				}
				res.sessions.Add(1)
			})
		}
		ww.Wait()
		res.waves.Add(1)
	}
	wg.Wait()
	return res
}

// client is one Phoenix V2 WebSocket client, used by one goroutine.
type client struct {
	res    *result
	user   string
	ws     *wsclient.Conn
	ref    int
	states int // presence_state pushes received
	ticks  int
}

// frame is a decoded V2 text frame.
type frame struct {
	joinRef, ref, topic, event string
	payload                    json.RawMessage
}

// session connects, joins three rooms, waits for their presence states,
// shouts in each, waits for a broadcast tick, heartbeats, leaves one room
// and joins a fourth, then disconnects (abrupt: without a close handshake).
func (c *client) session(wsURL string, topics int, abrupt bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, err := wsclient.Dial(ctx, wsURL+"&user="+url.QueryEscape(c.user), nil)
	if err != nil {
		return err
	}
	c.ws = ws
	defer ws.CloseNow()
	perm := rand.Perm(topics)
	want := min(3, topics-1)
	joined := map[string]string{} // topic → join ref
	for _, k := range perm[:want] {
		topic := "room:" + strconv.Itoa(k)
		jr, err := c.join(ctx, topic)
		if err != nil {
			return err
		}
		joined[topic] = jr
	}
	if err := c.until(ctx, "presence states", func() bool { return c.states >= want }); err != nil {
		return err
	}
	for topic, jr := range joined {
		if err := c.call(ctx, jr, topic, "shout", map[string]string{"from": c.user}); err != nil {
			return err
		}
	}
	if err := c.until(ctx, "a broadcast tick", func() bool { return c.ticks > 0 }); err != nil {
		return err
	}
	if err := c.call(ctx, "", "phoenix", "heartbeat", map[string]any{}); err != nil {
		return err
	}
	first := "room:" + strconv.Itoa(perm[0])
	if err := c.call(ctx, joined[first], first, "away", map[string]any{}); err != nil {
		return err
	}
	if err := c.call(ctx, joined[first], first, "phx_leave", map[string]any{}); err != nil {
		return err
	}
	last := "room:" + strconv.Itoa(perm[want])
	jr, err := c.join(ctx, last)
	if err != nil {
		return err
	}
	if err := c.call(ctx, jr, last, "shout", map[string]string{"from": c.user}); err != nil {
		return err
	}
	if abrupt {
		return nil // CloseNow, deferred
	}
	return ws.Close(ctx, 1000, "bye")
}

func (c *client) send(ctx context.Context, joinRef, ref, topic, event string, payload any) error {
	var jr any
	if joinRef != "" {
		jr = joinRef
	}
	data, err := json.Marshal([]any{jr, ref, topic, event, payload})
	if err != nil {
		return err
	}
	return c.ws.Write(ctx, wsclient.Text, data)
}

func (c *client) nextRef() string {
	c.ref++
	return strconv.Itoa(c.ref)
}

// join joins topic and returns its join ref.
func (c *client) join(ctx context.Context, topic string) (string, error) {
	ref := c.nextRef()
	if err := c.send(ctx, ref, ref, topic, "phx_join", map[string]any{}); err != nil {
		return "", err
	}
	c.res.joins.Add(1)
	return ref, c.reply(ctx, ref, topic+" phx_join")
}

// call pushes event and waits for an ok reply.
func (c *client) call(ctx context.Context, joinRef, topic, event string, payload any) error {
	ref := c.nextRef()
	if err := c.send(ctx, joinRef, ref, topic, event, payload); err != nil {
		return err
	}
	c.res.pushes.Add(1)
	return c.reply(ctx, ref, topic+" "+event)
}

func (c *client) reply(ctx context.Context, ref, what string) error {
	for {
		f, err := c.read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the reply to %s: %w", what, err)
		}
		if f.event != "phx_reply" || f.ref != ref {
			continue
		}
		var r struct {
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(f.payload, &r); err != nil {
			return err
		}
		if r.Status != "ok" {
			return fmt.Errorf("%s: %s %s", what, r.Status, r.Response)
		}
		return nil
	}
}

func (c *client) until(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		if _, err := c.read(ctx); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
	return nil
}

// read reads one frame and counts the pushes and broadcasts.
func (c *client) read(ctx context.Context) (frame, error) {
	typ, data, err := c.ws.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	if typ != wsclient.Text {
		return frame{}, fmt.Errorf("unexpected binary frame %q", data)
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) != 5 {
		return frame{}, fmt.Errorf("bad frame %q", data)
	}
	var f frame
	var jr, ref *string
	if json.Unmarshal(parts[0], &jr) != nil || json.Unmarshal(parts[1], &ref) != nil ||
		json.Unmarshal(parts[2], &f.topic) != nil || json.Unmarshal(parts[3], &f.event) != nil {
		return frame{}, fmt.Errorf("bad frame %q", data)
	}
	if jr != nil {
		f.joinRef = *jr
	}
	if ref != nil {
		f.ref = *ref
	}
	f.payload = parts[4]
	switch f.event {
	case "tick":
		c.ticks++
		c.res.ticks.Add(1)
	case "shout":
		c.res.shouts.Add(1)
	case presence.EventDiff:
		c.res.diffs.Add(1)
	case presence.EventState:
		c.states++
		c.res.states.Add(1)
		var state map[string]json.RawMessage
		if err := json.Unmarshal(f.payload, &state); err != nil {
			return f, fmt.Errorf("presence_state: %w", err)
		}
		if _, ok := state[c.user]; !ok {
			return f, fmt.Errorf("presence_state of %s lacks %s", f.topic, c.user)
		}
	}
	return f, nil
}

// liveSession mounts the LiveView, clicks twice and leaves, on its own
// goroutine with a testing.TB of its own whose cleanups (the in-process
// connection) run when it ends rather than with the test.
func liveSession(t *testing.T, l *live.Server) error {
	tb := &churnTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer tb.runCleanups()
		v := livetest.Mount(tb, l, "/soak")
		v.Click(tb, "inc", nil)
		if html := v.HTML(tb); !strings.Contains(html, "Count: 1<") {
			tb.Fatalf("after one click: %s", html)
		}
		v.Click(tb, "inc", nil)
		v.Leave(tb)
	}()
	<-done
	return tb.err()
}

// churnTB is a testing.TB for one goroutine that is not the test's: a
// failure is recorded and ends that goroutine, and cleanups run when the
// goroutine asks.
type churnTB struct {
	testing.TB

	mu       sync.Mutex
	failures []string
	cleanups []func()
}

func (c *churnTB) Helper() {}

func (c *churnTB) Cleanup(f func()) {
	c.mu.Lock()
	c.cleanups = append(c.cleanups, f)
	c.mu.Unlock()
}

func (c *churnTB) runCleanups() {
	c.mu.Lock()
	fs := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (c *churnTB) record(msg string) {
	c.mu.Lock()
	c.failures = append(c.failures, msg)
	c.mu.Unlock()
}

func (c *churnTB) Error(args ...any)                 { c.record(fmt.Sprint(args...)) }
func (c *churnTB) Errorf(format string, args ...any) { c.record(fmt.Sprintf(format, args...)) }
func (c *churnTB) Fail()                             { c.record("failed") }
func (c *churnTB) Fatal(args ...any)                 { c.record(fmt.Sprint(args...)); runtime.Goexit() }
func (c *churnTB) Fatalf(format string, args ...any) {
	c.record(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (c *churnTB) FailNow() { c.record("FailNow"); runtime.Goexit() }

func (c *churnTB) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.failures) > 0
}

func (c *churnTB) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) == 0 {
		return nil
	}
	return errors.New(strings.Join(c.failures, "; "))
}
