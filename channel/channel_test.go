package channel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/wire"
)

// room is the channel under test.
type room struct {
	rec  *recorder
	user string
}

// recorder collects what the server side saw.
type recorder struct {
	mu         sync.Mutex
	terminated []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.terminated = append(r.terminated, s)
	r.mu.Unlock()
}

func (r *recorder) reasons() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.terminated...)
}

func (rm *room) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	var p struct {
		Refuse, Crash, PushEarly bool
	}
	_ = json.Unmarshal(payload, &p)
	switch {
	case p.Refuse:
		return nil, channel.Refuse(map[string]string{"reason": "refused"})
	case p.Crash:
		panic("boom in join")
	case p.PushEarly:
		if err := c.Push("early", map[string]int{"n": 1}); err != nil {
			return nil, err
		}
	}
	rm.user = c.Assign("user")
	return map[string]string{"user": rm.user}, nil
}

func (rm *room) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	switch m.Event {
	case "echo":
		return channel.Ok(m.Payload), nil
	case "fail":
		return channel.ErrorReply(map[string]string{"reason": "nope"}), nil
	case "later":
		c.Send(m.Ref())
		return nil, nil
	case "shout":
		return channel.Ok(nil), c.Broadcast("shout", m.Payload)
	case "whisper":
		return channel.Ok(nil), c.BroadcastFrom("shout", m.Payload)
	case "filtered":
		return channel.Ok(nil), c.Broadcast("filtered", m.Payload)
	case "stop":
		return channel.Ok(nil), channel.Stop("asked")
	case "crash":
		panic("boom in handle_in")
	case "fail_hard":
		return nil, errors.New("handler error")
	case "bin":
		out := append([]byte{0xde}, m.Binary...)
		return channel.Ok(channel.Binary(out)), nil
	case "count":
		var n int
		_ = m.Decode(&n)
		for i := range n {
			c.Send(i)
		}
		return channel.Ok(nil), nil
	case "after":
		c.SendAfter(10*time.Millisecond, "tick")
		return channel.Ok(nil), nil
	case "follow":
		return channel.Ok(nil), c.Subscribe("news")
	case "slow":
		<-c.Context().Done()
		return nil, nil
	case "kick":
		var id string
		_ = m.Decode(&id)
		return channel.Ok(nil), channel.Broadcast(context.Background(), c.PubSub(), id, "disconnect", nil)
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown"}), nil
}

func (rm *room) HandleInfo(c *channel.Context, msg any) error {
	switch v := msg.(type) {
	case channel.ReplyRef:
		return c.Reply(v, channel.Ok(map[string]string{"late": "yes"}))
	case int:
		return c.Push("count", map[string]int{"i": v})
	case string:
		return c.Push(v, nil)
	case *pubsub.Message:
		p, err := channel.BroadcastPayload(v)
		if err != nil {
			return err
		}
		return c.Push("news", json.RawMessage(p))
	}
	return nil
}

func (rm *room) Intercepts() []string { return []string{"filtered"} }

func (rm *room) HandleOut(c *channel.Context, event string, payload json.RawMessage) error {
	var p struct{ Body string }
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	if p.Body == "drop" {
		return nil
	}
	return c.Push(event, map[string]string{"body": strings.ToUpper(p.Body), "for": rm.user})
}

func (rm *room) Terminate(c *channel.Context, reason error) {
	rm.rec.add(c.Topic() + ":" + reasonName(reason))
}

func reasonName(err error) string {
	var stop *channel.StopError
	var pe *channel.PanicError
	switch {
	case errors.Is(err, channel.ErrLeft):
		return "left"
	case errors.Is(err, channel.ErrClosed):
		return "closed"
	case errors.Is(err, channel.ErrDuplicateJoin):
		return "duplicate"
	case errors.As(err, &stop):
		return "stop"
	case errors.As(err, &pe):
		return "panic"
	}
	return "error"
}

func newServer(t *testing.T, cfg channel.Config) (*channel.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	r := &channel.Router{}
	r.Handle("room:*", func() channel.Channel { return &room{rec: rec} })
	r.Handle("exact", func() channel.Channel { return &room{rec: rec} })
	cfg.Router = r
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.Connect == nil {
		cfg.Connect = func(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
			if info.Params.Get("token") == "bad" {
				return nil, errors.New("bad token")
			}
			return map[string]any{"user": info.Params.Get("user")}, nil
		}
	}
	cfg.ID = func(a map[string]any) string {
		if u, _ := a["user"].(string); u != "" {
			return "user_socket:" + u
		}
		return ""
	}
	srv, err := channel.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, rec
}

