package parley_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
)

type greeter struct{}

func (greeter) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	return map[string]string{"hello": c.Topic()}, nil
}

func (greeter) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	return channel.Ok(m.Payload), nil
}

// Mount a socket on an Endpoint and open a long-poll session on it, as the
// phoenix client's LongPoll transport does: the first GET creates the
// session and answers status 410 with its token.
func Example() {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		panic(err)
	}
	router := &channel.Router{}
	router.Handle("greet:*", func() channel.Channel { return greeter{} })
	if _, err := ep.Socket("/socket", channel.Config{Router: router}); err != nil {
		panic(err)
	}
	srv := httptest.NewServer(ep)
	defer func() {
		srv.Close()
		_ = ep.Shutdown(context.Background())
	}()

	resp, err := http.Get(srv.URL + "/socket/longpoll?vsn=2.0.0")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status int    `json:"status"`
		Token  string `json:"token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	fmt.Println(resp.StatusCode, body.Status, body.Token != "")
	// Output: 200 410 true
}
