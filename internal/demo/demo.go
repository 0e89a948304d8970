// Package demo assembles the demo server: every example app on one
// Endpoint, with embedded defaults (in-process PubSub, SQLite files under a
// data directory). cmd/parley-demo runs it; the end-to-end test server adds
// test channels to the same router.
//
// Cluster mode: with Config.NATS or Config.Redis set, the PubSub (and so
// every broadcast and the presence gossip) spans every node connected to
// that engine; Config.Node names this node. [Listen] with reusePort lets
// several nodes on one machine share one listening address.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/examples/blog"
	"github.com/parley-go/parley/examples/chat"
	"github.com/parley-go/parley/examples/commerce"
	"github.com/parley-go/parley/examples/counter"
	"github.com/parley-go/parley/examples/draw"
	"github.com/parley-go/parley/examples/lobby"
	"github.com/parley-go/parley/examples/party"
	"github.com/parley-go/parley/examples/social"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
	"github.com/parley-go/parley/pubsub/redispubsub"
	"github.com/parley-go/parley/transport/websocket"
)

// Config configures the demo.
type Config struct {
	// DataDir holds the apps' SQLite files; created if missing.
	DataDir string
	// NodeModules is the npm node_modules directory that holds the phoenix
	// client; default: found by walking up from the working directory.
	NodeModules string
	// Routes, if set, adds channels to the socket's router (tests).
	Routes func(r *channel.Router)
	// Connect, if set, replaces the socket's connect hook (tests).
	Connect func(ctx context.Context, info *channel.ConnectInfo) (map[string]any, error)
	// ID, if set, replaces the socket id function (tests).
	ID func(assigns map[string]any) string
	// Live, if set, routes more views on the live server (tests).
	Live func(l *live.Server)
	// SecretKeyBase, if set, is the secret of every signed token
	// (live.Config.SecretKeyBase). Otherwise SecretFile, if set, names a
	// file holding it (one secret a line, the first signs: rotation); else
	// PARLEY_SECRET_KEY_BASE; else the demo generates one on first start
	// and keeps it in DataDir/secret_key_base, so a restart keeps open
	// pages alive. Cluster nodes must share one: give them the same
	// SecretFile or environment.
	SecretKeyBase []string
	SecretFile    string
	// HoldTTL is the commerce cart reservation time; default 2 minutes.
	HoldTTL time.Duration
	Logger  *slog.Logger

	// NATS, if set, is a NATS URL (nats://host:port): the PubSub spans
	// every node on that NATS. Redis, if set instead, is a Redis URL
	// (redis://host:port/db). With neither, the demo is in-process.
	NATS, Redis string
	// Namespace separates this application's traffic on a shared engine;
	// default "parley-demo".
	Namespace string
	// Node names this node in a cluster; it must be unique. Default
	// "<hostname>-<pid>".
	Node string
	// PresenceBroadcast and PresenceDown set the presence tracker's gossip
	// period and down period (presence.Config); zero keeps its defaults.
	PresenceBroadcast, PresenceDown time.Duration
}

