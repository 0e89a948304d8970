package party

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/internal/apptest"
	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/presence"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestTally(t *testing.T) {
	tests := []struct {
		votes  []int
		winner int
		tie    []int
	}{
		{[]int{3, 3, 5}, 3, nil},
		{[]int{8}, 8, nil},
		{[]int{2, 2}, 2, nil},
		{[]int{1, 2, 3}, 0, []int{1, 2, 3}},
		{[]int{3, 5, 8}, 0, []int{3, 5, 8}},
		{[]int{3, 3, 5, 8}, 3, nil},
		{[]int{5, 5, 3, 3}, 0, []int{3, 5}},
		{[]int{13, 8, 8, 5, 5}, 0, []int{5, 8}},
		{[]int{1, 1, 1, 2, 3}, 1, nil},
	}
	for _, tt := range tests {
		w, tie := Tally(tt.votes)
		if w != tt.winner || !reflect.DeepEqual(tie, tt.tie) {
			t.Errorf("Tally(%v) = %d, %v; want %d, %v", tt.votes, w, tie, tt.winner, tt.tie)
		}
	}
}

type fixture struct {
	srv     *channel.Server
	app     *App
	tracker *presence.Tracker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ps, tracker := apptest.Tracker(t)
	app, err := New(context.Background(), Config{DataDir: t.TempDir(), Tracker: tracker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() }) // before the Tracker's
	r := &channel.Router{}
	app.Register(r)
	srv := apptest.Server(t, ps, r)
	return &fixture{srv: srv, app: app, tracker: tracker}
}

