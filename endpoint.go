// Package parley is the root of the Parley real-time web framework: an
// [Endpoint] is one http.Handler that mounts Phoenix-compatible sockets
// (WebSocket and long-poll), any other handlers (pages, assets), and owns the
// shutdown of everything it started.
//
//	ep, _ := parley.New(parley.Config{})
//	router := &channel.Router{}
//	router.Handle("room:*", func() channel.Channel { return &Room{} })
//	ep.Socket("/socket", channel.Config{Router: router})
//	srv := &http.Server{Addr: ":4000", Handler: ep}
//	go srv.ListenAndServe()
//	...
//	srv.Shutdown(ctx) // stops accepting HTTP
//	ep.Shutdown(ctx)  // closes sockets with 1012 and waits for them
//
// LiveView pages mount with [Endpoint.Live]; metrics are served by
// [Endpoint.MetricsHandler] when you mount it.
//
// Set-up of a LiveView application, in short (README: "Your first
// LiveView"):
//
//   - Client assets: Endpoint.Live serves what the pages load (see
//     [Endpoint.ServeClientAssets]): Parley's embedded bootstrap at
//     /assets/parley/, and the browser builds of the phoenix and
//     phoenix_live_view npm packages at /assets/phoenix/ and
//     /assets/phoenix_live_view/, from Config.NodeModules or the first
//     node_modules above the working directory (`npm install
//     phoenix@1.8 phoenix_live_view@1.2`; Live's error names the fix when
//     they are missing). Apps that bundle their own JS set
//     Config.BundledClient and live.Config.Scripts.
//   - Secret: every LiveView token is signed with a key derived from one
//     secret key base, live.Config.SecretKeyBase or the environment
//     variable PARLEY_SECRET_KEY_BASE (rotation: several, the first
//     signs). Give every node of a cluster the same one and keep it across
//     restarts; otherwise open pages reload themselves.
//   - Routes: conflicting or malformed patterns (a live view at
//     "/live/{x}" over the live socket, two views of one shape, a handler
//     and a view on one path) are errors from Live, Socket and Handle,
//     naming both patterns; a view may sit at "/".
//   - Shutdown: [Endpoint.Shutdown] logs "shutting down" with the open
//     connection count and what it drained.
//
// The layers below are packages of their own: wire (frames), transport
// (WebSocket, long-poll), channel (sockets, channels, routing), pubsub
// (fan-out; NATS and Redis adapters), presence (who is here, replicated),
// live (LiveView), metrics (Prometheus text format).
package parley

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/transport/longpoll"
	"github.com/parley-go/parley/transport/websocket"
	"github.com/parley-go/parley/wire"
)

// Config configures an Endpoint. The zero value works: an in-process PubSub,
// same-origin check, the transports' default limits.
type Config struct {
	// PubSub is shared by every socket; default a new in-process one,
	// closed by Shutdown.
	PubSub *pubsub.PubSub
	// CheckOrigin decides which Origins may open sockets; default
	// transport.SameOrigin.
	CheckOrigin transport.OriginChecker
	// WebSocket and LongPoll tune the transports. Their CheckOrigin and
	// Logger default to the Endpoint's.
	WebSocket websocket.Options
	LongPoll  longpoll.Options
	// DisableLongPoll mounts the WebSocket transport only.
	DisableLongPoll bool
	// MaxConnsPerAddr bounds the open connections (WebSockets and
	// long-poll sessions together) of one remote IP address; over it a
	// WebSocket upgrade or long-poll open gets HTTP 429. Default 0: no
	// limit, because behind a reverse proxy or a NAT many clients share
	// one address; set it when clients connect directly.
	MaxConnsPerAddr int
	// JoinsPerSecond, JoinBurst, EventsPerSecond and EventBurst are the
	// per-connection rate limits of every Socket whose channel.Config
	// leaves them zero; see channel.Config for the defaults.
	JoinsPerSecond  float64
	JoinBurst       int
	EventsPerSecond float64
	EventBurst      int
	// Metrics receives the metrics of every layer; default a new
	// registry. Serve it with [Endpoint.MetricsHandler].
	Metrics *metrics.Registry
	// NodeModules is the npm node_modules directory whose phoenix and
	// phoenix_live_view packages' browser builds the Endpoint serves (see
	// [Endpoint.ServeClientAssets]). Default: the first node_modules
	// holding both, in the working directory or above it.
	NodeModules string
	// BundledClient says the application serves its own JS bundle (its
	// own entry point importing "phoenix" and "phoenix_live_view", built
	// with esbuild or another bundler; README: "Bundling your own JS"):
	// the Endpoint then serves only its embedded /assets/parley/ files
	// and needs no node_modules at run time. Set live.Config.Scripts to
	// the bundle's URL.
	BundledClient bool
	Logger        *slog.Logger
}

