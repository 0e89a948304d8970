// Package lobby is the broadcast chat demo: visitors pick a name and chat in
// rooms. Topic "lobby:<room>"; the socket's connect param "username" names
// the visitor.
//
// Wire protocol:
//   - join → reply {room, username, history}: history is the room's last
//     [HistorySize] messages, oldest first, so a late joiner sees what was
//     just said; then "presence_state" and "presence_diff" (key: the
//     username) tell who is in the room, so pages list the members and
//     announce joins and leaves;
//   - client "message" {body, id?} → reply ok, and broadcast "message"
//     {body, from, at, id} to the room. id is the sender's own id for the
//     message: a push sent again with an id already in the room's history
//     (a retry after a lost reply, or after a reconnect) is answered ok
//     and not broadcast twice. Bad input gets an error reply.
//
// The page shows a message as "sending…" until its broadcast comes back,
// as "not sent" with a Retry button when the push times out (the server
// is away), and sends every unsent message again when the channel
// rejoins: nothing typed is lost silently.
//
// Entry points: [New] builds the app, [Lobby.Register] adds the channel to
// a router; [Page] serves the page at /lobby. The page's JavaScript uses
// the phoenix npm client, served by the Endpoint under /assets/phoenix/
// (parley.Endpoint.ServeClientAssets).
package lobby

import (
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/presence"
)

// MaxBody bounds a chat message, in bytes.
const MaxBody = 2000

// HistorySize is how many recent messages a room keeps for late joiners.
const HistorySize = 20

// maxRooms bounds the rooms with a history (room names come from users).
const maxRooms = 1000

// maxID bounds a message id, in bytes.
const maxID = 64

// Message is one chat message as the room sees it.
type Message struct {
	Body string `json:"body"`
	From string `json:"from"`
	At   string `json:"at"`
	ID   string `json:"id,omitempty"`
}

// Config configures the lobby.
type Config struct {
	// Tracker keeps who is in each room; required.
	Tracker *presence.Tracker
}

// Lobby is the lobby app: the rooms' recent history, in memory.
type Lobby struct {
	tracker *presence.Tracker

	mu      sync.Mutex
	history map[string][]Message // by topic, oldest first
}

// New returns a Lobby.
func New(cfg Config) (*Lobby, error) {
	if cfg.Tracker == nil {
		return nil, errors.New("lobby: a presence Tracker is required")
	}
	return &Lobby{tracker: cfg.Tracker, history: map[string][]Message{}}, nil
}

// Register routes "lobby:*" to the lobby channel.
func (l *Lobby) Register(r *channel.Router) {
	r.Handle("lobby:*", func() channel.Channel { return &Channel{lobby: l} })
}

// History returns the recent messages of topic, oldest first.
func (l *Lobby) History(topic string) []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Message(nil), l.history[topic]...)
}

// record adds m to the history of topic, unless a message of the same
// sender with the same id is there already (it reports false then).
func (l *Lobby) record(topic string, m Message) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.history[topic]
	if m.ID != "" {
		for _, old := range h {
			if old.ID == m.ID && old.From == m.From {
				return false
			}
		}
	}
	if !ok && len(l.history) >= maxRooms {
		for k := range l.history { // forget some room's history
			delete(l.history, k)
			break
		}
	}
	h = append(h, m)
	if len(h) > HistorySize {
		h = append([]Message(nil), h[len(h)-HistorySize:]...)
	}
	l.history[topic] = h
	return true
}

// Channel is one visitor in one room.
type Channel struct {
	lobby    *Lobby
	username string
}

type afterJoin struct{}

// Join refuses visitors without a username, tracks the visitor in the
// room's presence and replies with the room's history.
func (ch *Channel) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	ch.username = strings.TrimSpace(c.Assign("username"))
	if ch.username == "" {
		return nil, channel.Refuse(map[string]string{"reason": "username required"})
	}
	if utf8.RuneCountInString(ch.username) > 40 {
		return nil, channel.Refuse(map[string]string{"reason": "username must be at most 40 characters"})
	}
	if _, err := ch.lobby.tracker.TrackChannel(c, ch.username, map[string]any{"online_at": time.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	c.Send(afterJoin{}) // presence_state once subscribed
	return map[string]any{
		"room": strings.TrimPrefix(c.Topic(), "lobby:"), "username": ch.username,
		"history": ch.lobby.History(c.Topic()),
	}, nil
}

// HandleInfo pushes the presence state after the join.
func (ch *Channel) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return ch.lobby.tracker.PushState(c)
	}
	return nil
}

// HandleIn broadcasts messages to the room.
func (ch *Channel) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	if m.Event != "message" {
		return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
	}
	var in struct {
		Body string `json:"body"`
		ID   string `json:"id"`
	}
	if err := m.Decode(&in); err != nil {
		return channel.ErrorReply(map[string]string{"reason": "bad payload"}), nil
	}
	body := strings.TrimSpace(in.Body)
	if body == "" || len(body) > MaxBody {
		return channel.ErrorReply(map[string]string{"reason": "body must be 1 to 2000 bytes"}), nil
	}
	if len(in.ID) > maxID {
		return channel.ErrorReply(map[string]string{"reason": "id must be at most 64 bytes"}), nil
	}
	out := Message{Body: body, From: ch.username, At: time.Now().UTC().Format(time.RFC3339Nano), ID: in.ID}
	if !ch.lobby.record(c.Topic(), out) {
		return channel.Ok(map[string]bool{"duplicate": true}), nil // delivered before
	}
	if err := c.Broadcast("message", out); err != nil {
		return nil, err
	}
	return channel.Ok(nil), nil
}

//go:embed static
var static embed.FS

// Page serves the lobby page and its script.
func Page() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lobby", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/lobby.html")
	})
	mux.HandleFunc("GET /lobby/lobby.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/lobby.js")
	})
	return mux
}
