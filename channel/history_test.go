package channel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/pubsub"
)

// feed is a channel of a history route: it counts its joins and can
// intercept "censored" broadcasts.
type feed struct {
	joins *atomic.Int64
}

func (f *feed) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	f.joins.Add(1)
	return map[string]string{"topic": c.Topic()}, nil
}

func (f *feed) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	return channel.Ok(nil), c.Broadcast(m.Event, m.Payload)
}

// censor intercepts "censored" and pushes it with its text replaced.
type censor struct{ feed }

func (*censor) Intercepts() []string { return []string{"censored"} }

func (*censor) HandleOut(c *channel.Context, event string, payload json.RawMessage) error {
	var p struct{ N int }
	_ = json.Unmarshal(payload, &p)
	return c.Push(event, map[string]any{"n": p.N, "text": "***"})
}

// clock is a settable clock for history ages.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type historyServer struct {
	srv   *channel.Server
	joins atomic.Int64
	clock *clock
}

func newHistoryServer(t *testing.T, h channel.History) *historyServer {
	t.Helper()
	hs := &historyServer{clock: &clock{now: time.Unix(1_700_000_000, 0)}}
	h.Now = hs.clock.Now
	var r channel.Router
	r.Handle("feed:*", func() channel.Channel { return &feed{joins: &hs.joins} }, channel.WithHistory(h))
	r.Handle("censor:*", func() channel.Channel { return &censor{feed{joins: &hs.joins}} }, channel.WithHistory(h))
	r.Handle("plain:*", func() channel.Channel { return &feed{joins: &hs.joins} })
	srv, err := channel.NewServer(channel.Config{Router: &r, JoinsPerSecond: -1, EventsPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	hs.srv = srv
	return hs
}

func (hs *historyServer) broadcast(t *testing.T, topic string, from, to int) {
	t.Helper()
	for n := from; n <= to; n++ {
		if err := hs.srv.Broadcast(context.Background(), topic, "msg", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
	}
}

// expectMsgs takes the next frames on ch and checks they are "msg" n =
// from..to in order, each with ref "@<offset>".
func expectMsgs(t *testing.T, ch *channeltest.Channel, from, to int, offsetOf func(n int) uint64) {
	t.Helper()
	for n := from; n <= to; n++ {
		f := ch.ExpectNext(t, "msg")
		var p struct{ N int }
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.N != n {
			t.Fatalf("got message %d, want %d (payload %s)", p.N, n, f.Payload)
		}
		if want := "@" + strconv.FormatUint(offsetOf(n), 10); f.Ref.Value != want {
			t.Fatalf("message %d has ref %q, want %q", n, f.Ref.Value, want)
		}
	}
}

func same(n int) uint64 { return uint64(n) }

func TestRecoveryReplaysMissedInOrderThenLive(t *testing.T) {
	hs := newHistoryServer(t, channel.History{Size: 200})
	topic := "feed:a"
	a := channeltest.Connect(t, hs.srv, nil)
	jr := a.Join(t, topic, map[string]any{"x": 1})
	jr.Ok(t)
	pos := jr.Reply.Recovery(t)
	if pos.Offset != 0 || pos.Epoch == "" || pos.Recovered != nil {
		t.Fatalf("fresh join position %+v, want offset 0, an epoch, no recovered", pos)
	}
	var app struct{ Topic string }
	jr.Reply.Decode(t, &app)
	if app.Topic != topic {
		t.Fatalf("the app's reply is lost: %s", jr.Reply.Response)
	}
	hs.broadcast(t, topic, 1, 3)
	expectMsgs(t, jr.Channel, 1, 3, same)
	a.Close() // away

	hs.broadcast(t, topic, 4, 103) // 100 while away

	b := channeltest.Connect(t, hs.srv, nil)
	ch := b.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, 3))
	rep := ch.ExpectNext(t, "phx_reply").Reply()
	rec := rep.Recovery(t)
	if rep.Status != "ok" || rec.Recovered == nil || !*rec.Recovered || rec.Offset != 3 || rec.Epoch != pos.Epoch {
		t.Fatalf("rejoin reply %s %s, want ok, recovered at 3", rep.Status, rep.Response)
	}
	expectMsgs(t, ch, 4, 103, same)
	hs.broadcast(t, topic, 104, 105)
	expectMsgs(t, ch, 104, 105, same)
	ch.RefuteFrame(t, "msg", 50*time.Millisecond)
}

// While a broadcaster keeps going, a rejoining client gets every offset
// after its position exactly once and in order: replay and live meet
// without a gap or a duplicate.
func TestRecoveryRacingLiveBroadcasts(t *testing.T) {
	hs := newHistoryServer(t, channel.History{Size: 1000})
	topic := "feed:race"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	hs.broadcast(t, topic, 1, 50)

	const total = 400
	done := make(chan error, 1)
	go func() {
		for n := 51; n <= total; n++ {
			if err := hs.srv.Broadcast(context.Background(), topic, "msg", map[string]int{"n": n}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 5; i++ {
		b := channeltest.Connect(t, hs.srv, nil)
		ch := b.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, uint64(10*i)))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		if rec := rep.Recovery(t); rec.Recovered == nil || !*rec.Recovered {
			t.Fatalf("rejoin %d: %s", i, rep.Response)
		}
		expectMsgs(t, ch, 10*i+1, total, same)
		b.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryFreshJoinGetsEverythingAfterItsPosition(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	topic := "feed:fresh"
	hs.broadcast(t, topic, 1, 5)
	a := channeltest.Connect(t, hs.srv, nil)
	jr := a.Join(t, topic, nil)
	if pos := jr.Reply.Recovery(t); pos.Offset != 5 {
		t.Fatalf("fresh join after 5 broadcasts at %d, want 5", pos.Offset)
	}
	hs.broadcast(t, topic, 6, 6)
	expectMsgs(t, jr.Channel, 6, 6, same)
}

func TestRecoveryExpiredHistory(t *testing.T) {
	hs := newHistoryServer(t, channel.History{TTL: time.Minute})
	topic := "feed:old"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	hs.broadcast(t, topic, 1, 5)
	hs.clock.advance(30 * time.Second)
	hs.broadcast(t, topic, 6, 8)
	hs.clock.advance(40 * time.Second) // 1..5 are 70 s old, 6..8 40 s

	b := channeltest.Connect(t, hs.srv, nil)
	ch := b.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, 0))
	rep := ch.ExpectNext(t, "phx_reply").Reply()
	if rec := rep.Recovery(t); rec.Recovered == nil || *rec.Recovered || rec.Offset != 8 {
		t.Fatalf("rejoin from an expired offset: %s, want recovered false at 8", rep.Response)
	}
	// What is still young is recoverable.
	c := channeltest.Connect(t, hs.srv, nil)
	ch2 := c.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, 5))
	if rec := ch2.ExpectNext(t, "phx_reply").Reply().Recovery(t); rec.Recovered == nil || !*rec.Recovered {
		t.Fatal("rejoin from 5 not recovered")
	}
	expectMsgs(t, ch2, 6, 8, same)
	// Nothing replayed to the one not recovered: the next frame is live.
	hs.broadcast(t, topic, 9, 9)
	expectMsgs(t, ch, 9, 9, same)
	expectMsgs(t, ch2, 9, 9, same)
}

