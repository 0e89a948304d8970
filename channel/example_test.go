package channel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
)

// Echo replies to "ping" with "pong".
type Echo struct{}

func (Echo) Join(c *channel.Context, _ json.RawMessage) (any, error) { return nil, nil }

func (Echo) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	if m.Event == "ping" {
		return channel.Ok(map[string]string{"pong": c.Topic()}), nil
	}
	return nil, nil
}

func Example() {
	router := &channel.Router{}
	router.Handle("echo:*", func() channel.Channel { return Echo{} })
	srv, err := channel.NewServer(channel.Config{Router: router})
	if err != nil {
		panic(err)
	}
	// channeltest drives the server in-process, as a test would.
	t := &testing.T{}
	c := channeltest.Connect(t, srv, nil)
	defer c.Close()
	room := c.Join(t, "echo:1", nil).Ok(t)
	fmt.Println(string(room.Push(t, "ping", nil).Ok(t)))
	// Output: {"pong":"echo:1"}
}

// Feed broadcasts what its clients push.
type Feed struct{}

func (Feed) Join(c *channel.Context, _ json.RawMessage) (any, error) { return nil, nil }

func (Feed) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	return channel.Ok(nil), c.Broadcast(m.Event, m.Payload)
}

// A route with a history: a client that rejoins with its last position
// gets the broadcasts it missed, then the live ones.
func ExampleWithHistory() {
	router := &channel.Router{}
	router.Handle("feed:*", func() channel.Channel { return Feed{} },
		channel.WithHistory(channel.History{Size: 500, TTL: 5 * time.Minute}))
	srv, err := channel.NewServer(channel.Config{Router: router})
	if err != nil {
		panic(err)
	}
	t := &testing.T{}
	away := channeltest.Connect(t, srv, nil)
	pos := away.Join(t, "feed:news", nil).Reply.Recovery(t)
	away.Close() // the connection drops

	ctx := context.Background()
	for _, headline := range []string{"one", "two"} {
		if err := srv.Broadcast(ctx, "feed:news", "headline", map[string]string{"text": headline}); err != nil {
			panic(err)
		}
	}

	// The recovery.js helper sends this on every rejoin.
	back := channeltest.Connect(t, srv, nil)
	defer back.Close()
	jr := back.Join(t, "feed:news", channeltest.RecoverParams(pos.Epoch, pos.Offset))
	fmt.Println("recovered:", *jr.Reply.Recovery(t).Recovered)
	for range 2 {
		f := jr.Channel.ExpectNext(t, "headline")
		fmt.Println(f.Ref.Value, string(f.Payload))
	}
	// Output:
	// recovered: true
	// @1 {"text":"one"}
	// @2 {"text":"two"}
}