func user(name string) url.Values { return url.Values{"user": {name}} }

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestConnectRefused(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	if _, err := channeltest.Dial(context.Background(), srv, url.Values{"token": {"bad"}}); !errors.Is(err, channel.ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
}

func TestJoinReplies(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	ok := c.Join(t, "room:1", nil)
	if got := decode[map[string]string](t, ok.Reply.Ok(t)); got["user"] != "ana" {
		t.Fatalf("join reply %v", got)
	}
	refused := c.Join(t, "room:2", map[string]bool{"Refuse": true})
	if refused.Reply.Status != "error" || string(refused.Reply.Response) != `{"reason":"refused"}` {
		t.Fatalf("refused join got %s %s", refused.Reply.Status, refused.Reply.Response)
	}
	crashed := c.Join(t, "room:3", map[string]bool{"Crash": true})
	if crashed.Reply.Status != "error" || string(crashed.Reply.Response) != `{"reason":"join crashed"}` {
		t.Fatalf("crashed join got %s %s", crashed.Reply.Status, crashed.Reply.Response)
	}
	exact := c.Join(t, "exact", nil)
	exact.Reply.Ok(t)
	if c.Socket().Channels() != 2 {
		t.Fatalf("channels = %d, want 2 (room:1 and exact)", c.Socket().Channels())
	}
}

func TestUnmatchedTopic(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	j := c.Join(t, "nope:1", nil)
	if j.Reply.Status != "error" || string(j.Reply.Response) != `{"reason":"unmatched topic"}` {
		t.Fatalf("got %s %s", j.Reply.Status, j.Reply.Response)
	}
	// A push on a topic never joined: the error reply has a null join ref.
	if err := c.SendRaw([]byte(`["9","10","room:9","echo",{}]`), false); err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Frames() {
		if f.Ref.Value == "10" {
			if f.JoinRef.Valid || string(f.Payload) != `{"status":"error","response":{"reason":"unmatched topic"}}` {
				t.Fatalf("unmatched push answered %+v %s", f.JoinRef, f.Payload)
			}
			return
		}
	}
	t.Fatal("no reply to a push on an unjoined topic")
}

func TestPushReplies(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.Join(t, "room:1", nil).Ok(t)
	if got := string(ch.Push(t, "echo", map[string]int{"a": 1}).Ok(t)); got != `{"a":1}` {
		t.Fatalf("echo = %s", got)
	}
	if r := ch.Push(t, "fail", nil); r.Status != "error" || string(r.Response) != `{"reason":"nope"}` {
		t.Fatalf("fail = %s %s", r.Status, r.Response)
	}
	if got := string(ch.Push(t, "later", nil).Ok(t)); got != `{"late":"yes"}` {
		t.Fatalf("async reply = %s", got)
	}
	r := ch.Push(t, "bin", channel.Binary{1, 2, 3})
	if r.Status != "ok" || string(r.Binary) != "\xde\x01\x02\x03" {
		t.Fatalf("binary reply = %s %x", r.Status, r.Binary)
	}
}

func TestBroadcasts(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	a := channeltest.Connect(t, srv, user("ana"))
	b := channeltest.Connect(t, srv, user("bo"))
	chA := a.Join(t, "room:1", nil).Ok(t)
	chB := b.Join(t, "room:1", nil).Ok(t)
	chA.Push(t, "shout", map[string]string{"body": "hi"}).Ok(t)
	for _, ch := range []*channeltest.Channel{chA, chB} {
		f := ch.ExpectFrame(t, "shout")
		if f.JoinRef.Valid || f.Ref.Valid || string(f.Payload) != `{"body":"hi"}` {
			t.Fatalf("broadcast frame %+v %s", f, f.Payload)
		}
	}
	chA.Push(t, "whisper", map[string]string{"body": "psst"}).Ok(t)
	if got := string(chB.ExpectPush(t, "shout")); got != `{"body":"psst"}` {
		t.Fatalf("b got %s", got)
	}
	chA.RefuteFrame(t, "shout", 50*time.Millisecond)
}

func TestIntercept(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	a := channeltest.Connect(t, srv, user("ana"))
	b := channeltest.Connect(t, srv, user("bo"))
	chA := a.Join(t, "room:1", nil).Ok(t)
	chB := b.Join(t, "room:1", nil).Ok(t)
	chA.Push(t, "filtered", map[string]string{"Body": "drop"}).Ok(t)
	chA.Push(t, "filtered", map[string]string{"Body": "hi"}).Ok(t)
	for ch, who := range map[*channeltest.Channel]string{chA: "ana", chB: "bo"} {
		f := ch.ExpectFrame(t, "filtered")
		got := decode[map[string]string](t, f.Payload)
		if got["body"] != "HI" || got["for"] != who || f.JoinRef.Value != ch.JoinRef() {
			t.Fatalf("%s got %s (join ref %v): the dropped one or an unintercepted one", who, f.Payload, f.JoinRef)
		}
	}
}

func TestLeave(t *testing.T) {
	srv, rec := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.Join(t, "room:1", nil).Ok(t)
	ch.Leave(t)
	if c.Socket().Channels() != 0 {
		t.Fatalf("channel still joined after leave")
	}
	if got := rec.reasons(); len(got) != 1 || got[0] != "room:1:left" {
		t.Fatalf("terminate reasons %v", got)
	}
	// Leaving a topic not joined: the ok reply only.
	r := ch.Push(t, wire.EventLeave, nil)
	r.Ok(t)
	ch.RefuteFrame(t, wire.EventClose, 50*time.Millisecond)
}

func TestDuplicateJoinReplacesOld(t *testing.T) {
	srv, rec := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	old := c.Join(t, "room:1", nil).Ok(t)
	fresh := c.Join(t, "room:1", nil).Ok(t)
	closeFrame := old.ExpectFrame(t, wire.EventClose)
	// Phoenix order: the new join's reply, then the old phx_close.
	if err := c.SendRaw([]byte(`["90","90","room:1","phx_join",{}]`), false); err != nil {
		t.Fatal(err)
	}
	var order []string
	deadline := time.Now().Add(2 * time.Second)
	for len(order) < 2 && time.Now().Before(deadline) {
		order = order[:0]
		for _, f := range c.Frames() {
			if f.Event == wire.EventClose || f.Ref.Value == "90" {
				order = append(order, f.Event+"/"+f.JoinRef.Value)
			}
		}
		if len(order) < 2 {
			time.Sleep(time.Millisecond) // poll until both frames are in
		}
	}
	if want := "phx_reply/90,phx_close/" + fresh.JoinRef(); strings.Join(order, ",") != want {
		t.Fatalf("frame order %v, want %s", order, want)
	}
	fresh = c.Join(t, "room:1", nil).Ok(t)
	if closeFrame.JoinRef.Value != old.JoinRef() {
		t.Fatalf("phx_close carries join ref %v, want the old %s", closeFrame.JoinRef, old.JoinRef())
	}
	fresh.Push(t, "echo", nil).Ok(t)
	if got := rec.reasons(); len(got) != 3 || got[0] != "room:1:duplicate" {
		t.Fatalf("terminate reasons %v", got)
	}
}

func TestStaleJoinRefIgnored(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	old := c.Join(t, "room:1", nil).Ok(t)
	fresh := c.Join(t, "room:1", nil).Ok(t)
	staleRef := old.PushAsync(t, "echo", nil)
	fresh.Push(t, "echo", nil).Ok(t) // answered after the stale one would have been
	for _, f := range c.Frames() {
		if f.Ref == staleRef {
			t.Fatalf("a stale join ref got an answer: %s", f.Payload)
		}
	}
}

func TestStopAndCrash(t *testing.T) {
	srv, rec := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	stopping := c.Join(t, "room:stop", nil).Ok(t)
	crashing := c.Join(t, "room:crash", nil).Ok(t)
	failing := c.Join(t, "room:fail", nil).Ok(t)
	healthy := c.Join(t, "room:ok", nil).Ok(t)

	stopping.Push(t, "stop", nil).Ok(t)
	stopping.ExpectFrame(t, wire.EventClose)

	crashing.PushAsync(t, "crash", nil)
	if got := string(crashing.ExpectPush(t, wire.EventError)); got != `{"reason":"channel_crash"}` {
		t.Fatalf("phx_error payload %s", got)
	}
	failing.PushAsync(t, "fail_hard", nil)
	failing.ExpectFrame(t, wire.EventError)

	healthy.Push(t, "echo", nil).Ok(t)
	c.Heartbeat(t)
	reasons := strings.Join(rec.reasons(), ",")
	for _, want := range []string{"room:stop:stop", "room:crash:panic", "room:fail:error"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("terminate reasons %s lack %s", reasons, want)
		}
	}
	if c.Socket().Channels() != 1 {
		t.Fatalf("channels = %d, want 1", c.Socket().Channels())
	}
}