func TestRecoveryCountBound(t *testing.T) {
	hs := newHistoryServer(t, channel.History{Size: 10})
	topic := "feed:bounded"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	hs.broadcast(t, topic, 1, 50)
	for _, tc := range []struct {
		from      uint64
		recovered bool
	}{{0, false}, {39, false}, {40, true}, {45, true}, {50, true}} {
		c := channeltest.Connect(t, hs.srv, nil)
		ch := c.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, tc.from))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		rec := rep.Recovery(t)
		if rec.Recovered == nil || *rec.Recovered != tc.recovered {
			t.Fatalf("from %d: %s, want recovered %v", tc.from, rep.Response, tc.recovered)
		}
		if tc.recovered {
			expectMsgs(t, ch, int(tc.from)+1, 50, same)
		}
		ch.RefuteFrame(t, "msg", 20*time.Millisecond)
		c.Close()
	}
}

func TestRecoveryEpochChanged(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	a := channeltest.Connect(t, hs.srv, nil)
	other := a.Join(t, "feed:other", nil).Reply.Recovery(t)
	hs.broadcast(t, "feed:other", 1, 20)
	hs.broadcast(t, "feed:mine", 1, 3)

	// A position of another topic (another epoch), or of a stream that no
	// longer exists (a restarted server), recovers nothing.
	for _, epoch := range []string{other.Epoch, "gone-epoch"} {
		b := channeltest.Connect(t, hs.srv, nil)
		ch := b.JoinAsync(t, "feed:mine", channeltest.RecoverParams(epoch, 2))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		rec := rep.Recovery(t)
		if rep.Status != "ok" || rec.Recovered == nil || *rec.Recovered || rec.Epoch == epoch || rec.Offset != 3 {
			t.Fatalf("epoch %q: %s %s, want ok recovered false at 3 in the topic's epoch", epoch, rep.Status, rep.Response)
		}
		ch.RefuteFrame(t, "msg", 20*time.Millisecond)
		b.Close()
	}
}

