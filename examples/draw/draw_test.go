package draw

import (
	"net/url"
	"strings"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/internal/apptest"
	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestStrokesAndBadInput: a stroke reaches the board and is kept for late
// joiners; absurd coordinates, bad colors and floods are refused with a
// reason and keep nothing.
func TestStrokesAndBadInput(t *testing.T) {
	ps, tracker := apptest.Tracker(t)
	b, err := New(Config{Tracker: tracker})
	if err != nil {
		t.Fatal(err)
	}
	r := &channel.Router{}
	b.Register(r)
	srv := apptest.Server(t, ps, r)
	ann := channeltest.Connect(t, srv, url.Values{"username": {"ann"}}).Join(t, "draw:b", nil).Ok(t)
	ann.Push(t, "stroke", map[string]any{"points": [][2]float64{{0, 0}, {1, 1}}, "color": "#ABCDEF"}).Ok(t)
	for _, bad := range []map[string]any{
		{"points": [][2]float64{{0, 0}, {1e9, 1}}, "color": "#000000"},
		{"points": [][2]float64{{0, 0}, {-0.1, 1}}, "color": "#000000"},
		{"points": [][2]float64{{0, 0}}, "color": "#000000"},
		{"points": [][2]float64{{0, 0}, {1, 1}}, "color": "javascript:"},
		{"points": "x"},
	} {
		if rep := ann.Push(t, "stroke", bad); rep.Status != "error" {
			t.Fatalf("%v accepted", bad)
		}
	}
	if rep := ann.Push(t, "cursor", map[string]any{"x": 0.5}); rep.Status != "error" {
		t.Fatal("a cursor without y accepted")
	}
	// A flood: pushed until refused (a one-second window allows
	// MaxStrokesPerSecond); only the accepted strokes are kept.
	accepted := 0
	for i := 0; ; i++ {
		rep := ann.Push(t, "stroke", map[string]any{"points": [][2]float64{{0, 0}, {1, 1}}, "color": "#000000"})
		if rep.Status == "error" {
			if !strings.Contains(string(rep.Response), "slow down") {
				t.Fatalf("flood reply %s", rep.Response)
			}
			break
		}
		accepted++
		if i > 1000 {
			t.Fatal("a flood was never refused")
		}
	}
	got := b.Strokes("draw:b")
	if got[0].Color != "#abcdef" || got[0].From != "ann" || len(got) != 1+accepted {
		t.Fatalf("kept %d strokes (accepted %d): %+v", len(got), accepted, got[0])
	}
	bob := channeltest.Connect(t, srv, url.Values{"username": {"bob"}}).Join(t, "draw:b", nil)
	if !strings.Contains(string(bob.Reply.Response), `"color":"#abcdef"`) {
		t.Fatalf("late joiner reply %s", bob.Reply.Response)
	}
}
