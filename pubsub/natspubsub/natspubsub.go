// Package natspubsub is a [pubsub.Adapter] over NATS core publish/subscribe
// (github.com/nats-io/nats.go): many Parley nodes sharing one NATS server or
// cluster.
//
// Entry points: [New] builds an [Adapter] from a [Config]; pass it in
// pubsub.Config.Adapter, and the PubSub starts it (connecting to NATS) and
// closes it. [Adapter.Stats] counts traffic and outages.
//
//	a := natspubsub.New(natspubsub.Config{URL: "nats://127.0.0.1:4222", Namespace: "myapp"})
//	ps, err := pubsub.New(pubsub.Config{Node: "node-1", Adapter: a})
//
// Subjects: a topic's broadcasts travel on "<Namespace>.b.<topic>" and
// messages for one node on "<Namespace>.d.<node>", with every byte of the
// topic or node name outside [A-Za-z0-9_:-] escaped as %XX, so any topic is a
// single subject token and two namespaces never share a subject. A node
// subscribes to a topic's subject only while it has local subscribers. The
// connection is made with NoEcho, so the server never sends a node its own
// broadcasts. Each broadcast is encoded once ([pubsub.AppendMessage]) and
// published once; NATS fans it out. Messages from one node arrive in the
// order it sent them.
//
// Outages: the connection reconnects forever, every ReconnectWait; nats.go
// subscribes again to every subject still subscribed, so each topic that
// kept local subscribers is resubscribed. Disconnection and reconnection are
// logged and counted. Messages published while disconnected are buffered
// by nats.go (8 MiB) and sent on reconnection; messages sent by others
// during the outage are lost, as with any PubSub adapter.
//
// The NATS server's max_payload (1 MB by default) bounds a message:
// Parley's default frame limit is 1 MiB, so give the server more (for
// example "max_payload: 8MB" in its configuration) if clients may send
// frames that large.
//
// Concurrency: every method is safe for concurrent use. The Adapter owns one
// goroutine, which hands received messages to the PubSub in arrival order;
// Close stops it and waits for it.
package natspubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parley-go/parley/pubsub"
)

// Errors returned by the Adapter.
var (
	ErrClosed     = errors.New("natspubsub: adapter closed")
	ErrNotStarted = errors.New("natspubsub: adapter not started")
)

// Config configures an Adapter. The zero value connects to
// nats://127.0.0.1:4222 with the namespace "parley".
type Config struct {
	// URL is the NATS server URL (several may be given, comma-separated);
	// default nats.DefaultURL.
	URL string
	// Namespace prefixes every subject, so that several applications can
	// share one NATS server without seeing each other's messages; default
	// "parley". It must be a valid subject prefix (tokens separated by
	// dots, without spaces, '*' or '>').
	Namespace string
	// ReconnectWait is the pause between reconnection attempts; default 1 s.
	ReconnectWait time.Duration
	// QueueSize bounds the received messages waiting for the delivery
	// goroutine; beyond it NATS reports a slow consumer and drops them.
	// Default 65536.
	QueueSize int
	// Logger receives connection events; default slog.Default().
	Logger *slog.Logger
	// Options are extra nats.go options (credentials, TLS, ...), applied
	// after the adapter's own.
	Options []nats.Option
}

// Adapter is a pubsub.Adapter over NATS. Build it with [New].
type Adapter struct {
	cfg Config

	// mu guards the fields below. No NATS callback takes it.
	mu      sync.Mutex
	nc      *nats.Conn
	node    string
	subs    map[string]*nats.Subscription // by topic
	started bool
	closed  bool

	msgs    chan *nats.Msg
	deliver func(*pubsub.Message)
	stop    chan struct{}
	wg      sync.WaitGroup

	counters  pubsub.AdapterCounters
	downSince atomic.Int64 // unix nanoseconds of the last disconnection
}