func TestRecoveryBadPositionRefused(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	topic := "feed:bad"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	hs.broadcast(t, topic, 1, 3)
	before := hs.joins.Load()
	for _, params := range []any{
		channeltest.RecoverParams(pos.Epoch, 4), // the future
		channeltest.RecoverParams(pos.Epoch, 1<<62),
		map[string]any{"_recover": map[string]any{"epoch": pos.Epoch, "offset": -1}},
		map[string]any{"_recover": map[string]any{"epoch": pos.Epoch, "offset": 1.5}},
		map[string]any{"_recover": map[string]any{"epoch": 7, "offset": 1}},
		map[string]any{"_recover": map[string]any{"offset": 1}},
		map[string]any{"_recover": "3"},
	} {
		b := channeltest.Connect(t, hs.srv, nil)
		jr := b.Join(t, topic, params)
		if jr.Reply.Status != "error" || string(jr.Reply.Response) != `{"reason":"invalid recovery position"}` {
			t.Fatalf("params %v: %s %s, want the invalid position error", params, jr.Reply.Status, jr.Reply.Response)
		}
		jr.Channel.RefuteFrame(t, "msg", 10*time.Millisecond)
		b.Close()
	}
	if n := hs.joins.Load(); n != before {
		t.Fatalf("the app's Join ran %d times for refused positions", n-before)
	}
	// The connection is fine afterwards: a good position recovers.
	b := channeltest.Connect(t, hs.srv, nil)
	ch := b.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, 3))
	if rec := ch.ExpectNext(t, "phx_reply").Reply().Recovery(t); rec.Recovered == nil || !*rec.Recovered {
		t.Fatal("good position after bad ones not recovered")
	}
}

func TestRecoveryThroughInterceptor(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	topic := "censor:x"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	for n := 1; n <= 5; n++ {
		if err := hs.srv.Broadcast(context.Background(), topic, "censored", map[string]any{"n": n, "text": "secret"}); err != nil {
			t.Fatal(err)
		}
	}
	b := channeltest.Connect(t, hs.srv, nil)
	ch := b.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, 2))
	ch.ExpectNext(t, "phx_reply")
	for n := 3; n <= 5; n++ {
		p := ch.ExpectNext(t, "censored").Payload
		if want := fmt.Sprintf(`{"n":%d,"text":"***"}`, n); string(p) != want {
			t.Fatalf("replayed intercepted %s, want %s", p, want)
		}
	}
	ch.RefuteFrame(t, "censored", 20*time.Millisecond)
}

func TestRecoveryViaContextBroadcastAndPlainRoutes(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	a := channeltest.Connect(t, hs.srv, nil)
	ch := a.Join(t, "feed:ctx", nil).Ok(t)
	ch.Push(t, "msg", map[string]int{"n": 1}).Ok(t)
	expectMsgs(t, ch, 1, 1, same)
	// A route without history: no position, broadcasts without a ref.
	jr := a.Join(t, "plain:x", nil)
	if strings.Contains(string(jr.Reply.Response), "_recovery") {
		t.Fatalf("plain route reply %s", jr.Reply.Response)
	}
	hs.broadcast(t, "plain:x", 1, 1)
	if f := jr.Channel.ExpectNext(t, "msg"); f.Ref.Valid {
		t.Fatalf("plain broadcast has ref %q", f.Ref.Value)
	}
}

