package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/transport/longpoll"
	"github.com/parley-go/parley/wire"
)

// echo sends every frame back.
type echo struct{}

func (echo) Connect(_ context.Context, _ *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	return echoConn{c}, nil
}

type echoConn struct{ c transport.Conn }

func (e echoConn) Receive(f wire.Frame) error { return e.c.Send(f) }
func (echoConn) Closed()                      {}

// The long-poll exchange the phoenix client's LongPoll makes: a first GET
// opens a session (status 410 with its token), a POST carries frames, a
// GET collects what the server sent. The HTTP status is always 200; the
// real one is in the JSON body.
func Example() {
	s := longpoll.New(echo{}, longpoll.Options{Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
	}()
	type answer struct {
		Status   int      `json:"status"`
		Token    string   `json:"token"`
		Messages []string `json:"messages"`
	}
	call := func(method, token, body string) answer {
		u := hs.URL + "/socket/longpoll?vsn=2.0.0"
		if token != "" {
			u += "&token=" + url.QueryEscape(token)
		}
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var a answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return a
	}

	open := call("GET", "", "")
	fmt.Println(open.Status, open.Token != "")
	sent := call("POST", open.Token, `[null,"1","phoenix","heartbeat",{}]`)
	fmt.Println(sent.Status)
	got := call("GET", open.Token, "")
	fmt.Println(got.Status, got.Messages)
	// Output:
	// 410 true
	// 200
	// 200 [[null,"1","phoenix","heartbeat",{}]]
}
