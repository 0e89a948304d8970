package channel_test

import (
	"encoding/json"
	"fmt"
	"testing"

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
