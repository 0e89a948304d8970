package live

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/pubsub"
)

// Config configures a Server. The zero value works: the secret key base
// from PARLEY_SECRET_KEY_BASE (or, without it, a random one and a
// warning), the default layout and assets.
type Config struct {
	// SecretKeyBase is the application's secret, like Phoenix's
	// secret_key_base: the signing key of every session, static, flash and
	// CSRF token is derived from it. Several rotate: the first signs, all
	// verify; put the new one first and drop the old once its tokens
	// expired (TokenMaxAge). Each at least 32 bytes; make one with
	// [GenerateSecretKeyBase] or `openssl rand -base64 48`. Cluster nodes
	// must share it, and it must survive restarts, or every open page
	// reloads itself after a restart (its tokens no longer verify).
	//
	// Default: [EnvSecretKeyBase] (PARLEY_SECRET_KEY_BASE, comma-separated
	// for rotation); without it, a random secret that dies with the
	// process, and a warning in the log.
	SecretKeyBase []string
	// TokenMaxAge bounds the age of session tokens; default 24 h.
	TokenMaxAge time.Duration
	// PubSub is what views subscribe on; set by Endpoint.Live by default.
	PubSub *pubsub.PubSub
	// Scripts are the module scripts of every page; the default loads
	// /assets/parley/live.js, which starts the phoenix_live_view client.
	Scripts []string
	// SocketPath is where the live socket is mounted; default "/live".
	SocketPath string
	// OnRender, if set, is told about every render of a connected view
	// (for metrics); it runs on the view's goroutine and must be quick.
	// Endpoint.Live sets it to feed the Endpoint's metrics.
	OnRender func(RenderInfo)
	// ErrorPage writes the page of a failed dead render: 404 when Mount
	// returned [ErrNotFound], 403 when Authorize refused, 500 for any
	// other error (logged with its cause). Default: a plain page that
	// names the status only.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int)
	Logger    *slog.Logger
}

// ErrNotFound, returned (or wrapped: fmt.Errorf("room %q: %w", id,
// live.ErrNotFound)) by a view's Mount or HandleParams, means the page's
// resource does not exist: the dead render answers 404 with
// Config.ErrorPage; a connected mount sends the browser to a fresh page
// load of the URL (which answers that 404). To send the browser
// elsewhere instead, call [Socket.Redirect] in Mount: the dead render
// answers 302, a connected mount a client redirect.
var ErrNotFound = errors.New("live: not found")

// RenderInfo describes one render of a connected view.
type RenderInfo struct {
	// View is the route pattern of the view ("/products/{sku}").
	View string
	// Duration is the time to render the view and compute the diff.
	Duration time.Duration
	// Bytes is the size of the diff sent (the full render on join).
	Bytes int
	// Join is true for the full render of a join.
	Join bool
	// Shared is true when the view took another view's render and diff
	// instead of rendering (see [SharedView]).
	Shared bool
}

// GroupOptions configures a live session: views that share a layout and
// authorization and may navigate between each other without a page load.
type GroupOptions struct {
	// Authorize runs on the dead render; its claims are signed into the
	// session token and returned by Socket.Session. An error answers 403.
	Authorize func(r *http.Request) (map[string]any, error)
	// Layout writes the page around the view; default a minimal page.
	Layout func(w io.Writer, p *Page) error
}

// Page is what a layout renders.
type Page struct {
	Title     string
	CSRFToken string
	// Content is the view container with the rendered view inside.
	Content template.HTML
	// Scripts are Config.Scripts: module scripts, in order.
	Scripts []string
	// Styles are the stylesheets; DefaultLayout's own (the connection
	// notice) by default.
	Styles []string
	// Icon is the favicon's URL; Parley's by default.
	Icon string
	// SocketPath is Config.SocketPath, for the bootstrap script (a
	// parley-socket meta tag).
	SocketPath string
}

// Group is a live session.
type Group struct {
	srv  *Server
	name string
	opts GroupOptions
}

