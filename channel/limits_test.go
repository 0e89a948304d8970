package channel_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/wire"
)

func limitHits(reg *metrics.Registry, limit string) int64 {
	return reg.Counter("parley_limit_hits_total", "", "limit").With(limit).Value()
}

// TestJoinRateLimit: joins beyond the burst get {"reason":"rate limited"}
// while the connection, its joined channels and other connections go on.
func TestJoinRateLimit(t *testing.T) {
	reg := metrics.NewRegistry()
	srv, _ := newServer(t, channel.Config{JoinsPerSecond: 0.001, JoinBurst: 2, Metrics: reg})
	c := channeltest.Connect(t, srv, user("ana"))
	first := c.Join(t, "room:1", nil).Ok(t)
	c.Join(t, "room:2", nil).Ok(t)
	j := c.Join(t, "room:3", nil)
	if j.Reply.Status != "error" || string(j.Reply.Response) != `{"reason":"rate limited"}` {
		t.Fatalf("third join: %s %s", j.Reply.Status, j.Reply.Response)
	}
	c.Heartbeat(t)
	first.Push(t, "echo", nil).Ok(t)
	if c.CloseCode() != 0 {
		t.Fatalf("a refused join closed the connection: %d", c.CloseCode())
	}
	// The bucket is per connection.
	other := channeltest.Connect(t, srv, user("bob"))
	other.Join(t, "room:3", nil).Ok(t)

	if got := limitHits(reg, channel.LimitJoinRate); got != 1 {
		t.Fatalf("join rate limit hits = %d, want 1", got)
	}
	refused := reg.Counter("parley_joins_refused_total", "", "pattern", "reason").With("room:*", "rate limited").Value()
	if refused != 1 {
		t.Fatalf("refused joins = %d, want 1", refused)
	}
}

// TestEventRateLimit: heartbeats are free; events beyond the burst are a
// flood that closes the connection with 1008.
func TestEventRateLimit(t *testing.T) {
	reg := metrics.NewRegistry()
	srv, _ := newServer(t, channel.Config{EventsPerSecond: 0.001, EventBurst: 5, Metrics: reg})
	c := channeltest.Connect(t, srv, user("ana"))
	ch := c.Join(t, "room:1", nil).Ok(t)
	for range 20 {
		c.Heartbeat(t)
	}
	for i := range 5 {
		ch.Push(t, "echo", map[string]int{"i": i}).Ok(t)
	}
	err := c.SendRaw(wire.AppendText(nil, wire.StringRef(ch.JoinRef()), wire.StringRef("999"), "room:1", "echo", []byte("{}")), false)
	if !errors.Is(err, channel.ErrRateLimited) || !errors.Is(err, channel.ErrFlood) || channel.CloseCode(err) != 1008 {
		t.Fatalf("sixth event: err = %v (close code %d), want ErrRateLimited and 1008", err, channel.CloseCode(err))
	}
	if got := limitHits(reg, channel.LimitEventRate); got != 1 {
		t.Fatalf("event rate limit hits = %d, want 1", got)
	}
	// Another connection is not affected.
	other := channeltest.Connect(t, srv, user("bob"))
	other.Join(t, "room:1", nil).Ok(t).Push(t, "echo", nil).Ok(t)
}

// TestRateLimitsDisabled: a negative rate turns a limit off.
func TestRateLimitsDisabled(t *testing.T) {
	srv, _ := newServer(t, channel.Config{JoinsPerSecond: -1, JoinBurst: 1, EventsPerSecond: -1, EventBurst: 1})
	c := channeltest.Connect(t, srv, user("ana"))
	for i := range 5 {
		ch := c.Join(t, fmt.Sprintf("room:%d", i), nil).Ok(t)
		for range 3 {
			ch.Push(t, "echo", nil).Ok(t)
		}
	}
}

// TestChannelMetrics: the gauges and counters follow joins, leaves,
// crashes, refusals and broadcasts, labelled by route pattern.
func TestChannelMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	srv, _ := newServer(t, channel.Config{Metrics: reg, MaxChannels: 3})
	joined := reg.Gauge("parley_channels_joined", "", "pattern")
	conns := reg.Gauge("parley_connections", "", "transport")
	refused := reg.Counter("parley_joins_refused_total", "", "pattern", "reason")
	c := channeltest.Connect(t, srv, user("ana"))
	if got := conns.With("channeltest").Value(); got != 1 {
		t.Fatalf("connections = %d", got)
	}
	a := c.Join(t, "room:a", nil).Ok(t)
	c.Join(t, "exact", nil).Ok(t)
	crashing := c.Join(t, "room:crash", nil).Ok(t)
	if got := joined.With("room:*").Value(); got != 2 {
		t.Fatalf("room:* joined = %d", got)
	}
	c.Join(t, "room:d", nil) // MaxChannels
	c.Join(t, "nowhere", nil)
	crashing.PushAsync(t, "crash", nil)
	crashing.ExpectFrame(t, wire.EventError)
	a.Leave(t)
	c.Join(t, "room:r", map[string]bool{"Refuse": true})
	c.Heartbeat(t)
	for _, tc := range []struct {
		name string
		got  int64
		want int64
	}{
		{"room:* joined", joined.With("room:*").Value(), 0},
		{"exact joined", joined.With("exact").Value(), 1},
		{"joins", reg.Counter("parley_joins_total", "", "pattern").With("room:*").Value(), 2},
		{"crashes", reg.Counter("parley_channel_crashes_total", "", "pattern").With("room:*").Value(), 1},
		{"too many", refused.With("room:*", "too many channels joined").Value(), 1},
		{"unmatched", refused.With("", "unmatched topic").Value(), 1},
		{"refused", refused.With("room:*", "refused").Value(), 1},
		{"max channels hits", limitHits(reg, channel.LimitMaxChannels), 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	c.Close()
	if got := conns.With("channeltest").Value(); got != 0 {
		t.Fatalf("connections after close = %d", got)
	}
}

// TestServerMessageOverflowCrashesChannel: messages the server sends a
// channel (Context.Send, HandleInfo's mailbox) past MailboxSize are not
// dropped silently: the channel crashes, as documented. The client gets
// phx_error, Terminate sees ErrOverflow, and the socket's other channels
// and a rejoin work.
func TestServerMessageOverflowCrashesChannel(t *testing.T) {
	srv, rec := newServer(t, channel.Config{MailboxSize: 4})
	c := channeltest.Connect(t, srv, user("ana"))
	other := c.Join(t, "room:other", nil).Ok(t)
	ch := c.Join(t, "room:1", nil).Ok(t)
	ch.Push(t, "count", 10).Ok(t) // ten Sends from inside the handler: six over the mailbox
	ch.ExpectFrame(t, wire.EventError)
	// Terminate runs before phx_error is sent.
	if got := rec.reasons(); !slices.Contains(got, "room:1:error") {
		t.Fatalf("terminated %v, want room:1:error", got)
	}
	other.Push(t, "echo", nil).Ok(t)
	c.Join(t, "room:1", nil).Ok(t)
}