// New returns an Adapter for cfg. It connects when the PubSub starts it.
func New(cfg Config) *Adapter {
	if cfg.URL == "" {
		cfg.URL = nats.DefaultURL
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "parley"
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Options = append([]nats.Option(nil), cfg.Options...)
	return &Adapter{cfg: cfg, subs: make(map[string]*nats.Subscription), stop: make(chan struct{})}
}

// Start connects to NATS, subscribes to this node's direct subject and
// starts the delivery goroutine.
func (a *Adapter) Start(node string, deliver func(*pubsub.Message)) error {
	if err := validNamespace(a.cfg.Namespace); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.started {
		return errors.New("natspubsub: adapter started twice")
	}
	a.node, a.deliver = node, deliver
	a.msgs = make(chan *nats.Msg, a.cfg.QueueSize)
	log := a.cfg.Logger
	opts := []nats.Option{
		nats.Name("parley " + node),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(a.cfg.ReconnectWait),
		nats.ReconnectJitter(a.cfg.ReconnectWait/10, a.cfg.ReconnectWait/10),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !a.counters.SetConnected(false) {
				return
			}
			a.downSince.Store(time.Now().UnixNano())
			a.counters.Disconnected()
			if nc.IsClosed() {
				return // Close, not an outage
			}
			log.Warn("natspubsub: lost the NATS connection; reconnecting", "node", node, "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			a.counters.SetConnected(true)
			a.counters.Reconnected()
			outage := time.Since(time.Unix(0, a.downSince.Load())).Round(time.Millisecond)
			log.Info("natspubsub: reconnected to NATS; topics resubscribed", "node", node,
				"url", nc.ConnectedUrlRedacted(), "outage", outage, "topics", a.topics())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				a.counters.Dropped()
			}
			log.Warn("natspubsub: asynchronous error", "node", node, "err", err)
		}),
	}
	nc, err := nats.Connect(a.cfg.URL, append(opts, a.cfg.Options...)...)
	if err != nil {
		return fmt.Errorf("natspubsub: connect %s: %w", a.cfg.URL, err)
	}
	a.counters.SetConnected(true)
	if _, err := nc.ChanSubscribe(a.directSubject(node), a.msgs); err != nil {
		nc.Close()
		return fmt.Errorf("natspubsub: subscribe: %w", err)
	}
	a.nc = nc
	a.started = true
	a.wg.Add(1)
	go a.run()
	return nil
}

// run hands received messages to the PubSub until Close.
func (a *Adapter) run() {
	defer a.wg.Done()
	for {
		select {
		case <-a.stop:
			return
		case msg := <-a.msgs:
			from, m, err := pubsub.DecodeMessage(msg.Data)
			if err != nil {
				a.counters.Dropped()
				a.cfg.Logger.Warn("natspubsub: dropped a malformed message", "subject", msg.Subject, "err", err)
				continue
			}
			if from == a.node {
				a.counters.Dropped() // NoEcho makes this rare: a second node of the same name
				continue
			}
			a.counters.Received()
			a.deliver(m)
		}
	}
}

func (a *Adapter) conn() (*nats.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	if a.nc == nil {
		return nil, ErrNotStarted
	}
	return a.nc, nil
}

func (a *Adapter) publish(ctx context.Context, subject string, m *pubsub.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nc, err := a.conn()
	if err != nil {
		return err
	}
	data := pubsub.AppendMessage(make([]byte, 0, pubsub.EncodedLen(a.node, m)), a.node, m)
	if err := nc.Publish(subject, data); err != nil {
		a.counters.PublishFailed()
		return fmt.Errorf("natspubsub: publish: %w", err)
	}
	a.counters.Published()
	return nil
}

// Broadcast publishes m once on its topic's subject.
func (a *Adapter) Broadcast(ctx context.Context, m *pubsub.Message) error {
	return a.publish(ctx, a.topicSubject(m.Topic), m)
}

// DirectBroadcast publishes m on node's direct subject.
func (a *Adapter) DirectBroadcast(ctx context.Context, node string, m *pubsub.Message) error {
	return a.publish(ctx, a.directSubject(node), m)
}

// Subscribe subscribes to topic's subject. While NATS is away the
// subscription is queued and made on reconnection.
func (a *Adapter) Subscribe(topic string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.nc == nil {
		return ErrNotStarted
	}
	if a.subs[topic] != nil {
		return nil
	}
	sub, err := a.nc.ChanSubscribe(a.topicSubject(topic), a.msgs)
	if err != nil {
		return fmt.Errorf("natspubsub: subscribe: %w", err)
	}
	a.subs[topic] = sub
	return nil
}

// Unsubscribe drops topic's subject. Messages of the topic already received
// may still be delivered.
func (a *Adapter) Unsubscribe(topic string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	sub := a.subs[topic]
	if sub == nil {
		return nil
	}
	delete(a.subs, topic)
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("natspubsub: unsubscribe: %w", err)
	}
	return nil
}

func (a *Adapter) topics() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.subs)
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() pubsub.AdapterStats { return a.counters.Snapshot(a.topics()) }

// Close flushes what is buffered, closes the connection and waits for the
// delivery goroutine. Nothing is delivered after it returns. It must not
// be called from inside a delivery.
func (a *Adapter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	nc := a.nc
	a.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	close(a.stop)
	a.wg.Wait()
	return nil
}

func (a *Adapter) topicSubject(topic string) string {
	return a.cfg.Namespace + ".b." + escapeToken(topic)
}

func (a *Adapter) directSubject(node string) string {
	return a.cfg.Namespace + ".d." + escapeToken(node)
}

// escapeToken makes s one subject token: bytes outside [A-Za-z0-9_:-]
// become %XX. Distinct strings stay distinct.
func escapeToken(s string) string {
	const hex = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			clean = false
			break
		}
	}
	if clean && s != "" {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	if s == "" {
		return "%"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '-'
}

func validNamespace(ns string) error {
	for _, tok := range strings.Split(ns, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return fmt.Errorf("natspubsub: namespace %q is not a subject prefix", ns)
		}
	}
	return nil
}
