// Package chat is the streams demo: chat rooms whose messages live in
// SQLite and reach the page as a LiveView stream (live/stream). The view
// streams the last 10 messages of a room; a new, edited or deleted message
// reaches every viewer of the room through pubsub and travels as that one
// item; scrolling to the top (phx-viewport-top) loads 10 older messages at
// a time, and stream limits keep at most [DOMLimit] messages in the page.
// The server keeps none of the messages it has sent.
//
// Entry points: [New] opens the store, [App.Register] routes
// /chat/rooms/{id} on a live.Server, [App.Close] closes the store.
package chat

import (
	"context"
	"embed"
	"errors"
	"log/slog"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

//go:embed templates/*.html
var templateFS embed.FS

var roomTmpl = render.Must(render.New("room.html").ParseFS(templateFS, "templates/room.html"))

// PageSize is how many messages a mount shows and a scroll-back loads.
const PageSize = 10

// DOMLimit bounds the messages a page holds (3 pages, the upstream
// infinite-scroll pattern).
const DOMLimit = 3 * PageSize

// Config configures the app.
type Config struct {
	// DataDir holds chat.db.
	DataDir string
	// PubSub carries new, edited and deleted messages to every viewer;
	// required.
	PubSub *pubsub.PubSub
	Logger *slog.Logger
}

// App is the chat demo.
type App struct {
	cfg   Config
	store *Store
}

// New opens (and seeds, when new) the store.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.PubSub == nil {
		return nil, errors.New("chat: a PubSub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	store, err := OpenStore(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, store: store}, nil
}

// Store returns the app's store.
func (a *App) Store() *Store { return a.store }

// Close closes the store.
func (a *App) Close() error { return a.store.Close() }

// Register routes the chat pages on l.
func (a *App) Register(l *live.Server) {
	l.Handle("/chat/rooms/{id}", func() live.View { return &roomView{app: a} })
}

// Topic is the pubsub topic of a room's message changes.
func Topic(room int64) string { return "chat:room:" + itoa(room) }
