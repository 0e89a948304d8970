package lobby

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/internal/apptest"
	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newServer(t *testing.T) (*channel.Server, *Lobby) {
	t.Helper()
	ps, tracker := apptest.Tracker(t)
	l, err := New(Config{Tracker: tracker})
	if err != nil {
		t.Fatal(err)
	}
	r := &channel.Router{}
	l.Register(r)
	return apptest.Server(t, ps, r), l
}

func join(t *testing.T, srv *channel.Server, user string) (*channeltest.Channel, json.RawMessage) {
	t.Helper()
	c := channeltest.Connect(t, srv, url.Values{"username": {user}})
	j := c.Join(t, "lobby:r", nil)
	ch := j.Ok(t)
	ch.ExpectFrame(t, "presence_state")
	return ch, j.Reply.Response
}

// TestHistoryPresenceAndRetries: a late joiner gets the last messages;
// members appear in presence; a message pushed again with the same id is
// answered ok and broadcast once; bad input is refused.
func TestHistoryPresenceAndRetries(t *testing.T) {
	srv, l := newServer(t)
	ann, _ := join(t, srv, "ann")
	for i := range HistorySize + 3 {
		ann.Push(t, "message", map[string]string{"body": fmt.Sprintf("m%d", i), "id": fmt.Sprintf("a%d", i)}).Ok(t)
	}
	// A retry of a delivered message: ok, not broadcast again.
	r := ann.Push(t, "message", map[string]string{"body": fmt.Sprintf("m%d", HistorySize+2), "id": fmt.Sprintf("a%d", HistorySize+2)})
	if r.Status != "ok" || !strings.Contains(string(r.Response), "duplicate") {
		t.Fatalf("retry: %s %s", r.Status, r.Response)
	}
	bob, reply := join(t, srv, "bob")
	var jr struct{ History []Message }
	if err := json.Unmarshal(reply, &jr); err != nil {
		t.Fatal(err)
	}
	if len(jr.History) != HistorySize || jr.History[0].Body != "m3" || jr.History[HistorySize-1].Body != fmt.Sprintf("m%d", HistorySize+2) {
		t.Fatalf("history %+v", jr.History)
	}
	if h := l.History("lobby:r"); len(h) != HistorySize {
		t.Fatalf("history kept %d", len(h))
	}
	ann.ExpectFrame(t, "presence_diff") // bob joined
	for _, bad := range []map[string]any{
		{"body": ""}, {"body": strings.Repeat("x", MaxBody+1)}, {"body": "hi", "id": strings.Repeat("i", 65)}, {"body": 3},
	} {
		if r := bob.Push(t, "message", bad); r.Status != "error" {
			t.Fatalf("%v accepted: %s", bad, r.Response)
		}
	}
	if h := l.History("lobby:r"); h[len(h)-1].From != "ann" {
		t.Fatalf("bad input recorded: %+v", h[len(h)-1])
	}
	// Retries are per sender: bob may use ann's id.
	bob.Push(t, "message", map[string]string{"body": "mine", "id": "a22"}).Ok(t)
	if h := l.History("lobby:r"); h[len(h)-1].From != "bob" {
		t.Fatal("bob's message with ann's id was dropped")
	}
}
