package parley_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
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

// greeting is a LiveView with nothing but a greeting.
type greeting struct{}

func (greeting) Mount(*live.Socket, url.Values) error { return nil }
func (greeting) Render(*live.Socket) (*diff.Node, error) {
	return diff.NewNode([]string{"<p>hello</p>"}), nil
}

// Mount a LiveView at "/": Endpoint.Live serves the page, its socket at
// /live, and the client assets (Parley's embedded bootstrap, and the npm
// packages found in node_modules above the working directory). The secret
// key base comes from live.Config.SecretKeyBase or PARLEY_SECRET_KEY_BASE;
// a route conflict is an error that names both patterns.
func ExampleEndpoint_Live() {
	quiet := slog.New(slog.DiscardHandler)
	ep, err := parley.New(parley.Config{Logger: quiet})
	if err != nil {
		panic(err)
	}
	views, err := live.New(live.Config{Logger: quiet, SecretKeyBase: []string{live.GenerateSecretKeyBase()}})
	if err != nil {
		panic(err)
	}
	_ = views.Handle("/", func() live.View { return greeting{} })
	if err := ep.Live(views); err != nil {
		panic(err) // e.g. no node_modules: the error says what to install
	}
	fmt.Println(ep.Handle("GET /live/{x}", http.NotFoundHandler()))
	srv := httptest.NewServer(ep)
	defer func() {
		srv.Close()
		_ = ep.Shutdown(context.Background())
	}()
	for _, path := range []string{"/", "/assets/parley/live.js", "/assets/phoenix/phoenix.mjs", "/assets/phoenix/"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode)
	}
	// Output:
	// parley: route "GET /live/{x}": pattern "GET /live/{x}" conflicts with pattern "/live/websocket": GET /live/{x} matches fewer methods than /live/websocket, but has a more general path pattern
	// / 200
	// /assets/parley/live.js 200
	// /assets/phoenix/phoenix.mjs 200
	// /assets/phoenix/ 404
}