func TestInfoOrderAndTimers(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.Join(t, "room:1", nil).Ok(t)
	ch.Push(t, "count", 5).Ok(t)
	for i := range 5 {
		if got := decode[map[string]int](t, ch.ExpectPush(t, "count"))["i"]; got != i {
			t.Fatalf("info %d arrived as %d", i, got)
		}
	}
	ch.Push(t, "after", nil).Ok(t)
	ch.ExpectFrame(t, "tick")
	ch.Push(t, "follow", nil).Ok(t)
	if err := channel.Broadcast(context.Background(), srv.PubSub(), "news", "headline", map[string]string{"h": "x"}); err != nil {
		t.Fatal(err)
	}
	if got := string(ch.ExpectPush(t, "news")); got != `{"h":"x"}` {
		t.Fatalf("news = %s", got)
	}
}

func TestPushDuringJoinArrivesAfterReply(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.JoinAsync(t, "room:1", map[string]bool{"PushEarly": true})
	if r := ch.ExpectNext(t, wire.EventReply).Reply(); r.Status != "ok" {
		t.Fatalf("join reply %s %s", r.Status, r.Response)
	}
	ch.ExpectNext(t, "early")
}

func TestSlowHandlerDoesNotBlockSocket(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	slow := c.Join(t, "room:slow", nil).Ok(t)
	other := c.Join(t, "room:other", nil).Ok(t)
	slow.PushAsync(t, "slow", nil) // blocks until the channel ends
	c.Heartbeat(t)
	other.Push(t, "echo", nil).Ok(t)
}

