// Package redispubsub is a [pubsub.Adapter] over Redis PUBLISH/SUBSCRIBE
// (github.com/redis/go-redis/v9): many Parley nodes sharing one Redis
// server.
//
// Entry points: [New] builds an [Adapter] from a [Config]; pass it in
// pubsub.Config.Adapter, and the PubSub starts it (connecting to Redis) and
// closes it. [Adapter.Stats] counts traffic and outages.
//
//	a := redispubsub.New(redispubsub.Config{URL: "redis://127.0.0.1:6379/0", Namespace: "myapp"})
//	ps, err := pubsub.New(pubsub.Config{Node: "node-1", Adapter: a})
//
// Channels: a topic's broadcasts travel on "<Namespace>:b:<topic>" and
// messages for one node on "<Namespace>:d:<node>" (Redis channel names are
// binary-safe, so topics are used as they are). A node subscribes to a
// topic's channel only while it has local subscribers. Each broadcast is
// encoded once ([pubsub.AppendMessage]) and published once. Redis sends a
// subscriber its own publications too: the encoding carries the sending
// node's name and the adapter drops its own, so node names must be unique.
// Messages from one node arrive in the order it published them.
//
// Outages: one goroutine reads the subscription connection. When it fails,
// the adapter logs it and retries with a growing pause (up to
// ReconnectWait); go-redis subscribes the new connection to every channel
// still subscribed, so each topic that kept local subscribers is
// resubscribed, and the reconnection is logged with the outage's length.
// An idle connection is pinged every HealthCheck. Publishing during an
// outage fails after go-redis's retries; messages sent by others during it
// are lost.
//
// Concurrency: every method is safe for concurrent use. Broadcast waits for
// Redis to accept the message (one round trip). The Adapter owns its one
// goroutine; Close stops it and waits for it.
package redispubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/parley-go/parley/pubsub"
)

// Errors returned by the Adapter.
var (
	ErrClosed     = errors.New("redispubsub: adapter closed")
	ErrNotStarted = errors.New("redispubsub: adapter not started")
)

// Config configures an Adapter. The zero value connects to
// redis://127.0.0.1:6379/0 with the namespace "parley".
type Config struct {
	// URL is the Redis URL, as redis.ParseURL reads it
	// (redis://[user:password@]host:port/db, rediss:// for TLS).
	URL string
	// Namespace prefixes every channel so that several applications can
	// share one Redis without seeing each other's messages; default
	// "parley". It must not contain ':'.
	Namespace string
	// ReconnectWait is the longest pause between reconnection attempts
	// (they start at 50 ms and double); default 1 s.
	ReconnectWait time.Duration
	// HealthCheck is how long the subscription connection may stay silent
	// before it is pinged; default 15 s.
	HealthCheck time.Duration
	// Logger receives connection events; default slog.Default().
	Logger *slog.Logger
}

// Adapter is a pubsub.Adapter over Redis. Build it with [New].
type Adapter struct {
	cfg Config

	// mu guards the fields below.
	mu      sync.Mutex
	rdb     *redis.Client
	ps      *redis.PubSub
	node    string
	topics  map[string]bool
	started bool
	closed  bool

	deliver func(*pubsub.Message)
	stop    chan struct{}
	wg      sync.WaitGroup

	counters pubsub.AdapterCounters
}

