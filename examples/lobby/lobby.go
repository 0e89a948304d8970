// Package lobby is the broadcast chat demo: visitors pick a name and chat in
// rooms. Topic "lobby:<room>"; the socket's connect param "username" names
// the visitor. The client pushes "message" {body}; the server broadcasts
// "message" {body, from, at} to the room.
//
// Entry points: [Register] adds the channel to a router; [Page] serves the
// page at /lobby. The page's JavaScript uses the phoenix npm client, served
// by the Endpoint under /assets/phoenix/ (parley.Endpoint.ServeClientAssets).
package lobby

import (
	"embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/parley-go/parley/channel"
)

// MaxBody bounds a chat message, in bytes.
const MaxBody = 2000

// Channel is one visitor in one room.
type Channel struct {
	username string
}

// Register routes "lobby:*" to the lobby channel.
func Register(r *channel.Router) {
	r.Handle("lobby:*", func() channel.Channel { return &Channel{} })
}

// Join refuses visitors without a username.
func (ch *Channel) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	ch.username = strings.TrimSpace(c.Assign("username"))
	if ch.username == "" {
		return nil, channel.Refuse(map[string]string{"reason": "username required"})
	}
	return map[string]string{"room": strings.TrimPrefix(c.Topic(), "lobby:"), "username": ch.username}, nil
}

// HandleIn broadcasts messages to the room.
func (ch *Channel) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	if m.Event != "message" {
		return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
	}
	var in struct {
		Body string `json:"body"`
	}
	if err := m.Decode(&in); err != nil {
		return channel.ErrorReply(map[string]string{"reason": "bad payload"}), nil
	}
	body := strings.TrimSpace(in.Body)
	if body == "" || len(body) > MaxBody {
		return channel.ErrorReply(map[string]string{"reason": "body must be 1 to 2000 bytes"}), nil
	}
	out := map[string]string{"body": body, "from": ch.username, "at": time.Now().UTC().Format(time.RFC3339Nano)}
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