func TestMaxChannels(t *testing.T) {
	srv, _ := newServer(t, channel.Config{MaxChannels: 3})
	c := channeltest.Connect(t, srv, user("ana"))
	for i := range 3 {
		c.Join(t, fmt.Sprintf("room:%d", i), nil).Ok(t)
	}
	j := c.Join(t, "room:3", nil)
	if j.Reply.Status != "error" || string(j.Reply.Response) != `{"reason":"too many channels joined"}` {
		t.Fatalf("4th join got %s %s", j.Reply.Status, j.Reply.Response)
	}
	c.Join(t, "room:0", nil).Ok(t) // rejoining a joined topic is not a new channel
	c.Heartbeat(t)
}

func TestSocketIDDisconnect(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	a1 := channeltest.Connect(t, srv, user("42"))
	a2 := channeltest.Connect(t, srv, user("42"))
	b := channeltest.Connect(t, srv, user("7"))
	ch := b.Join(t, "room:1", nil).Ok(t)
	ch.Push(t, "kick", "user_socket:42").Ok(t)
	for _, c := range []*channeltest.Client{a1, a2} {
		if code := c.WaitClosed(t); code != 1001 {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
	if b.CloseCode() != 0 {
		t.Fatal("socket 7 was closed too")
	}
}

func TestConnectionClosedTerminatesChannels(t *testing.T) {
	srv, rec := newServer(t, channel.Config{})
	c, err := channeltest.Dial(context.Background(), srv, user("ana"))
	if err != nil {
		t.Fatal(err)
	}
	c.Join(t, "room:1", nil).Ok(t)
	c.Join(t, "room:2", nil).Ok(t)
	c.Close()
	got := strings.Join(rec.reasons(), ",")
	if !strings.Contains(got, "room:1:closed") || !strings.Contains(got, "room:2:closed") {
		t.Fatalf("terminate reasons %s", got)
	}
	if n := srv.PubSub().Subscribers("room:1"); n != 0 {
		t.Fatalf("%d subscribers left on room:1", n)
	}
}

func TestBadFrames(t *testing.T) {
	srv, _ := newServer(t, channel.Config{})
	c := channeltest.Connect(t, srv, user("ana"))
	for _, bad := range []string{`not json`, `["1","2","t","e"]`, `[1,2,"t","e",{}]`, `{}`} {
		err := c.SendRaw([]byte(bad), false)
		if !errors.Is(err, wire.ErrMalformed) || channel.CloseCode(err) != 1007 {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	if err := c.SendRaw([]byte{9, 9}, true); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("binary garbage: err = %v", err)
	}
}

func TestFloodIsRefused(t *testing.T) {
	srv, _ := newServer(t, channel.Config{MailboxSize: 4})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.Join(t, "room:slow", nil).Ok(t)
	ch.PushAsync(t, "slow", nil) // occupies the channel
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = c.SendRaw(wire.AppendText(nil, wire.StringRef(ch.JoinRef()), wire.StringRef(fmt.Sprint(100+i)), "room:slow", "echo", []byte("{}")), false)
	}
	if !errors.Is(err, channel.ErrFlood) || channel.CloseCode(err) != 1008 {
		t.Fatalf("err = %v, want ErrFlood", err)
	}
}