// New returns an Adapter for cfg. It connects when the PubSub starts it.
func New(cfg Config) *Adapter {
	if cfg.URL == "" {
		cfg.URL = "redis://127.0.0.1:6379/0"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "parley"
	}
	if cfg.ReconnectWait <= 0 {
		cfg.ReconnectWait = time.Second
	}
	if cfg.HealthCheck <= 0 {
		cfg.HealthCheck = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Adapter{cfg: cfg, topics: make(map[string]bool), stop: make(chan struct{})}
}

// Start connects to Redis, subscribes to this node's direct channel and
// starts the receiving goroutine.
func (a *Adapter) Start(node string, deliver func(*pubsub.Message)) error {
	if a.cfg.Namespace == "" || strings.Contains(a.cfg.Namespace, ":") {
		return fmt.Errorf("redispubsub: namespace %q must be non-empty and without ':'", a.cfg.Namespace)
	}
	opts, err := redis.ParseURL(a.cfg.URL)
	if err != nil {
		return fmt.Errorf("redispubsub: %w", err)
	}
	opts.ClientName = "parley-" + node
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.started {
		return errors.New("redispubsub: adapter started twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return fmt.Errorf("redispubsub: connect %s: %w", opts.Addr, err)
	}
	ps := rdb.Subscribe(ctx)
	if err := ps.Subscribe(ctx, a.directChannel(node)); err != nil {
		_ = ps.Close()
		_ = rdb.Close()
		return fmt.Errorf("redispubsub: subscribe: %w", err)
	}
	a.rdb, a.ps, a.node, a.deliver = rdb, ps, node, deliver
	a.started = true
	a.counters.SetConnected(true)
	a.wg.Add(1)
	go a.run(ps)
	return nil
}

// run reads the subscription connection until Close, reconnecting after
// failures.
func (a *Adapter) run(ps *redis.PubSub) {
	defer a.wg.Done()
	ctx := context.Background()
	log := a.cfg.Logger
	backoff := 50 * time.Millisecond
	var downSince time.Time
	for {
		msg, err := ps.ReceiveTimeout(ctx, a.cfg.HealthCheck)
		if a.stopping() {
			return
		}
		if err != nil {
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() && a.counters.IsConnected() {
				// Silence: ask the server whether it is still there.
				if err = ps.Ping(ctx); err == nil {
					continue
				}
			}
			if a.counters.SetConnected(false) {
				downSince = time.Now()
				a.counters.Disconnected()
				log.Warn("redispubsub: lost the Redis connection; reconnecting", "node", a.node, "err", err)
				backoff = 50 * time.Millisecond
			}
			select {
			case <-a.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, a.cfg.ReconnectWait)
			continue
		}
		if !a.counters.IsConnected() {
			a.counters.SetConnected(true)
			a.counters.Reconnected()
			log.Info("redispubsub: reconnected to Redis; topics resubscribed", "node", a.node,
				"outage", time.Since(downSince).Round(time.Millisecond), "topics", a.topicCount())
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations and pongs
		}
		from, pm, err := pubsub.DecodeMessage([]byte(m.Payload))
		if err != nil {
			a.counters.Dropped()
			log.Warn("redispubsub: dropped a malformed message", "channel", m.Channel, "err", err)
			continue
		}
		if from == a.node {
			a.counters.Dropped() // our own broadcast, echoed by Redis
			continue
		}
		a.counters.Received()
		a.deliver(pm)
	}
}

func (a *Adapter) stopping() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

func (a *Adapter) client() (*redis.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrClosed
	}
	if a.rdb == nil {
		return nil, ErrNotStarted
	}
	return a.rdb, nil
}

func (a *Adapter) publish(ctx context.Context, channel string, m *pubsub.Message) error {
	rdb, err := a.client()
	if err != nil {
		return err
	}
	data := pubsub.AppendMessage(make([]byte, 0, pubsub.EncodedLen(a.node, m)), a.node, m)
	if err := rdb.Publish(ctx, channel, data).Err(); err != nil {
		a.counters.PublishFailed()
		return fmt.Errorf("redispubsub: publish: %w", err)
	}
	a.counters.Published()
	return nil
}

// Broadcast publishes m once on its topic's channel.
func (a *Adapter) Broadcast(ctx context.Context, m *pubsub.Message) error {
	return a.publish(ctx, a.topicChannel(m.Topic), m)
}

// DirectBroadcast publishes m on node's direct channel.
func (a *Adapter) DirectBroadcast(ctx context.Context, node string, m *pubsub.Message) error {
	return a.publish(ctx, a.directChannel(node), m)
}

// Subscribe subscribes to topic's channel. If Redis is away, the channel is
// remembered and subscribed on reconnection, and Subscribe succeeds.
func (a *Adapter) Subscribe(topic string) error {
	return a.interest(topic, true)
}

// Unsubscribe drops topic's channel.
func (a *Adapter) Unsubscribe(topic string) error {
	return a.interest(topic, false)
}

func (a *Adapter) interest(topic string, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.ps == nil {
		return ErrNotStarted
	}
	if a.topics[topic] == on {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if on {
		a.topics[topic] = true
		err = a.ps.Subscribe(ctx, a.topicChannel(topic))
	} else {
		delete(a.topics, topic)
		err = a.ps.Unsubscribe(ctx, a.topicChannel(topic))
	}
	if err != nil {
		// go-redis has recorded the change; the next connection gets it.
		a.cfg.Logger.Warn("redispubsub: (un)subscribe deferred to reconnection", "topic", topic, "subscribe", on, "err", err)
	}
	return nil
}

func (a *Adapter) topicCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.topics)
}

// Stats returns the adapter's counters.
func (a *Adapter) Stats() pubsub.AdapterStats { return a.counters.Snapshot(a.topicCount()) }

// Close closes the subscription and the client and waits for the receiving
// goroutine. Nothing is delivered after it returns. It must not be called
// from inside a delivery.
func (a *Adapter) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	ps, rdb := a.ps, a.rdb
	a.mu.Unlock()
	close(a.stop)
	var errs []error
	if ps != nil {
		errs = append(errs, ps.Close())
	}
	a.wg.Wait()
	if rdb != nil {
		errs = append(errs, rdb.Close())
	}
	a.counters.SetConnected(false)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redispubsub: close: %w", err)
	}
	return nil
}

func (a *Adapter) topicChannel(topic string) string { return a.cfg.Namespace + ":b:" + topic }

func (a *Adapter) directChannel(node string) string { return a.cfg.Namespace + ":d:" + node }
