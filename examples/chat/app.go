// Package chat is the streams demo: chat rooms whose messages live in
// SQLite and reach the page as a LiveView stream (live/stream). A room
// opens at its newest messages and stays pinned to the bottom while new
// ones arrive, unless the reader has scrolled up: then "N new messages ↓"
// counts what arrived and jumps back to the present. Scrolling to the top
// (phx-viewport-top) loads older messages a page at a time and scrolling
// back down (phx-viewport-bottom) loads the newer ones again, both by
// message id, so the window slides both ways with no hole and no
// duplicate; stream limits keep at most [DOMLimit] messages in the page.
// The server keeps none of the messages it has sent, only the ids of the
// ones in the page.
//
// Identity: a small login form (/chat/login) sets a signed cookie; the
// room's live session reads it on the dead render and signs it into the
// session, so no visitor can post, edit or delete as someone else. Only a
// message's author can edit or delete it, checked by the store.
//
// Entry points: [New] opens the store, [App.Register] routes
// /chat/rooms/{id} on a live.Server, [App.Handler] serves the login form
// and the page's hook script, [App.Close] closes the store.
package chat

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/chat.js
var assetFS embed.FS

var roomTmpl = render.Must(render.New("room.html").ParseFS(templateFS, "templates/room.html"))

// PageSize is how many messages a mount shows and a scroll loads.
const PageSize = 10

// DOMLimit bounds the messages a page holds (3 pages, the upstream
// infinite-scroll pattern).
const DOMLimit = 3 * PageSize

// AssetsPrefix is the URL path of the chat's scripts.
const AssetsPrefix = "/assets/chat/"

// HookScript registers the ChatScroll hook; the room's layout loads it
// before the live client.
const HookScript = AssetsPrefix + "chat.js"

// Config configures the app.
type Config struct {
	// DataDir holds chat.db.
	DataDir string
	// PubSub carries new, edited and deleted messages to every viewer;
	// required.
	PubSub *pubsub.PubSub
	// Secret signs the login cookie: at least 32 bytes. Empty: a random
	// one (logins end with the process).
	Secret []byte
	Logger *slog.Logger
}

// App is the chat demo.
type App struct {
	cfg    Config
	store  *Store
	signer *live.Signer
	// userOf names the visitor of a dead render; the signed login cookie
	// by default (tests replace it).
	userOf func(r *http.Request) (user string, bad bool)
}

// New opens (and seeds, when new) the store.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.PubSub == nil {
		return nil, errors.New("chat: a PubSub is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = make([]byte, 32)
		_, _ = rand.Read(cfg.Secret)
	}
	signer, err := live.NewSigner(loginMaxAge, cfg.Secret)
	if err != nil {
		return nil, err
	}
	store, err := OpenStore(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, store: store, signer: signer}
	a.userOf = a.cookieUser
	return a, nil
}

// Store returns the app's store.
func (a *App) Store() *Store { return a.store }

// Close closes the store.
func (a *App) Close() error { return a.store.Close() }

// Register routes the chat pages on l, in the live session "chat": its
// Authorize signs the logged-in user into the session.
func (a *App) Register(l *live.Server) {
	g := l.Group("chat", live.GroupOptions{
		Authorize: func(r *http.Request) (map[string]any, error) {
			user, bad := a.userOf(r)
			return map[string]any{"user": user, "bad_login": bad}, nil
		},
		Layout: Layout,
	})
	g.Handle("/chat/rooms/{id}", func() live.View { return &roomView{app: a} })
}

// Layout is live.DefaultLayout with [HookScript] before the live client.
func Layout(w io.Writer, p *live.Page) error {
	q := *p
	q.Scripts = append([]string{HookScript}, p.Scripts...)
	return live.DefaultLayout(w, &q)
}

// Handler serves /chat/login, /chat/logout and the scripts under
// [AssetsPrefix].
func (a *App) Handler() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	files, err := live.StaticFiles(sub)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chat/login", a.loginForm)
	mux.HandleFunc("POST /chat/login", a.login)
	mux.HandleFunc("POST /chat/logout", a.logout)
	mux.Handle("GET "+AssetsPrefix, http.StripPrefix(AssetsPrefix, files))
	return mux
}

// Topic is the pubsub topic of a room's message changes.
func Topic(room int64) string { return "chat:room:" + itoa(room) }
