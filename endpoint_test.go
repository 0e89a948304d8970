package parley_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

type lpBody struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

func lp(t *testing.T, method, u, body string) lpBody {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b lpBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b
}

// TestLongPollChannelRoundTrip drives a channel join, a push with reply
// and a broadcast through the Endpoint's long-poll transport.
func TestLongPollChannelRoundTrip(t *testing.T) {
	ep, err := parley.New(parley.Config{})
	if err != nil {
		t.Fatal(err)
	}
	router := &channel.Router{}
	router.Handle("greet:*", func() channel.Channel { return greeter{} })
	if _, err := ep.Socket("/socket", channel.Config{Router: router}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ep)
	defer func() {
		srv.Close()
		if err := ep.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	base := srv.URL + "/socket/longpoll?vsn=2.0.0"
	open := lp(t, "GET", base, "")
	if open.Status != 410 || open.Token == "" {
		t.Fatalf("open = %+v", open)
	}
	session := base + "&token=" + url.QueryEscape(open.Token)
	post := lp(t, "POST", session, `["1","1","greet:a","phx_join",{}]`+"\n"+`["1","2","greet:a","echo",{"x":1}]`+"\n")
	if post.Status != 200 {
		t.Fatalf("post = %+v", post)
	}
	// The POST answers once its messages are handed to the socket, not once
	// the join has run: a broadcast goes only to a joined channel, so wait
	// for the join's reply (as a client does) before broadcasting.
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 1 && time.Now().Before(deadline) {
		got = append(got, lp(t, "GET", session, "").Messages...)
	}
	if err := ep.Broadcast(context.Background(), "greet:a", "news", map[string]string{"h": "<b>&"}); err != nil {
		t.Fatal(err)
	}
	for len(got) < 3 && time.Now().Before(deadline) {
		got = append(got, lp(t, "GET", session, "").Messages...)
	}
	want := []string{
		`["1","1","greet:a","phx_reply",{"status":"ok","response":{"hello":"greet:a"}}]`,
		`["1","2","greet:a","phx_reply",{"status":"ok","response":{"x":1}}]`,
		`[null,null,"greet:a","news",{"h":"<b>&"}]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