// clusterPubSub returns the PubSub over cfg's engine, or nil without one.
func clusterPubSub(cfg *Config) (*pubsub.PubSub, error) {
	if cfg.NATS == "" && cfg.Redis == "" {
		return nil, nil
	}
	if cfg.NATS != "" && cfg.Redis != "" {
		return nil, errors.New("demo: choose NATS or Redis, not both")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "parley-demo"
	}
	if cfg.Node == "" {
		host, _ := os.Hostname()
		cfg.Node = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	var adapter pubsub.Adapter
	engine := "nats " + cfg.NATS
	if cfg.NATS != "" {
		adapter = natspubsub.New(natspubsub.Config{URL: cfg.NATS, Namespace: cfg.Namespace, Logger: cfg.Logger})
	} else {
		engine = "redis " + cfg.Redis
		adapter = redispubsub.New(redispubsub.Config{URL: cfg.Redis, Namespace: cfg.Namespace, Logger: cfg.Logger})
	}
	ps, err := pubsub.New(pubsub.Config{Node: cfg.Node, Adapter: adapter, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo: cluster pubsub: %w", err)
	}
	cfg.Logger.Info("demo: cluster mode", "node", cfg.Node, "engine", engine, "namespace", cfg.Namespace)
	return ps, nil
}

// Demo is the assembled demo: the Endpoint and the apps behind it.
type Demo struct {
	Endpoint *parley.Endpoint
	closers  []func() error
	log      *slog.Logger
}

// Close stops the apps (after the Endpoint has shut down).
func (d *Demo) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	return errors.Join(errs...)
}

// App is one entry of the index page.
type App struct {
	Path, Name, About string
	// Talk names the talk the app acts out (the project's seeds).
	Talk string
	// Second, if set, opens the same app as a second user.
	Second string
}

// Apps lists the demo apps.
var apps = []App{
	{"/lobby", "Lobby", "A broadcast chat: who is in the room, joins and leaves announced, the last messages for late joiners, and nothing you type is lost while the server is away.",
		"“Realtime Web” (Tyr Chen, 2017)", ""},
	{"/party", "Pointing Party", "Ticket estimation with live presence: who is here and who voted, the driver deals cards, every vote revealed when the round ends.",
		"“Harnessing the Real-Time Web With Phoenix Channels & Presence” (Sophie DeBenedetto, Michael Stalker)", ""},
	{"/chat/rooms/1", "Chat", "LiveView streams: log in, rooms that open at the newest message, messages sent once and forgotten by the server, edit and delete your own, scroll back and forth through the history.",
		"“LiveView Handles the Hard Parts: Optimizing WebSocket Communication with LiveView Streams” (Sophie DeBenedetto, GOTO Copenhagen 2023)", ""},
	{"/social", "Social feed", "A firehose of posts at a rate everyone shares: the naive feed, and a better one that pauses, resumes when posts slow down, and filters by relevance.",
		"“Designing Real-time Web Apps” (Tim Mecklem)", ""},
	{"/commerce", "Commerce, side by side", "Two shoppers after the last raincoat and the stock room's widget: live stock, reservations with a countdown, the reason a button is disabled.",
		"“Designing Real-time Web Apps” (Tim Mecklem)", ""},
	{"/commerce/better_products/rare-raincoat?user_id=110&user_name=Parker", "Commerce, better", "One shopper's page (Parker); open the second shopper in another window.",
		"“Designing Real-time Web Apps” (Tim Mecklem)", "/commerce/better_products/rare-raincoat?user_id=120&user_name=Andrew"},
	{"/commerce/products/scarce-scarf?user_id=11&user_name=Tim", "Commerce, naive", "Scarce stock the old way: the bad news comes at checkout.",
		"“Designing Real-time Web Apps” (Tim Mecklem)", "/commerce/products/scarce-scarf?user_id=12&user_name=Katie"},
	{"/commerce/inventory/rare-raincoat", "Inventory", "The live stock widget with a restock form; `parley-demo restock rare-raincoat 1` does the same from a shell.",
		"“Designing Real-time Web Apps” (Tim Mecklem)", ""},
	{"/blog", "Blog", "Reading ghosts: every reader of a post is a colored tag at the left edge that follows their scrolling (a JS hook and presence).",
		"“Realtime Updates with LiveView” (a blog post)", ""},
	{"/draw", "Whiteboard", "Collaborative drawing: every participant's strokes and cursor live, the drawing so far for late joiners, who is drawing.",
		"“Designing Real-time Web Apps” (Tim Mecklem): the “But wait, there's more” list", ""},
	{"/counter", "Counter", "The smallest LiveView: clicks and server ticks, only diffs on the wire.", "", ""},
}

// New builds the demo.
func New(cfg Config) (*Demo, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("demo: data dir: %w", err)
		}
	}
	secrets, err := resolveSecret(&cfg)
	if err != nil {
		return nil, err
	}
	ps, err := clusterPubSub(&cfg)
	if err != nil {
		return nil, err
	}
	// The demo negotiates permessage-deflate, which browsers offer on
	// every connection: broadcasts are compressed once for all subscribers.
	ep, err := parley.New(parley.Config{Logger: cfg.Logger, PubSub: ps, NodeModules: cfg.NodeModules,
		WebSocket: websocket.Options{Compression: true}})
	if err != nil {
		if ps != nil {
			_ = ps.Close()
		}
		return nil, err
	}
	d := &Demo{Endpoint: ep, log: cfg.Logger}
	if ps != nil {
		// Closers run last to first: the cluster PubSub goes last.
		d.closers = append(d.closers, ps.Close)
	}
	pcfg := presence.Config{PubSub: ep.PubSub(), Logger: cfg.Logger, BroadcastPeriod: cfg.PresenceBroadcast, DownPeriod: cfg.PresenceDown}
	if pcfg.BroadcastPeriod > 0 && pcfg.DownPeriod > 0 {
		// Keep-alives often enough for the down period asked for.
		pcfg.MaxSilentPeriods = max(1, int(pcfg.DownPeriod/pcfg.BroadcastPeriod)/3)
	}
	tracker, err := presence.New(pcfg)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.closers = append(d.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return tracker.Close(ctx)
	})
	pointing, err := party.New(context.Background(), party.Config{DataDir: cfg.DataDir, Tracker: tracker, Logger: cfg.Logger})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.closers = append(d.closers, pointing.Close)
	router := &channel.Router{}
	router.Handle(NodeTopic, func() channel.Channel { return nodeInfo{node: ep.PubSub().Node()} })
	chatter, err := lobby.New(lobby.Config{Tracker: tracker})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	chatter.Register(router)
	whiteboard, err := draw.New(draw.Config{Tracker: tracker})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	whiteboard.Register(router)
	pointing.Register(router)
	if cfg.Routes != nil {
		cfg.Routes(router)
	}
	connect := cfg.Connect
	if connect == nil {
		connect = Connect
	}
	if _, err := ep.Socket("/socket", channel.Config{Router: router, Connect: connect, ID: cfg.ID}); err != nil {
		_ = d.Close()
		return nil, err
	}
	if err := ep.ServeClientAssets(); err != nil {
		_ = d.Close()
		return nil, err
	}

	lv, err := live.New(live.Config{Logger: cfg.Logger, SecretKeyBase: secrets})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	counter.Register(lv)
	if cfg.Live != nil {
		cfg.Live(lv)
	}
	shop, err := commerce.New(context.Background(), commerce.Config{
		DataDir: cfg.DataDir, HoldTTL: cfg.HoldTTL, PubSub: ep.PubSub(), Logger: cfg.Logger,
	})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.closers = append(d.closers, shop.Close)
	shop.Register(lv)
	ep.Handle("GET /commerce", shop.Page())
	ep.Handle(commerce.RestockPath, shop.RestockHandler())
	talk, err := chat.New(context.Background(), chat.Config{DataDir: cfg.DataDir, PubSub: ep.PubSub(), Logger: cfg.Logger,
		Secret: appKey(secrets, "chat login")})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.closers = append(d.closers, talk.Close)
	talk.Register(lv)
	chatHTTP := talk.Handler()
	ep.Handle("/chat/login", chatHTTP)
	ep.Handle("/chat/logout", chatHTTP)
	ep.Handle("GET "+chat.AssetsPrefix, chatHTTP)
	feed, err := social.New(social.Config{PubSub: ep.PubSub(), Logger: cfg.Logger})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.closers = append(d.closers, feed.Close)
	feed.Register(lv)
	ep.Handle("GET /social", feed.Page())
	reading, err := blog.New(blog.Config{Tracker: tracker, Logger: cfg.Logger})
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	reading.Register(lv)
	ep.Handle("GET "+blog.AssetsPrefix, http.StripPrefix(blog.AssetsPrefix, blog.Assets()))
	if err := ep.Live(lv); err != nil {
		_ = d.Close()
		return nil, err
	}
	ep.Handle("/lobby", lobby.Page())
	ep.Handle("/lobby/", lobby.Page())
	ep.Handle("/draw", draw.Page())
	ep.Handle("/draw/", draw.Page())
	ep.Handle("/party", party.Page())
	ep.Handle("/party/", party.Page())
	ep.Handle("GET /{$}", http.HandlerFunc(index))
	ep.Handle("GET /favicon.ico", http.HandlerFunc(favicon))
	ep.Handle("GET /favicon.svg", http.HandlerFunc(favicon))
	return d, nil
}