func TestHistoryTopicsBounded(t *testing.T) {
	hs := newHistoryServer(t, channel.History{MaxTopics: 20})
	a := channeltest.Connect(t, hs.srv, nil)
	kept := a.Join(t, "feed:kept", nil) // subscribed: never dropped
	pos := kept.Reply.Recovery(t)
	for i := 0; i < 200; i++ {
		hs.broadcast(t, fmt.Sprintf("feed:t%d", i), 1, 1)
	}
	if n := channel.HistoryTopics(hs.srv, "feed:x"); n > 20 {
		t.Fatalf("%d topic histories kept, bound 20", n)
	}
	hs.broadcast(t, "feed:kept", 1, 1)
	expectMsgs(t, kept.Channel, 1, 1, same)
	b := channeltest.Connect(t, hs.srv, nil)
	ch := b.JoinAsync(t, "feed:kept", channeltest.RecoverParams(pos.Epoch, 0))
	if rec := ch.ExpectNext(t, "phx_reply").Reply().Recovery(t); rec.Recovered == nil || !*rec.Recovered {
		t.Fatal("a subscribed topic's history was dropped")
	}
	expectMsgs(t, ch, 1, 1, same)
}

// Broadcasts between a joining channel's subscribe and its history
// snapshot are delivered once, in order, for a rejoin and a fresh join.
func TestRecoveryBroadcastsInTheJoinWindow(t *testing.T) {
	hs := newHistoryServer(t, channel.History{})
	srv := hs.srv
	var next atomic.Int64
	channel.SetSubscribedHook(srv, func(topic string) {
		for range 5 {
			n := next.Add(1)
			if err := srv.Broadcast(context.Background(), topic, "msg", map[string]int64{"n": n}); err != nil {
				t.Error(err)
			}
		}
	})
	topic := "feed:window"
	a := channeltest.Connect(t, srv, nil)
	ch := a.JoinAsync(t, topic, nil)
	rec := ch.ExpectNext(t, "phx_reply").Reply().Recovery(t)
	// A fresh join reads its position before subscribing: the five
	// broadcasts in the window come after it, once each.
	if rec.Offset != 0 {
		t.Fatalf("fresh join at %d, want 0 (before the window's broadcasts)", rec.Offset)
	}
	expectMsgs(t, ch, 1, 5, same)
	ch.RefuteFrame(t, "msg", 20*time.Millisecond)
	a.Close()
	next.Store(5)
	b := channeltest.Connect(t, srv, nil)
	ch = b.JoinAsync(t, topic, channeltest.RecoverParams(rec.Epoch, 2))
	rec = ch.ExpectNext(t, "phx_reply").Reply().Recovery(t)
	if rec.Recovered == nil || !*rec.Recovered || rec.Offset != 2 {
		t.Fatalf("rejoin: %+v, want recovered at 2", rec)
	}
	expectMsgs(t, ch, 3, 10, same)
	ch.RefuteFrame(t, "msg", 20*time.Millisecond)
}

// A history route on a PubSub that spans nodes is refused: each node would
// number its own broadcasts.
func TestHistoryRefusedOnClusteredPubSub(t *testing.T) {
	ps, err := pubsub.New(pubsub.Config{Adapter: nodeless{}})
	if err != nil {
		t.Fatal(err)
	}
	var r channel.Router
	r.Handle("plain:*", func() channel.Channel { return Echo{} })
	if _, err := channel.NewServer(channel.Config{Router: &r, PubSub: ps}); err != nil {
		t.Fatalf("a route without history on a clustered PubSub: %v", err)
	}
	r.Handle("feed:*", func() channel.Channel { return Echo{} }, channel.WithHistory(channel.History{}))
	_, err = channel.NewServer(channel.Config{Router: &r, PubSub: ps})
	if !errors.Is(err, channel.ErrClusteredHistory) || !strings.Contains(err.Error(), `"feed:*"`) {
		t.Fatalf("NewServer: %v, want ErrClusteredHistory naming the route", err)
	}
}

