// Package draw is a small shared whiteboard (seed 000's "collaborative
// drawing"): everyone on a board sees every participant's strokes and
// cursor live, a late joiner gets the drawing so far, and presence shows
// who is drawing.
//
// Wire protocol on topic "draw:<board>" (connect param "username"):
//   - join → reply {strokes}: the board's strokes so far (the newest
//     [MaxStrokes]), oldest first; then "presence_state"/"presence_diff"
//     (key: the username);
//   - client "stroke" {points: [[x, y], ...], color: "#rrggbb"} with 2 to
//     [MaxPoints] points whose coordinates are fractions of the board,
//     0 to 1 → reply ok, broadcast "stroke" {from, points, color};
//   - client "cursor" {x, y} → broadcast to the others "cursor" {from, x,
//     y} (not kept).
//
// Bad input (coordinates off the board or not numbers, too many points, a
// bad color) and floods (more than [MaxStrokesPerSecond] strokes or
// [MaxCursorsPerSecond] cursor moves a second from one channel) get an
// error reply with the reason; nothing is drawn or kept.
//
// Entry points: [New], [Board.Register], [Page] serves /draw.
package draw

import (
	"embed"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/presence"
)

// Limits of the whiteboard.
const (
	MaxStrokes          = 2000
	MaxPoints           = 500
	MaxStrokesPerSecond = 30
	MaxCursorsPerSecond = 60
	maxBoards           = 100
)

// Stroke is one line drawn on a board.
type Stroke struct {
	From   string       `json:"from"`
	Points [][2]float64 `json:"points"`
	Color  string       `json:"color"`
}

// Config configures the app.
type Config struct {
	// Tracker keeps who is on each board; required.
	Tracker *presence.Tracker
}

// Board keeps every board's strokes in memory.
type Board struct {
	tracker *presence.Tracker

	mu      sync.Mutex
	strokes map[string][]Stroke // by topic
}

// New returns the app.
func New(cfg Config) (*Board, error) {
	if cfg.Tracker == nil {
		return nil, errors.New("draw: a presence Tracker is required")
	}
	return &Board{tracker: cfg.Tracker, strokes: map[string][]Stroke{}}, nil
}

// Register routes "draw:*" to the whiteboard channel.
func (b *Board) Register(r *channel.Router) {
	r.Handle("draw:*", func() channel.Channel { return &participant{board: b} })
}

// Strokes returns the strokes of topic, oldest first.
func (b *Board) Strokes(topic string) []Stroke {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Stroke{}, b.strokes[topic]...)
}

func (b *Board) add(topic string, s Stroke) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list, ok := b.strokes[topic]
	if !ok && len(b.strokes) >= maxBoards {
		for k := range b.strokes {
			delete(b.strokes, k)
			break
		}
	}
	list = append(list, s)
	if len(list) > MaxStrokes {
		list = append([]Stroke(nil), list[len(list)-MaxStrokes:]...)
	}
	b.strokes[topic] = list
}

// limiter allows n events per second (a fixed one-second window).
type limiter struct {
	n     int
	start time.Time
	count int
}

func (l *limiter) allow(now time.Time) bool {
	if now.Sub(l.start) >= time.Second {
		l.start, l.count = now, 0
	}
	l.count++
	return l.count <= l.n
}

type participant struct {
	board   *Board
	user    string
	strokes limiter
	cursors limiter
}

type afterJoin struct{}

func (p *participant) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	p.user = strings.TrimSpace(c.Assign("username"))
	if p.user == "" || utf8.RuneCountInString(p.user) > 40 {
		return nil, channel.Refuse(map[string]string{"reason": "username required (at most 40 characters)"})
	}
	p.strokes.n, p.cursors.n = MaxStrokesPerSecond, MaxCursorsPerSecond
	if _, err := p.board.tracker.TrackChannel(c, p.user, map[string]any{}); err != nil {
		return nil, err
	}
	c.Send(afterJoin{})
	return map[string]any{"strokes": p.board.Strokes(c.Topic())}, nil
}

func (p *participant) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return p.board.tracker.PushState(c)
	}
	return nil
}

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func onBoard(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }

func bad(reason string) *channel.Reply {
	return channel.ErrorReply(map[string]string{"reason": reason})
}

func (p *participant) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	now := time.Now()
	switch m.Event {
	case "stroke":
		var in struct {
			Points [][2]float64 `json:"points"`
			Color  string       `json:"color"`
		}
		if err := m.Decode(&in); err != nil {
			return bad("a stroke is {points: [[x, y], ...], color: \"#rrggbb\"}"), nil
		}
		if len(in.Points) < 2 || len(in.Points) > MaxPoints {
			return bad("a stroke has 2 to 500 points"), nil
		}
		for _, pt := range in.Points {
			if !onBoard(pt[0]) || !onBoard(pt[1]) {
				return bad("coordinates are fractions of the board, 0 to 1"), nil
			}
		}
		if !colorRE.MatchString(in.Color) {
			return bad("color must be #rrggbb"), nil
		}
		if !p.strokes.allow(now) {
			return bad("too many strokes: slow down"), nil
		}
		s := Stroke{From: p.user, Points: in.Points, Color: strings.ToLower(in.Color)}
		p.board.add(c.Topic(), s)
		return channel.Ok(nil), c.Broadcast("stroke", s)
	case "cursor":
		var in struct {
			X, Y *float64
		}
		if err := m.Decode(&in); err != nil || in.X == nil || in.Y == nil || !onBoard(*in.X) || !onBoard(*in.Y) {
			return bad("a cursor is {x, y}, fractions of the board, 0 to 1"), nil
		}
		if !p.cursors.allow(now) {
			return bad("too many cursor moves: slow down"), nil
		}
		return channel.Ok(nil), c.BroadcastFrom("cursor", map[string]any{"from": p.user, "x": *in.X, "y": *in.Y})
	}
	return bad("unknown event " + m.Event), nil
}

//go:embed static
var static embed.FS

// Page serves the whiteboard at /draw.
func Page() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /draw", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/draw.html")
	})
	mux.HandleFunc("GET /draw/draw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/draw.js")
	})
	return mux
}
