// Package pubsub delivers messages published on a topic to every subscriber
// of that topic, on this node and, through an [Adapter], on every other node.
//
// Entry points: [New] builds a [PubSub]; [PubSub.Subscribe] and
// [PubSub.Unsubscribe] manage interest; [PubSub.Broadcast],
// [PubSub.BroadcastFrom], [PubSub.LocalBroadcast] and
// [PubSub.DirectBroadcast] publish.
//
// Concurrency: every method is safe for concurrent use. Local fan-out runs in
// the publisher's goroutine: a [Subscriber]'s Deliver is called with the
// topic's shard read-locked, so it must return quickly, must not block and
// must not call back into the PubSub. The same *[Message] is handed to every
// subscriber; nobody may modify it. That is what lets the channel layer
// encode a broadcast once and write the same bytes to every connection.
//
// Without an Adapter a PubSub is in-process only. Adapters for NATS and
// Redis live in sub-packages; every adapter passes the suite in pubsubtest.
package pubsub

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
)

// Message is one published message. Payload is opaque to the PubSub; the
// channel layer stores a complete encoded frame there.
type Message struct {
	Topic   string
	Event   string
	Payload []byte
	// Binary marks a payload that is not JSON text.
	Binary bool
	// From is the local sender excluded by BroadcastFrom. It never leaves
	// the node.
	From Subscriber
	// Offset is the message's position in its topic's history, set by the
	// layer that keeps one (channel routes with a history); 0 means none.
	// It never leaves the node: adapters do not carry it.
	Offset uint64
}

// Subscriber receives the messages of the topics it subscribed to.
type Subscriber interface {
	// Deliver must not block and must not call into the PubSub: it runs
	// in the publisher's goroutine with a shard lock held.
	Deliver(m *Message)
}

// Adapter carries messages between nodes. Implementations must be safe for
// concurrent use.
type Adapter interface {
	// Start begins delivering messages from other nodes to deliver. node
	// is this node's name (for DirectBroadcast). It is called once.
	Start(node string, deliver func(*Message)) error
	// Broadcast sends m to every other node that has subscribers for
	// m.Topic. It must not deliver m back to this node.
	Broadcast(ctx context.Context, m *Message) error
	// DirectBroadcast sends m to the named node only.
	DirectBroadcast(ctx context.Context, node string, m *Message) error
	// Subscribe and Unsubscribe report that this node gained its first, or
	// lost its last, local subscriber of a topic.
	Subscribe(topic string) error
	Unsubscribe(topic string) error
	// Close stops delivery and releases the connection.
	Close() error
}

// Config configures a PubSub. The zero value is an in-process PubSub.
type Config struct {
	// Node names this node; default "local".
	Node string
	// Adapter, if set, carries broadcasts to other nodes.
	Adapter Adapter
	// Shards is the number of independently locked topic shards; default 64.
	Shards int
	// Logger receives adapter errors; default slog.Default().
	Logger *slog.Logger
}

