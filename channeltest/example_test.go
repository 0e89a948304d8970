package channeltest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
)

// lobby refuses joins without a username and broadcasts "new_msg" to the
// room with the sender's name.
type lobby struct{}

func (lobby) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	if c.Assign("username") == "" {
		return nil, channel.Refuse(map[string]string{"reason": "who are you?"})
	}
	return map[string]string{"welcome": c.Assign("username")}, nil
}

func (lobby) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	var in struct{ Body string }
	if err := json.Unmarshal(m.Payload, &in); err != nil || in.Body == "" {
		return channel.ErrorReply(map[string]string{"reason": "empty message"}), nil
	}
	if err := c.Broadcast("new_msg", map[string]string{"user": c.Assign("username"), "body": in.Body}); err != nil {
		return nil, err
	}
	return channel.Ok(nil), nil
}

// Example is a channel test as one writes it: two clients join a room,
// one pushes, both get the broadcast; an anonymous join is refused. In a
// real test t is the test function's *testing.T; an Example has none.
func Example() {
	router := &channel.Router{}
	router.Handle("room:*", func() channel.Channel { return lobby{} })
	srv, err := channel.NewServer(channel.Config{
		Router: router,
		Connect: func(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
			return map[string]any{"username": info.Params.Get("username")}, nil
		},
	})
	if err != nil {
		panic(err)
	}
	t := &testing.T{}

	ana := channeltest.Connect(t, srv, url.Values{"username": {"ana"}})
	defer ana.Close()
	bob := channeltest.Connect(t, srv, url.Values{"username": {"bob"}})
	defer bob.Close()
	joined := ana.Join(t, "room:lobby", nil)
	fmt.Println("ana joins:", string(joined.Reply.Ok(t)))
	anaRoom := joined.Channel
	bobRoom := bob.Join(t, "room:lobby", nil).Ok(t)

	fmt.Println("empty push:", anaRoom.Push(t, "new_msg", map[string]string{"body": ""}).Status)
	anaRoom.Push(t, "new_msg", map[string]string{"body": "hi"}).Ok(t)
	fmt.Println("bob gets:", string(bobRoom.ExpectPush(t, "new_msg")))
	fmt.Println("ana gets:", string(anaRoom.ExpectPush(t, "new_msg")))

	anon := channeltest.Connect(t, srv, nil)
	defer anon.Close()
	refused := anon.Join(t, "room:lobby", nil).Reply
	fmt.Println("anonymous join:", refused.Status, string(refused.Response))
	// Output:
	// ana joins: {"welcome":"ana"}
	// empty push: error
	// bob gets: {"body":"hi","user":"ana"}
	// ana gets: {"body":"hi","user":"ana"}
	// anonymous join: error {"reason":"who are you?"}
}