// Endpoint is an http.Handler serving sockets and other routes. Build it
// with [New].
type Endpoint struct {
	cfg      Config
	ps       *pubsub.PubSub
	ownsPS   bool
	mux      *http.ServeMux
	shutdown []func(context.Context) error
	// broadcasts counts Endpoint.Broadcast.
	broadcasts *metrics.Counter

	assetsOnce sync.Once
	assetsErr  error

	// mu guards servers.
	mu      sync.Mutex
	servers []*channel.Server
}

// New returns an Endpoint.
func New(cfg Config) (*Endpoint, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckOrigin == nil {
		cfg.CheckOrigin = transport.SameOrigin
	}
	if cfg.WebSocket.CheckOrigin == nil {
		cfg.WebSocket.CheckOrigin = cfg.CheckOrigin
	}
	if cfg.LongPoll.CheckOrigin == nil {
		cfg.LongPoll.CheckOrigin = cfg.CheckOrigin
	}
	if cfg.WebSocket.Logger == nil {
		cfg.WebSocket.Logger = cfg.Logger
	}
	if cfg.LongPoll.Logger == nil {
		cfg.LongPoll.Logger = cfg.Logger
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry()
	}
	if cfg.WebSocket.Metrics == nil {
		cfg.WebSocket.Metrics = cfg.Metrics
	}
	if cfg.LongPoll.Metrics == nil {
		cfg.LongPoll.Metrics = cfg.Metrics
	}
	if limiter := transport.NewConnLimiter(cfg.MaxConnsPerAddr); limiter != nil {
		if cfg.WebSocket.ConnLimiter == nil {
			cfg.WebSocket.ConnLimiter = limiter
		}
		if cfg.LongPoll.ConnLimiter == nil {
			cfg.LongPoll.ConnLimiter = limiter
		}
	}
	e := &Endpoint{cfg: cfg, ps: cfg.PubSub, mux: http.NewServeMux(),
		broadcasts: cfg.Metrics.Counter("parley_broadcasts_total", "Broadcasts published through a channel Context or the Endpoint.").With()}
	if e.ps == nil {
		ps, err := pubsub.New(pubsub.Config{Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("parley: %w", err)
		}
		e.ps, e.ownsPS = ps, true
	}
	return e, nil
}

// PubSub returns the Endpoint's PubSub.
func (e *Endpoint) PubSub() *pubsub.PubSub { return e.ps }

// Metrics returns the Endpoint's metrics registry, where applications may
// declare their own metrics too.
func (e *Endpoint) Metrics() *metrics.Registry { return e.cfg.Metrics }

// MetricsHandler serves the metrics in the Prometheus text exposition
// format. Nothing is exposed unless it is mounted, e.g.
// ep.Handle("GET /metrics", ep.MetricsHandler()); keep it off public
// listeners or behind authentication.
func (e *Endpoint) MetricsHandler() http.Handler { return e.cfg.Metrics.Handler() }

// Socket mounts a Phoenix socket at path: the WebSocket transport at
// path+"/websocket" and the long-poll transport at path+"/longpoll". The
// channel.Config's PubSub and Logger default to the Endpoint's.
func (e *Endpoint) Socket(path string, cfg channel.Config) (*channel.Server, error) {
	if cfg.PubSub == nil {
		cfg.PubSub = e.ps
	}
	if cfg.Logger == nil {
		cfg.Logger = e.cfg.Logger
	}
	if cfg.Metrics == nil {
		cfg.Metrics = e.cfg.Metrics
	}
	if cfg.JoinsPerSecond == 0 {
		cfg.JoinsPerSecond = e.cfg.JoinsPerSecond
	}
	if cfg.JoinBurst == 0 {
		cfg.JoinBurst = e.cfg.JoinBurst
	}
	if cfg.EventsPerSecond == 0 {
		cfg.EventsPerSecond = e.cfg.EventsPerSecond
	}
	if cfg.EventBurst == 0 {
		cfg.EventBurst = e.cfg.EventBurst
	}
	srv, err := channel.NewServer(cfg)
	if err != nil {
		return nil, fmt.Errorf("parley: socket %s: %w", path, err)
	}
	path = strings.TrimSuffix(path, "/")
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "{} \t") {
		return nil, fmt.Errorf("parley: socket path %q: must start with / and hold no pattern", path)
	}
	h := socketHandler{srv: srv}
	ws := websocket.New(h, e.cfg.WebSocket)
	if err := e.Handle(path+"/websocket", ws); err != nil {
		return nil, err
	}
	e.shutdown = append(e.shutdown, ws.Shutdown)
	if !e.cfg.DisableLongPoll {
		lp := longpoll.New(h, e.cfg.LongPoll)
		if err := e.Handle(path+"/longpoll", lp); err != nil {
			return nil, err
		}
		e.shutdown = append(e.shutdown, lp.Shutdown)
	}
	e.mu.Lock()
	e.servers = append(e.servers, srv)
	e.mu.Unlock()
	return srv, nil
}