// PubSub is a topic-based publish/subscribe hub. Build it with [New].
type PubSub struct {
	cfg    Config
	seed   maphash.Seed
	shards []shard

	// interestMu serialises the adapter's Subscribe/Unsubscribe calls so
	// that they reach it in the order local interest changed.
	interestMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

type shard struct {
	// mu guards topics.
	mu     sync.RWMutex
	topics map[string]*subscribers
}

// subscribers is the set of one topic's subscribers: a slice for fast
// fan-out and an index for O(1) removal.
type subscribers struct {
	list  []Subscriber
	index map[Subscriber]int
}

// New returns a PubSub. If cfg.Adapter is set, it is started.
func New(cfg Config) (*PubSub, error) {
	if cfg.Node == "" {
		cfg.Node = "local"
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &PubSub{cfg: cfg, seed: maphash.MakeSeed(), shards: make([]shard, cfg.Shards)}
	for i := range p.shards {
		p.shards[i].topics = make(map[string]*subscribers)
	}
	if cfg.Adapter != nil {
		if err := cfg.Adapter.Start(cfg.Node, p.deliverRemote); err != nil {
			return nil, fmt.Errorf("pubsub: start adapter: %w", err)
		}
	}
	return p, nil
}

// HasAdapter reports whether the PubSub spans nodes through an [Adapter].
func (p *PubSub) HasAdapter() bool { return p.cfg.Adapter != nil }

// Node returns this node's name.
func (p *PubSub) Node() string { return p.cfg.Node }

func (p *PubSub) shard(topic string) *shard {
	return &p.shards[maphash.String(p.seed, topic)%uint64(len(p.shards))]
}

// Subscribe adds s to topic. Subscribing twice is a no-op.
func (p *PubSub) Subscribe(topic string, s Subscriber) error {
	sh := p.shard(topic)
	sh.mu.Lock()
	subs := sh.topics[topic]
	first := subs == nil
	if first {
		subs = &subscribers{index: make(map[Subscriber]int)}
		sh.topics[topic] = subs
	}
	if _, ok := subs.index[s]; !ok {
		subs.index[s] = len(subs.list)
		subs.list = append(subs.list, s)
	}
	sh.mu.Unlock()
	if first {
		return p.syncInterest(topic)
	}
	return nil
}

// Unsubscribe removes s from topic.
func (p *PubSub) Unsubscribe(topic string, s Subscriber) {
	sh := p.shard(topic)
	sh.mu.Lock()
	subs := sh.topics[topic]
	last := false
	if subs != nil {
		if i, ok := subs.index[s]; ok {
			end := len(subs.list) - 1
			moved := subs.list[end]
			subs.list[i] = moved
			subs.index[moved] = i
			subs.list[end] = nil
			subs.list = subs.list[:end]
			delete(subs.index, s)
		}
		if len(subs.list) == 0 {
			delete(sh.topics, topic)
			last = true
		}
	}
	sh.mu.Unlock()
	if last {
		if err := p.syncInterest(topic); err != nil {
			p.cfg.Logger.Warn("pubsub: adapter unsubscribe failed", "topic", topic, "err", err)
		}
	}
}

// syncInterest tells the adapter whether this node now has subscribers for
// topic, re-reading the count under interestMu so that racing subscribe and
// unsubscribe calls leave the adapter in the right final state.
func (p *PubSub) syncInterest(topic string) error {
	if p.cfg.Adapter == nil {
		return nil
	}
	p.interestMu.Lock()
	defer p.interestMu.Unlock()
	if p.Subscribers(topic) > 0 {
		if err := p.cfg.Adapter.Subscribe(topic); err != nil {
			return fmt.Errorf("pubsub: adapter subscribe %q: %w", topic, err)
		}
		return nil
	}
	if err := p.cfg.Adapter.Unsubscribe(topic); err != nil {
		return fmt.Errorf("pubsub: adapter unsubscribe %q: %w", topic, err)
	}
	return nil
}

// Subscribers returns the number of local subscribers of topic.
func (p *PubSub) Subscribers(topic string) int {
	sh := p.shard(topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if subs := sh.topics[topic]; subs != nil {
		return len(subs.list)
	}
	return 0
}

// Broadcast delivers m to every local subscriber of m.Topic and sends it to
// the other nodes. It returns the number of local deliveries.
func (p *PubSub) Broadcast(ctx context.Context, m *Message) (int, error) {
	m.From = nil
	return p.broadcast(ctx, m)
}

// BroadcastFrom is Broadcast that skips the local subscriber from.
func (p *PubSub) BroadcastFrom(ctx context.Context, from Subscriber, m *Message) (int, error) {
	m.From = from
	return p.broadcast(ctx, m)
}

// broadcast hands m to the adapter first, then delivers it locally (as
// Phoenix.PubSub does): the other nodes start their fan-out while this one
// does its own, instead of after it. A failed adapter does not stop the
// local delivery.
func (p *PubSub) broadcast(ctx context.Context, m *Message) (int, error) {
	var err error
	if p.cfg.Adapter != nil {
		if aerr := p.cfg.Adapter.Broadcast(ctx, m); aerr != nil {
			err = fmt.Errorf("pubsub: broadcast %q: %w", m.Topic, aerr)
		}
	}
	return p.LocalBroadcast(m), err
}

// LocalBroadcast delivers m to this node's subscribers only, skipping
// m.From, and returns the number of deliveries.
func (p *PubSub) LocalBroadcast(m *Message) int {
	sh := p.shard(m.Topic)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	subs := sh.topics[m.Topic]
	if subs == nil {
		return 0
	}
	n := 0
	for _, s := range subs.list {
		if s == m.From && m.From != nil {
			continue
		}
		s.Deliver(m)
		n++
	}
	return n
}

// DirectBroadcast delivers m to the subscribers of m.Topic on one node,
// which may be this one.
func (p *PubSub) DirectBroadcast(ctx context.Context, node string, m *Message) error {
	m.From = nil
	if node == p.cfg.Node {
		p.LocalBroadcast(m)
		return nil
	}
	if p.cfg.Adapter == nil {
		return fmt.Errorf("pubsub: no adapter to reach node %q", node)
	}
	if err := p.cfg.Adapter.DirectBroadcast(ctx, node, m); err != nil {
		return fmt.Errorf("pubsub: direct broadcast to %q: %w", node, err)
	}
	return nil
}

func (p *PubSub) deliverRemote(m *Message) {
	m.From = nil
	p.LocalBroadcast(m)
}

// Close stops the adapter, if any. Local delivery keeps working.
func (p *PubSub) Close() error {
	p.closeOnce.Do(func() {
		if p.cfg.Adapter != nil {
			if err := p.cfg.Adapter.Close(); err != nil {
				p.closeErr = fmt.Errorf("pubsub: close adapter: %w", err)
			}
		}
	})
	return p.closeErr
}