// NodeTopic is a channel whose join reply names the node that serves the
// socket: {"node":"<name>"} ("local" in-process). It tells which node of a
// cluster a client landed on.
const NodeTopic = "node:info"

type nodeInfo struct{ node string }

func (n nodeInfo) Join(*channel.Context, json.RawMessage) (any, error) {
	return map[string]string{"node": n.node}, nil
}

func (nodeInfo) HandleIn(*channel.Context, channel.Message) (*channel.Reply, error) {
	return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
}

// Connect is the demo socket's connect hook: it keeps the "username" and
// "user_id" params as assigns.
func Connect(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
	return map[string]any{
		"username": info.Params.Get("username"),
		"user_id":  info.Params.Get("user_id"),
	}, nil
}

const faviconSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#4b5fd6"/><path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>`

func favicon(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write([]byte(faviconSVG))
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley demo</title><link rel="icon" href="/favicon.svg">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}
#apps{list-style:none;padding:0}#apps li{margin:.9rem 0}.talk{color:#555;font-size:.9rem;display:block}a{color:#4b5fd6}</style>
</head><body>
<h1>Parley demo apps</h1>
<p id="how">Real-time apps are about more than one person: open each app in <strong>two windows side by side</strong>
(or on two devices), as a different user in each, and watch one window follow what you do in the other.</p>
<ul id="apps">{{range .}}<li><a class="app" href="{{.Path}}">{{.Name}}</a>{{with .Second}} · <a class="second" href="{{.}}">as a second user</a>{{end}}: {{.About}}{{with .Talk}}<span class="talk">From the talk {{.}}</span>{{end}}</li>{{end}}</ul>
</body></html>`))

func index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := indexTmpl.Execute(w, apps); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