func (f *fixture) join(t *testing.T, user string) *channeltest.Channel {
	t.Helper()
	c := channeltest.Connect(t, f.srv, url.Values{"username": {user}})
	ch := c.Join(t, "room:r", nil).Ok(t)
	ch.ExpectFrame(t, "presence_state")
	return ch
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func TestPointingFlow(t *testing.T) {
	f := newFixture(t)
	ana, bo, cy := f.join(t, "ana"), f.join(t, "bo"), f.join(t, "cy")
	ana.Push(t, "start_pointing", nil).Ok(t)
	for _, ch := range []*channeltest.Channel{ana, bo, cy} {
		nc := decode[struct {
			Card   Card
			Driver string
		}](t, ch.ExpectPush(t, "new_card"))
		if nc.Card.ID != 1 || nc.Driver != "ana" {
			t.Fatalf("new_card %+v", nc)
		}
	}
	// Three votes with a majority: winner.
	ana.Push(t, "user_estimated", map[string]int{"points": 3}).Ok(t)
	bo.Push(t, "user_estimated", map[string]int{"points": 3}).Ok(t)
	cy.RefuteFrame(t, "winner", 20*time.Millisecond)
	cy.Push(t, "user_estimated", map[string]int{"points": 5}).Ok(t)
	for _, ch := range []*channeltest.Channel{ana, bo, cy} {
		if got := string(ch.ExpectPush(t, "winner")); got != `{"points":3,"votes":{"ana":3,"bo":3,"cy":5}}` {
			t.Fatalf("winner %s", got)
		}
	}
	// Only the driver deals.
	if r := bo.Push(t, "next_card", map[string]int{"points": 3}); r.Status != "error" {
		t.Fatalf("non-driver next_card: %s %s", r.Status, r.Response)
	}
	ana.Push(t, "next_card", map[string]int{"points": 3}).Ok(t)
	for _, ch := range []*channeltest.Channel{ana, bo, cy} {
		if nc := decode[struct{ Card Card }](t, ch.ExpectPush(t, "new_card")); nc.Card.ID != 2 {
			t.Fatalf("second card %+v", nc)
		}
	}
	// new_card cleared everybody's points in presence.
	deadline := time.Now().Add(2 * time.Second)
	for {
		cleared := true
		for key, p := range f.tracker.List("room:r") {
			for _, m := range p.Metas {
				var v struct{ Points *int }
				_ = m.Decode(&v)
				if v.Points != nil {
					cleared = false
					if time.Now().After(deadline) {
						t.Fatalf("%s still has points %d after new_card", key, *v.Points)
					}
				}
			}
		}
		if cleared {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A split vote: a tie of every value, ascending.
	ana.Push(t, "user_estimated", map[string]int{"points": 8}).Ok(t)
	bo.Push(t, "user_estimated", map[string]int{"points": 2}).Ok(t)
	cy.Push(t, "user_estimated", map[string]int{"points": 5}).Ok(t)
	if got := string(ana.ExpectPush(t, "tie")); got != `{"points":[2,5,8],"votes":{"ana":8,"bo":2,"cy":5}}` {
		t.Fatalf("tie %s", got)
	}
	est, err := f.app.Estimates(context.Background(), "r")
	if err != nil || len(est) != 1 || est[0] != (Estimate{CardID: 1, Points: 3}) {
		t.Fatalf("saved estimates %v %v", est, err)
	}
	if r := ana.Push(t, "user_estimated", map[string]any{"points": "lots"}); r.Status != "error" {
		t.Fatalf("bad points accepted: %s", r.Response)
	}
}

func TestDeckRunsOut(t *testing.T) {
	f := newFixture(t)
	ana := f.join(t, "ana")
	ana.Push(t, "start_pointing", nil).Ok(t)
	ana.ExpectPush(t, "new_card")
	for i := 1; i < len(Deck()); i++ {
		ana.Push(t, "next_card", map[string]int{"points": i}).Ok(t)
		ana.ExpectPush(t, "new_card")
	}
	ana.Push(t, "next_card", map[string]int{"points": 1}).Ok(t)
	ana.ExpectPush(t, "cards_done")
	est, _ := f.app.Estimates(context.Background(), "r")
	if len(est) != len(Deck()) {
		t.Fatalf("%d estimates saved, want %d", len(est), len(Deck()))
	}
	// Restarting after the deck is done deals nothing.
	f.join(t, "bo")
	ana.Push(t, "start_pointing", nil).Ok(t)
	ana.ExpectPush(t, "cards_done")
}

func TestJoinWithoutUsernameRefused(t *testing.T) {
	f := newFixture(t)
	c := channeltest.Connect(t, f.srv, url.Values{})
	j := c.Join(t, "room:r", nil)
	if j.Reply.Status != "error" || string(j.Reply.Response) != `{"reason":"username required"}` {
		t.Fatalf("join %s %s", j.Reply.Status, j.Reply.Response)
	}
}

// TestVotesCarryTheirCard: a vote records the card it was cast on, so a
// vote left from the previous card never joins the tally of the next.
func TestVotesCarryTheirCard(t *testing.T) {
	f := newFixture(t)
	ana := f.join(t, "ana")
	ana.Push(t, "start_pointing", nil).Ok(t)
	ana.ExpectPush(t, "new_card")
	ana.Push(t, "user_estimated", map[string]int{"points": 5}).Ok(t)
	ana.ExpectPush(t, "winner")
	p, _ := f.tracker.Get("room:r", "ana")
	var v struct{ Points, Card int }
	if err := p.Metas[0].Decode(&v); err != nil || v.Points != 5 || v.Card != 1 {
		t.Fatalf("meta %s: %v", p.Metas[0], err)
	}
}

// TestLeaversDoNotBlock: a voter who leaves without voting no longer
// holds the round up; a driver who leaves hands the role on; the round
// closes once; votes for another card or after the close are refused.
func TestLeaversDoNotBlock(t *testing.T) {
	f := newFixture(t)
	ana, bo, cy := f.join(t, "ana"), f.join(t, "bo"), f.join(t, "cy")
	ana.Push(t, "start_pointing", nil).Ok(t)
	for _, ch := range []*channeltest.Channel{ana, bo, cy} {
		ch.ExpectPush(t, "new_card")
	}
	if r := bo.Push(t, "user_estimated", map[string]int{"points": 3, "card": 2}); r.Status != "error" || !strings.Contains(string(r.Response), "card 2 is not being estimated") {
		t.Fatalf("vote for another card: %s %s", r.Status, r.Response)
	}
	bo.Push(t, "user_estimated", map[string]int{"points": 3, "card": 1}).Ok(t)
	bo.Push(t, "user_estimated", map[string]int{"points": 5, "card": 1}).Ok(t) // changed
	// The driver leaves without voting: bo (first by name) drives.
	ana.Leave(t)
	for _, ch := range []*channeltest.Channel{bo, cy} {
		if got := string(ch.ExpectPush(t, "driver")); got != `{"driver":"bo"}` {
			t.Fatalf("driver %s", got)
		}
	}
	cy.RefuteFrame(t, "winner", 20*time.Millisecond)
	// cy leaves too: bo's vote is the round.
	cy.Leave(t)
	if got := string(bo.ExpectPush(t, "winner")); got != `{"points":5,"votes":{"bo":5}}` {
		t.Fatalf("winner %s", got)
	}
	if r := bo.Push(t, "user_estimated", map[string]int{"points": 8}); r.Status != "error" || !strings.Contains(string(r.Response), "round is closed") {
		t.Fatalf("vote after the close: %s %s", r.Status, r.Response)
	}
	bo.Push(t, "next_card", map[string]int{"points": 5}).Ok(t)
	if nc := decode[struct {
		Card   Card
		Driver string
	}](t, bo.ExpectPush(t, "new_card")); nc.Card.ID != 2 || nc.Driver != "bo" {
		t.Fatalf("new card %+v", nc)
	}
}