// Live mounts a LiveView server: a GET route for the dead render of each of
// its patterns (a view may sit at "/"), its socket (default "/live"), and
// the client assets ([Endpoint.ServeClientAssets]). Register the views'
// routes before calling Live. A malformed or conflicting route, or
// missing client packages, is a returned error naming the patterns or the
// fix; nothing panics.
func (e *Endpoint) Live(l *live.Server) error {
	if err := l.Err(); err != nil {
		return fmt.Errorf("parley: %w", err)
	}
	if err := e.ServeClientAssets(); err != nil {
		return err
	}
	l.SetPubSub(e.ps)
	l.SetRenderObserver(renderObserver(e.cfg.Metrics))
	router := &channel.Router{}
	l.Register(router)
	if _, err := e.Socket(l.SocketPath(), channel.Config{Router: router, Connect: l.Connect}); err != nil {
		return err
	}
	for _, p := range l.Patterns() {
		if err := e.Handle("GET "+muxPattern(p), l); err != nil {
			return err
		}
	}
	return nil
}

// muxPattern turns a live route pattern into the ServeMux pattern that
// matches exactly its paths: "/" becomes "/{$}" (not every path), and a
// trailing slash is dropped (live routes ignore it).
func muxPattern(p string) string {
	if p == "/" {
		return "/{$}"
	}
	if t := strings.TrimRight(p, "/"); t != "" {
		return t
	}
	return p
}

// Handle registers h for pattern, as http.ServeMux does, but returns what
// ServeMux panics on: a malformed pattern, or one that conflicts with a
// registered pattern (the error names both).
func (e *Endpoint) Handle(pattern string, h http.Handler) (err error) {
	if h == nil {
		return fmt.Errorf("parley: route %q: nil handler", pattern)
	}
	defer func() {
		if r := recover(); r != nil {
			// ServeMux's message names both patterns; the places it
			// gives are this line, so they go.
			msg := reRegisteredAt.ReplaceAllString(fmt.Sprint(r), "")
			err = fmt.Errorf("parley: route %q: %s", pattern, strings.ReplaceAll(strings.TrimSpace(msg), ":\n", ": "))
		}
	}()
	e.mux.Handle(pattern, h)
	return nil
}

var reRegisteredAt = regexp.MustCompile(` \(registered at [^)]*\)`)

// HandleFunc registers f for pattern, as [Endpoint.Handle] does.
func (e *Endpoint) HandleFunc(pattern string, f http.HandlerFunc) error {
	if f == nil {
		return fmt.Errorf("parley: route %q: nil handler", pattern)
	}
	return e.Handle(pattern, f)
}

// ServeHTTP dispatches to the sockets and the registered handlers.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// Broadcast sends event to every subscriber of topic on every node.
func (e *Endpoint) Broadcast(ctx context.Context, topic, event string, payload any) error {
	e.broadcasts.Inc()
	e.mu.Lock()
	servers := slices.Clone(e.servers)
	e.mu.Unlock()
	for _, s := range servers {
		if s.HasHistory(topic) {
			// Numbered and recorded for missed-message recovery.
			return s.Broadcast(ctx, topic, event, payload)
		}
	}
	return channel.Broadcast(ctx, e.ps, topic, event, payload)
}

// Shutdown closes every socket (WebSockets with code 1012, in batches) and
// waits for their goroutines, or for ctx. Call it after http.Server's
// Shutdown, which does not close hijacked connections.
//
// It logs "parley: shutting down" with the open connection count, and
// when done "parley: shut down" with the count drained and any left.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	start := time.Now()
	open := e.openSockets()
	e.cfg.Logger.Info("parley: shutting down", "connections", open)
	defer func() {
		left := e.openSockets()
		e.cfg.Logger.Info("parley: shut down", "drained", open-left, "left", left, "took", time.Since(start).Round(time.Millisecond))
	}()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, f := range e.shutdown {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if e.ownsPS {
		if err := e.ps.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("parley: shutdown: %w", err)
	}
	return nil
}

// openSockets counts the open connections of every socket.
func (e *Endpoint) openSockets() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, s := range e.servers {
		n += s.Sockets()
	}
	return n
}

// socketHandler adapts a channel.Server to the transports.
type socketHandler struct{ srv *channel.Server }

func (h socketHandler) Connect(ctx context.Context, info *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	sock, err := h.srv.Connect(ctx, &channel.ConnectInfo{
		Params: info.Params, AuthToken: info.AuthToken, Header: info.Header,
		RemoteAddr: info.RemoteAddr, Transport: info.Transport,
	}, c)
	if err != nil {
		return nil, err
	}
	return receiver{sock}, nil
}

type receiver struct{ sock *channel.Socket }

func (r receiver) Receive(f wire.Frame) error {
	if err := r.sock.Receive(f.Data, f.Binary); err != nil {
		reason := "bad frame"
		switch {
		case errors.Is(err, channel.ErrRateLimited):
			reason = "rate limited"
		case errors.Is(err, channel.ErrFlood):
			reason = "flood"
		}
		return &transport.CloseError{Code: channel.CloseCode(err), Reason: reason}
	}
	return nil
}

func (r receiver) Closed() { r.sock.Closed() }

// DefaultShutdownTimeout is a reasonable bound for Shutdown.
const DefaultShutdownTimeout = 30 * time.Second