// Server routes live views. Build it with [New].
type Server struct {
	cfg    Config
	signer *Signer
	log    *slog.Logger

	// mu guards routes, groups, err, components and cfg.PubSub.
	mu     sync.RWMutex
	routes []*route
	groups map[string]*Group
	// err is the first routing error, returned by Err.
	err error
	// components are the live component constructors by name.
	components map[string]func() Component
	// liveComponents counts the components of connected views.
	liveComponents atomic.Int64

	// lane shares renders between SharedViews (fastlane.go).
	lane fastlane
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	cfg.SecretKeyBase = slices.Clone(cfg.SecretKeyBase)
	keys, ephemeral, err := secretKeys(cfg.SecretKeyBase)
	if err != nil {
		return nil, err
	}
	if cfg.TokenMaxAge <= 0 {
		cfg.TokenMaxAge = 24 * time.Hour
	}
	if cfg.Scripts == nil {
		cfg.Scripts = []string{assetURL("live.js")}
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = "/live"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if ephemeral {
		cfg.Logger.Warn("live: no secret key base (Config.SecretKeyBase or " + EnvSecretKeyBase + "): using a random one; " +
			"open pages reload after every restart and cluster nodes refuse each other's pages")
	}
	signer, err := NewSigner(cfg.TokenMaxAge, keys...)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, signer: signer, log: cfg.Logger, groups: map[string]*Group{}}
	s.groups[""] = &Group{srv: s, name: "", opts: GroupOptions{}}
	return s, nil
}

// SetPubSub sets the PubSub if none was configured (Endpoint.Live does).
func (s *Server) SetPubSub(ps *pubsub.PubSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.PubSub == nil {
		s.cfg.PubSub = ps
	}
}

// SetRenderObserver sets Config.OnRender if none was configured
// (Endpoint.Live does).
func (s *Server) SetRenderObserver(f func(RenderInfo)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.OnRender == nil {
		s.cfg.OnRender = f
	}
}

func (s *Server) onRender() func(RenderInfo) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg.OnRender
}

// PubSub returns the PubSub views subscribe on, creating an in-process one
// if none was set.
func (s *Server) PubSub() *pubsub.PubSub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.PubSub == nil {
		ps, err := pubsub.New(pubsub.Config{Logger: s.log})
		if err == nil {
			s.cfg.PubSub = ps
		}
	}
	return s.cfg.PubSub
}

// SocketPath returns the path of the live socket.
func (s *Server) SocketPath() string { return s.cfg.SocketPath }

// Group returns the live session called name, creating it with opts.
func (s *Server) Group(name string, opts GroupOptions) *Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &Group{srv: s, name: name, opts: opts}
	s.groups[name] = g
	return g
}

// Handle routes pattern to views made by newView in the default group.
func (s *Server) Handle(pattern string, newView func() View) error {
	s.mu.RLock()
	g := s.groups[""]
	s.mu.RUnlock()
	return g.Handle(pattern, newView)
}

// Handle routes pattern ("/products/{sku}", "/" for the root) to views
// made by newView. A malformed pattern, or one that matches the same paths
// as a routed pattern, is an error naming both; the route is not added.
// The first such error is also kept for [Server.Err], which Endpoint.Live
// returns, so that callers may ignore Handle's result.
func (g *Group) Handle(pattern string, newView func() View) error {
	segs, err := parsePattern(pattern)
	if err == nil && newView == nil {
		err = fmt.Errorf("live: pattern %q: nil view constructor", pattern)
	}
	g.srv.mu.Lock()
	defer g.srv.mu.Unlock()
	if err == nil {
		for _, r := range g.srv.routes {
			if sameShape(r.segs, segs) {
				err = fmt.Errorf("live: pattern %q conflicts with pattern %q", pattern, r.pattern)
				break
			}
		}
	}
	if err != nil {
		if g.srv.err == nil {
			g.srv.err = err
		}
		return err
	}
	g.srv.routes = append(g.srv.routes, &route{pattern: pattern, segs: segs, group: g, new: newView})
	return nil
}

// Err returns the first error of Handle, or nil.
func (s *Server) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.err
}

// Patterns returns the route patterns, for mounting on an HTTP mux.
func (s *Server) Patterns() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.pattern
	}
	return out
}

func (s *Server) match(path string) (*route, url.Values) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.routes {
		if p, ok := r.match(path); ok {
			return r, p
		}
	}
	return nil, nil
}

// sessionClaims is what the session token carries.
type sessionClaims struct {
	ID      string         `json:"id"`
	View    string         `json:"view"`
	Group   string         `json:"group"`
	Session map[string]any `json:"session,omitempty"`
}

type staticClaims struct {
	ID    string            `json:"id"`
	Flash map[string]string `json:"flash,omitempty"`
}

