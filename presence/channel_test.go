package presence_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

// A *channel.Context is a presence.Owner.
var _ presence.Owner = (*channel.Context)(nil)

// room tracks the joining user, then pushes the state after the join.
type room struct {
	tr   *presence.Tracker
	user string
}

type afterJoin struct{}

func (r *room) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	var p struct {
		User   string `json:"user"`
		Device string `json:"device"`
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.User == "" {
		return nil, channel.Refuse(map[string]string{"reason": "user required"})
	}
	r.user = p.User
	if _, err := r.tr.TrackChannel(c, p.User, map[string]any{"device": p.Device}); err != nil {
		return nil, err
	}
	c.Send(afterJoin{})
	return nil, nil
}

func (r *room) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return r.tr.PushState(c)
	}
	return nil
}

func (r *room) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	switch m.Event {
	case "status":
		var p struct{ Status string }
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		ref, err := r.tr.Update(c.ID(), c.Topic(), r.user, map[string]any{"status": p.Status})
		if err != nil {
			return nil, err
		}
		return channel.Ok(map[string]string{"ref": ref}), nil
	case "crash":
		return nil, errors.New("boom")
	}
	return nil, nil
}

type fixture struct {
	ps  *pubsub.PubSub
	tr  *presence.Tracker
	srv *channel.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := presence.New(presence.Config{PubSub: ps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tr.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	router := &channel.Router{}
	router.Handle("room:*", func() channel.Channel { return &room{tr: tr} })
	srv, err := channel.NewServer(channel.Config{Router: router, PubSub: ps})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ps: ps, tr: tr, srv: srv}
}

// join connects a client and joins room:lobby as user.
func (f *fixture) join(t *testing.T, user, device string) (*channeltest.Client, *channeltest.Channel) {
	t.Helper()
	c := channeltest.Connect(t, f.srv, url.Values{})
	ch := c.Join(t, "room:lobby", map[string]string{"user": user, "device": device}).Ok(t)
	return c, ch
}

func expectState(t *testing.T, ch *channeltest.Channel) map[string]wirePresence {
	t.Helper()
	f := ch.ExpectFrame(t, presence.EventState)
	if f.JoinRef.Value != ch.JoinRef() {
		t.Fatalf("presence_state join ref %s, want %s", f.JoinRef, ch.JoinRef())
	}
	return decode[map[string]wirePresence](t, f.Payload)
}

func expectDiff(t *testing.T, ch *channeltest.Channel) wireDiff {
	t.Helper()
	f := ch.ExpectFrame(t, presence.EventDiff)
	if f.JoinRef.Valid || f.Ref.Valid {
		t.Fatalf("presence_diff with refs %s %s, want null", f.JoinRef, f.Ref)
	}
	if !strings.Contains(string(f.Payload), `"joins":`) || !strings.Contains(string(f.Payload), `"leaves":`) {
		t.Fatalf("presence_diff %s lacks joins or leaves", f.Payload)
	}
	return decode[wireDiff](t, f.Payload)
}

func TestStateAfterJoin(t *testing.T) {
	f := newFixture(t)
	_, ana := f.join(t, "ana", "phone")
	state := expectState(t, ana)
	if len(state) != 1 || len(state["ana"].Metas) != 1 {
		t.Fatalf("state %+v, want ana with one meta", state)
	}
	m := state["ana"].Metas[0]
	if len(m.Ref) != 16 || m.Device != "phone" {
		t.Fatalf("meta %+v, want a 16-char phx_ref and device phone", m)
	}

	_, bob := f.join(t, "bob", "laptop")
	d := expectDiff(t, ana)
	if len(d.Joins) != 1 || len(d.Joins["bob"].Metas) != 1 || len(d.Leaves) != 0 {
		t.Fatalf("ana got diff %+v, want bob joining", d)
	}
	state = expectState(t, bob)
	if len(state) != 2 || state["ana"].Metas[0].Ref != m.Ref {
		t.Fatalf("bob's state %+v, want ana and bob", state)
	}
}

func TestDiffOnLeaveCrashAndClose(t *testing.T) {
	f := newFixture(t)
	_, ana := f.join(t, "ana", "phone")
	expectState(t, ana)

	for _, how := range []string{"leave", "crash", "close"} {
		t.Run(how, func(t *testing.T) {
			c, bob := f.join(t, "bob", "laptop")
			expectState(t, bob)
			joined := expectDiff(t, ana).Joins["bob"].Metas[0].Ref
			switch how {
			case "leave":
				bob.Leave(t)
			case "crash":
				bob.PushAsync(t, "crash", nil)
				bob.ExpectFrame(t, "phx_error")
			case "close":
				c.Close()
			}
			d := expectDiff(t, ana)
			if len(d.Joins) != 0 || len(d.Leaves["bob"].Metas) != 1 || d.Leaves["bob"].Metas[0].Ref != joined {
				t.Fatalf("after %s ana got %+v, want bob's %s leaving", how, d, joined)
			}
			if _, ok := f.tr.Get("room:lobby", "bob"); ok {
				t.Fatalf("bob still listed after %s", how)
			}
		})
	}
}

func TestTwoTabsOneKey(t *testing.T) {
	f := newFixture(t)
	_, watcher := f.join(t, "watcher", "")
	expectState(t, watcher)
	tab1, _ := f.join(t, "ana", "tab1")
	expectDiff(t, watcher)
	_, tab2 := f.join(t, "ana", "tab2")
	expectDiff(t, watcher)
	state := expectState(t, tab2)
	if got := state["ana"].Metas; len(got) != 2 || got[0].Ref == got[1].Ref {
		t.Fatalf("ana has metas %+v, want two", got)
	}
	// The order of metas is stable: the same on every List.
	first := f.tr.List("room:lobby")["ana"].Metas
	for range 5 {
		again := f.tr.List("room:lobby")["ana"].Metas
		if string(again[0]) != string(first[0]) || string(again[1]) != string(first[1]) {
			t.Fatal("metas of one key changed order between Lists")
		}
	}

	tab1.Close()
	d := expectDiff(t, watcher)
	if left := d.Leaves["ana"].Metas; len(left) != 1 || left[0].Device != "tab1" {
		t.Fatalf("leaves %+v, want tab1", d.Leaves)
	}
	p, ok := f.tr.Get("room:lobby", "ana")
	if !ok || len(p.Metas) != 1 {
		t.Fatalf("ana after one tab closed: %+v", p)
	}
}

func TestUpdateIsOneDiff(t *testing.T) {
	f := newFixture(t)
	_, watcher := f.join(t, "watcher", "")
	expectState(t, watcher)
	_, ana := f.join(t, "ana", "phone")
	old := expectState(t, ana)["ana"].Metas[0].Ref
	expectDiff(t, watcher)

	var r struct{ Ref string }
	if err := json.Unmarshal(ana.Push(t, "status", map[string]string{"status": "away"}).Ok(t), &r); err != nil {
		t.Fatal(err)
	}
	d := expectDiff(t, watcher)
	j, l := d.Joins["ana"].Metas, d.Leaves["ana"].Metas
	if len(j) != 1 || len(l) != 1 {
		t.Fatalf("update diff %+v, want one join and one leave of ana", d)
	}
	if j[0].Ref != r.Ref || j[0].Prev != old || j[0].Status != "away" || l[0].Ref != old {
		t.Fatalf("update diff %+v: want join %s (prev %s, away), leave %s", d, r.Ref, old, old)
	}
	watcher.RefuteFrame(t, presence.EventDiff, 50*time.Millisecond)
}

func TestErrors(t *testing.T) {
	ps, _ := pubsub.New(pubsub.Config{})
	if _, err := presence.New(presence.Config{}); err == nil || !strings.HasPrefix(err.Error(), "presence: ") {
		t.Fatalf("New without PubSub: %v", err)
	}
	if _, err := presence.New(presence.Config{PubSub: ps, BroadcastPeriod: time.Second, DownPeriod: time.Second}); err == nil {
		t.Fatal("DownPeriod < 2×BroadcastPeriod accepted")
	}
	tr, err := presence.New(presence.Config{PubSub: ps})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Track("o", "t", "k", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Track("o", "t", "k", nil); !errors.Is(err, presence.ErrAlreadyTracked) {
		t.Fatalf("duplicate track: %v", err)
	}
	if _, err := tr.Track("o2", "t", "k", nil); err != nil {
		t.Fatalf("a second owner of a key: %v", err)
	}
	if _, err := tr.Update("o", "t", "nope", nil); !errors.Is(err, presence.ErrNotTracked) {
		t.Fatalf("update of nothing: %v", err)
	}
	if _, err := tr.Track("o", "t", "bad", map[string]any{"f": func() {}}); err == nil || !strings.HasPrefix(err.Error(), "presence: ") {
		t.Fatalf("unencodable meta: %v", err)
	}
	if err := tr.Untrack("o", "t", "nope"); err != nil {
		t.Fatalf("untrack of nothing: %v", err)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Track("o", "t", "k2", nil); !errors.Is(err, presence.ErrClosed) {
		t.Fatalf("track after close: %v", err)
	}
	if got := len(tr.List("t")["k"].Metas); got != 2 {
		t.Fatalf("List after Close has %d metas, want 2", got)
	}
}

func TestFetchAddsFields(t *testing.T) {
	ps, _ := pubsub.New(pubsub.Config{})
	tr, err := presence.New(presence.Config{PubSub: ps, Fetch: func(topic string, ps map[string]presence.Presence) {
		for k, p := range ps {
			p.Extra = map[string]any{"user": map[string]string{"name": strings.ToUpper(k)}}
			ps[k] = p
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	rec := &recorder{}
	ps.Subscribe("t", rec)
	tr.Track("o", "t", "ana", map[string]any{"x": 1})
	state, _ := tr.State("t")
	if !strings.Contains(string(state), `"user":{"name":"ANA"}`) {
		t.Fatalf("state %s lacks the fetched user", state)
	}
	if d := rec.payloads(); len(d) != 1 || !strings.Contains(d[0], `"user":{"name":"ANA"}`) {
		t.Fatalf("diffs %v lack the fetched user", d)
	}
}

func TestLocalBroadcastHook(t *testing.T) {
	ps, _ := pubsub.New(pubsub.Config{})
	type call struct{ topic, event, payload string }
	var calls []call
	tr, err := presence.New(presence.Config{PubSub: ps, LocalBroadcast: func(topic, event string, payload any) error {
		calls = append(calls, call{topic, event, string(payload.(json.RawMessage))})
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	ref, _ := tr.Track("o", "t", "ana", nil)
	tr.Untrack("o", "t", "ana")
	want := []call{
		{"t", "presence_diff", `{"joins":{"ana":{"metas":[{"phx_ref":"` + ref + `"}]}},"leaves":{}}`},
		{"t", "presence_diff", `{"joins":{},"leaves":{"ana":{"metas":[{"phx_ref":"` + ref + `"}]}}}`},
	}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Fatalf("hook got %+v, want %+v", calls, want)
	}
}