// nodeless is an Adapter to no other node, enough to make a PubSub
// clustered.
type nodeless struct{}

func (nodeless) Start(string, func(*pubsub.Message)) error                      { return nil }
func (nodeless) Broadcast(context.Context, *pubsub.Message) error               { return nil }
func (nodeless) DirectBroadcast(context.Context, string, *pubsub.Message) error { return nil }
func (nodeless) Subscribe(string) error                                         { return nil }
func (nodeless) Unsubscribe(string) error                                       { return nil }
func (nodeless) Close() error                                                   { return nil }

// A client that missed more than MaxReplay broadcasts is not recovered,
// even though the history has them: its replay could overflow the
// connection's outbound queue.
func TestRecoveryMaxReplay(t *testing.T) {
	hs := newHistoryServer(t, channel.History{Size: 100, MaxReplay: 10})
	topic := "feed:replay"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	hs.broadcast(t, topic, 1, 50)
	for _, tc := range []struct {
		from      uint64
		recovered bool
	}{{0, false}, {39, false}, {40, true}} {
		c := channeltest.Connect(t, hs.srv, nil)
		ch := c.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, tc.from))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		if rec := rep.Recovery(t); rec.Recovered == nil || *rec.Recovered != tc.recovered {
			t.Fatalf("from %d: %s, want recovered %v", tc.from, rep.Response, tc.recovered)
		}
		if tc.recovered {
			expectMsgs(t, ch, int(tc.from)+1, 50, same)
		}
		ch.RefuteFrame(t, "msg", 20*time.Millisecond)
		c.Close()
	}
}

func TestRecoveryByteBound(t *testing.T) {
	// A "msg" frame of n < 100 is [null,"@n","feed:bytes","msg",{"n":n}],
	// 36 to 40 bytes: 200 bytes hold 5 of them.
	hs := newHistoryServer(t, channel.History{Size: 100, MaxBytes: 200})
	topic := "feed:bytes"
	a := channeltest.Connect(t, hs.srv, nil)
	pos := a.Join(t, topic, nil).Reply.Recovery(t)
	a.Close()
	hs.broadcast(t, topic, 1, 50)
	for _, tc := range []struct {
		from      uint64
		recovered bool
	}{{0, false}, {44, false}, {45, true}} {
		c := channeltest.Connect(t, hs.srv, nil)
		ch := c.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, tc.from))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		if rec := rep.Recovery(t); rec.Recovered == nil || *rec.Recovered != tc.recovered {
			t.Fatalf("from %d: %s, want recovered %v", tc.from, rep.Response, tc.recovered)
		}
		if tc.recovered {
			expectMsgs(t, ch, int(tc.from)+1, 50, same)
		}
		c.Close()
	}
	// A frame bigger than the bound empties the history: nobody behind it
	// is recovered, and what follows it is kept again.
	if err := hs.srv.Broadcast(context.Background(), topic, "msg", map[string]any{"n": 51, "pad": strings.Repeat("x", 300)}); err != nil {
		t.Fatal(err)
	}
	hs.broadcast(t, topic, 52, 53)
	for _, tc := range []struct {
		from      uint64
		recovered bool
	}{{50, false}, {51, true}} {
		c := channeltest.Connect(t, hs.srv, nil)
		ch := c.JoinAsync(t, topic, channeltest.RecoverParams(pos.Epoch, tc.from))
		rep := ch.ExpectNext(t, "phx_reply").Reply()
		if rec := rep.Recovery(t); rec.Recovered == nil || *rec.Recovered != tc.recovered {
			t.Fatalf("after the big frame, from %d: %s, want recovered %v", tc.from, rep.Response, tc.recovered)
		}
		if tc.recovered {
			expectMsgs(t, ch, 52, 53, same)
		}
		c.Close()
	}
}