const (
	purposeSession = "live-session"
	purposeStatic  = "live-static"
	purposeFlash   = "live-flash"
	purposeCSRF    = "live-csrf"
	csrfCookie     = "_parley_csrf"
	flashCookie    = "__phoenix_flash__"
)

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ServeHTTP performs the dead render of the view routed at r's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, pathParams := s.match(r.URL.Path)
	if rt == nil {
		http.NotFound(w, r)
		return
	}
	var claims map[string]any
	if auth := rt.group.opts.Authorize; auth != nil {
		c, err := auth(r)
		if err != nil {
			s.log.Info("live: dead render forbidden", "path", r.URL.Path, "err", err)
			s.errorPage(w, r, http.StatusForbidden)
			return
		}
		claims = c
	}
	csrf := s.csrfSecret(w, r)
	flash := s.takeFlashCookie(w, r)
	params := mergeParams(pathParams, r.URL.Query())
	uri := absoluteURL(r)
	sock := &Socket{
		id: "phx-" + randomID(12), srv: s, uri: uri, session: claims, ctx: r.Context(),
		assigns: map[string]any{"flash": flash}, changed: map[string]bool{}, flash: flash,
	}
	view := rt.new()
	if err := s.mountView(view, sock, params); err != nil {
		if errors.Is(err, ErrNotFound) {
			s.log.Debug("live: dead render not found", "path", r.URL.Path, "err", err)
			s.errorPage(w, r, http.StatusNotFound)
			return
		}
		s.log.Error("live: dead render mount failed", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError)
		return
	}
	if sock.nav.kind == navRedirect || sock.nav.kind == navNavigate || sock.nav.kind == navPatch {
		http.Redirect(w, r, sock.nav.to, http.StatusFound)
		return
	}
	tree, err := view.Render(sock)
	if err == nil {
		tree, err = sock.withComponents(tree)
	}
	if err != nil {
		s.log.Error("live: dead render failed", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError)
		return
	}
	inner, err := diff.HTML(tree)
	if err != nil {
		s.log.Error("live: dead render html failed", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError)
		return
	}
	session, err1 := s.signer.Sign(purposeSession, sessionClaims{ID: sock.id, View: rt.pattern, Group: rt.group.name, Session: claims})
	static, err2 := s.signer.Sign(purposeStatic, staticClaims{ID: sock.id, Flash: flash})
	csrfToken, err3 := s.signer.Sign(purposeCSRF, csrf)
	if err := errors.Join(err1, err2, err3); err != nil {
		s.log.Error("live: signing tokens failed", "path", r.URL.Path, "err", err)
		s.errorPage(w, r, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	b.WriteString(`<div id="`)
	b.WriteString(sock.id)
	b.WriteString(`" data-phx-main data-phx-session="`)
	b.WriteString(template.HTMLEscapeString(session))
	b.WriteString(`" data-phx-static="`)
	b.WriteString(template.HTMLEscapeString(static))
	b.WriteString(`">`)
	b.WriteString(inner)
	b.WriteString(`</div>`)
	page := &Page{CSRFToken: csrfToken, Content: template.HTML(b.String()), Scripts: s.cfg.Scripts,
		Styles: []string{assetURL("live.css")}, Icon: assetURL("favicon.svg"), SocketPath: s.cfg.SocketPath}
	if sock.title != nil {
		page.Title = *sock.title
	}
	layout := rt.group.opts.Layout
	if layout == nil {
		layout = DefaultLayout
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if err := layout(w, page); err != nil {
		s.log.Error("live: layout failed", "path", r.URL.Path, "err", err)
	}
}

// errorPage answers a failed dead render with status.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int) {
	if s.cfg.ErrorPage != nil {
		s.cfg.ErrorPage(w, r, status)
		return
	}
	DefaultErrorPage(w, r, status)
}

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Code}} {{.Text}}</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>{{.Text}}</h1><p>{{.About}}</p><p><a href="/">Home</a></p>
</body></html>
`))

// DefaultErrorPage is Config.ErrorPage's default: a plain HTML page with
// the status and nothing of the cause.
func DefaultErrorPage(w http.ResponseWriter, _ *http.Request, status int) {
	about := "Something went wrong on our side. Please try again."
	switch status {
	case http.StatusNotFound:
		about = "There is no such page."
	case http.StatusForbidden:
		about = "You may not see this page."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, map[string]any{"Code": status, "Text": http.StatusText(status), "About": about})
}

func (s *Server) mountView(v View, sock *Socket, params url.Values) error {
	if err := v.Mount(sock, params); err != nil {
		return fmt.Errorf("live: mount: %w", err)
	}
	if ph, ok := v.(ParamsHandler); ok && sock.nav.kind == navNone {
		if err := ph.HandleParams(sock, params, sock.uri); err != nil {
			return fmt.Errorf("live: handle params: %w", err)
		}
	}
	return nil
}

func mergeParams(path, query url.Values) url.Values {
	out := maps.Clone(query)
	if out == nil {
		out = url.Values{}
	}
	for k, v := range path {
		out[k] = v
	}
	return out
}

func absoluteURL(r *http.Request) *url.URL {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return &u
}

// csrfSecret returns the CSRF secret of the browser, setting its cookie on
// first visit.
func (s *Server) csrfSecret(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 22 {
		return c.Value
	}
	v := randomID(24)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return v
}

// takeFlashCookie reads and deletes the flash a redirect carried.
func (s *Server) takeFlashCookie(w http.ResponseWriter, r *http.Request) map[string]string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1})
	var flash map[string]string
	if err := s.signer.Verify(purposeFlash, c.Value, &flash); err != nil {
		return nil
	}
	return flash
}

// ErrCSRF is the cause logged when a live socket's CSRF token does not
// match the browser's CSRF cookie; the socket is accepted, and every join
// on it answers {"reason":"stale"}, on which the client reloads the page
// and so gets a fresh cookie and token.
var ErrCSRF = errors.New("live: invalid CSRF token")

// csrfErrorAssign is the socket assign where Connect leaves a CSRF failure
// for Join to answer.
const csrfErrorAssign = "_parley_csrf_error"

// Connect is the live socket's connect hook. It never refuses the socket
// (a refused WebSocket upgrade only makes the client retry forever): a
// _csrf_token param that is not the token of the browser's CSRF cookie is
// remembered, and every join on the socket then answers {"reason":"stale"}
// (the client reloads the page) with the cause logged once.
func (s *Server) Connect(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
	if err := s.checkCSRF(info.Params.Get("_csrf_token"), info.Header); err != nil {
		return map[string]any{csrfErrorAssign: err.Error()}, nil
	}
	return map[string]any{}, nil
}

// checkCSRF verifies a CSRF token against the cookie in header.
func (s *Server) checkCSRF(token string, header http.Header) error {
	if token == "" {
		return fmt.Errorf("%w: no _csrf_token param", ErrCSRF)
	}
	var secret string
	if err := s.signer.Verify(purposeCSRF, token, &secret); err != nil {
		return fmt.Errorf("%w: %w", ErrCSRF, err)
	}
	req := http.Request{Header: header}
	c, err := req.Cookie(csrfCookie)
	if err != nil {
		return fmt.Errorf("%w: no %s cookie", ErrCSRF, csrfCookie)
	}
	if c.Value != secret {
		return fmt.Errorf("%w: token of another %s cookie", ErrCSRF, csrfCookie)
	}
	return nil
}

// Register routes the "lv:*" topics of a socket's router to views.
func (s *Server) Register(r *channel.Router) {
	r.Handle("lv:*", func() channel.Channel { return &liveChannel{srv: s} })
}

var defaultLayout = template.Must(template.New("layout").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{.CSRFToken}}">
{{with .SocketPath}}<meta name="parley-socket" content="{{.}}">
{{end}}<title>{{.Title}}</title>
{{with .Icon}}<link rel="icon" href="{{.}}">
{{end}}{{range .Styles}}<link rel="stylesheet" href="{{.}}">
{{end}}{{range .Scripts}}<script type="module" src="{{.}}"></script>
{{end}}</head>
<body>
{{.Content}}
<div class="parley-reconnecting" role="status" aria-live="polite" hidden>Reconnecting…</div>
</body>
</html>
`))

// DefaultLayout is a minimal page: CSRF meta, title, icon, styles, the
// scripts, the view, and a "Reconnecting…" notice that shows while the view
// is not live (the client puts phx-error on the view container; Parley's
// live.css shows the notice that follows it). A layout of your own keeps
// the notice by writing the same element after Content and linking
// p.Styles.
func DefaultLayout(w io.Writer, p *Page) error {
	return defaultLayout.Execute(w, p)
}
