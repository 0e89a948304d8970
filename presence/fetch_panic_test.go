package presence_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
)

// logBuffer is a goroutine-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// panickyFetch panics when the presences include the key "bad" and names
// the others otherwise.
func panickyFetch(topic string, ps map[string]presence.Presence) {
	if _, ok := ps["bad"]; ok {
		panic("fetch exploded on " + topic)
	}
	for k, p := range ps {
		p.Extra = map[string]any{"name": strings.ToUpper(k)}
		ps[k] = p
	}
}

// TestFetchPanic: a panic in Config.Fetch fails that List, State or diff
// only, logged with its stack; the tracker, the same topic's later diffs
// and the other topics keep working.
func TestFetchPanic(t *testing.T) {
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	logs := &logBuffer{}
	tr, err := presence.New(presence.Config{PubSub: ps, Fetch: panickyFetch, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	lobby, other := &recorder{}, &recorder{}
	ps.Subscribe("lobby", lobby)
	ps.Subscribe("other", other)

	// The diff of the join that makes Fetch panic is dropped; Track works.
	if _, err := tr.Track("o1", "lobby", "bad", nil); err != nil {
		t.Fatal(err)
	}
	if d := lobby.payloads(); len(d) != 0 {
		t.Fatalf("diffs %v after a panicking Fetch, want none", d)
	}
	if l := logs.String(); !strings.Contains(l, "Config.Fetch panicked") || !strings.Contains(l, "fetch exploded on lobby") ||
		!strings.Contains(l, "topic=lobby") || !strings.Contains(l, "panickyFetch") {
		t.Fatalf("log lacks the panic, its topic or its stack:\n%s", l)
	}

	// List and State of that topic fail safely.
	if got := tr.List("lobby"); got == nil || len(got) != 0 {
		t.Fatalf("List after a panicking Fetch: %v, want an empty map", got)
	}
	if _, err := tr.State("lobby"); !errors.Is(err, presence.ErrFetchPanicked) {
		t.Fatalf("State after a panicking Fetch: %v, want ErrFetchPanicked", err)
	}
	if _, ok := tr.Get("lobby", "bad"); !ok {
		t.Fatal("Get (no Fetch) lost the presence")
	}

	// Another topic is unaffected.
	if _, err := tr.Track("o2", "other", "ana", nil); err != nil {
		t.Fatal(err)
	}
	if d := other.payloads(); len(d) != 1 || !strings.Contains(d[0], `"name":"ANA"`) {
		t.Fatalf("other topic's diffs %v, want one with the fetched name", d)
	}
	if got := tr.List("other"); got["ana"].Extra["name"] != "ANA" {
		t.Fatalf("List of the other topic: %+v", got)
	}

	// The same topic recovers once Fetch stops panicking.
	if err := tr.Untrack("o1", "lobby", "bad"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Track("o3", "lobby", "bob", nil); err != nil {
		t.Fatal(err)
	}
	if d := lobby.payloads(); len(d) != 1 || !strings.Contains(d[0], `"name":"BOB"`) {
		t.Fatalf("lobby diffs %v, want only bob's join", d)
	}
	if state, err := tr.State("lobby"); err != nil || !strings.Contains(string(state), `"name":"BOB"`) {
		t.Fatalf("State of the lobby: %s, %v", state, err)
	}
}

// TestFetchPanicOnGossip: a diff merged from another node is delivered by
// the gossip goroutine; a panic in Fetch there drops that diff and the
// goroutine goes on merging and delivering.
func TestFetchPanicOnGossip(t *testing.T) {
	logs := &logBuffer{}
	c := newCluster(t, fastConfig(time.Second), pubsubtest.BusConfig{}, "b")
	a := c.start(t, "a", func(cfg *presence.Config) {
		cfg.Fetch = panickyFetch
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	b := c.nodes["b"]
	if _, err := b.tr.Track("ob", topic, "bad", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node a to merge b's bad presence", func() bool {
		_, ok := a.tr.Get(topic, "bad")
		return ok
	})
	waitFor(t, 5*time.Second, "the panic log on node a", func() bool { return strings.Contains(logs.String(), "Config.Fetch panicked") })
	// A later change from b (a join alone: Fetch does not see "bad") is
	// merged and delivered by the same goroutine.
	if _, err := b.tr.Track("ob", topic, "good", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node a to deliver good's join", func() bool { return a.rec.count(`"name":"GOOD"`) > 0 })
	if n := a.rec.count(`"bad"`); n != 0 {
		t.Fatalf("node a delivered %d diffs with bad, want 0", n)
	}
}

// TestFetchPanicInChannel: PushState in a channel fails when Fetch
// panics; that channel crashes (phx_error) and the socket's other
// channels, and the tracker, keep working.
func TestFetchPanicInChannel(t *testing.T) {
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	tr, err := presence.New(presence.Config{PubSub: ps, Fetch: func(topic string, m map[string]presence.Presence) {
		if topic == "room:cursed" {
			panic("cursed room")
		}
	}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	router := &channel.Router{}
	router.Handle("room:*", func() channel.Channel { return &room{tr: tr} })
	srv, err := channel.NewServer(channel.Config{Router: router, PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	c := channeltest.Connect(t, srv, url.Values{})
	lobby := c.Join(t, "room:lobby", map[string]string{"user": "ana"}).Ok(t)
	expectState(t, lobby)
	cursed := c.Join(t, "room:cursed", map[string]string{"user": "ana"}).Ok(t)
	cursed.ExpectFrame(t, "phx_error")
	// The crashed channel's presence is gone; the lobby still answers.
	waitFor(t, 5*time.Second, "the crashed channel's presence to leave", func() bool {
		_, ok := tr.Get("room:cursed", "ana")
		return !ok
	})
	lobby.Push(t, "status", map[string]string{"status": "away"}).Ok(t)
	d := expectDiff(t, lobby)
	if len(d.Joins["ana"].Metas) != 1 || d.Joins["ana"].Metas[0].Status != "away" {
		t.Fatalf("lobby diff after the other channel crashed: %+v", d)
	}
}
