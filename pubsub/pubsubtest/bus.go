// Package pubsubtest helps test code that runs on several nodes: [Bus] is an
// in-process [pubsub.Adapter] hub that connects several *pubsub.PubSub in one
// process, with seeded message loss and network partitions; [Run] is the
// conformance suite every adapter passes (the Bus, natspubsub, redispubsub).
//
// Entry points: [NewBus] builds a Bus; [Bus.Adapter] returns one adapter per
// node, to pass in [pubsub.Config]; [Bus.Partition] and [Bus.Heal] cut a node
// off and reconnect it; [Bus.SetDropRate] makes the bus lossy.
//
//	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
//	defer bus.Close()
//	a, _ := pubsub.New(pubsub.Config{Node: "a", Adapter: bus.Adapter()})
//	b, _ := pubsub.New(pubsub.Config{Node: "b", Adapter: bus.Adapter()})
//
// Delivery is asynchronous, like a network's: each node has one goroutine,
// owned by the Bus, that hands it the messages sent to it in the order they
// were sent. [Bus.Close] stops them all; an adapter's Close stops its node's.
// Every method is safe for concurrent use.
package pubsubtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/parley-go/parley/pubsub"
)

// Errors returned by the Bus and its adapters.
var (
	ErrClosed    = errors.New("pubsubtest: bus closed")
	ErrNodeTaken = errors.New("pubsubtest: node name already on the bus")
)

// BusConfig configures a Bus. The zero value is a lossless bus.
type BusConfig struct {
	// DropRate is the fraction of messages (0 to 1) lost on the way to
	// each receiving node, chosen by a generator seeded with Seed.
	DropRate float64
	// Seed seeds the drop decisions, so a lossy test is repeatable as far
	// as goroutine scheduling allows.
	Seed uint64
	// QueueSize bounds the messages waiting for one node; beyond it they
	// are dropped and counted. Default 65536.
	QueueSize int
}

// Bus is an in-process hub for pubsub adapters. Build it with [NewBus].
type Bus struct {
	// mu guards the fields below. It is never held while delivering.
	mu        sync.Mutex
	cfg       BusConfig
	rng       *rand.Rand
	nodes     map[string]*node
	isolated  map[string]bool
	closed    bool
	delivered uint64
	dropped   uint64

	wg sync.WaitGroup
}

// node is one started adapter: its interest and its delivery queue.
type node struct {
	name    string
	deliver func(*pubsub.Message)
	topics  map[string]bool // guarded by Bus.mu
	queue   []*pubsub.Message
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	stopped bool // guarded by Bus.mu
}

// NewBus returns an empty Bus.
func NewBus(cfg BusConfig) *Bus {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 65536
	}
	return &Bus{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		nodes:    make(map[string]*node),
		isolated: make(map[string]bool),
	}
}

// Adapter returns a new adapter on the bus. Its node name is the one the
// PubSub passes to Start.
func (b *Bus) Adapter() pubsub.Adapter { return &adapter{bus: b} }

// SetDropRate changes the fraction of messages lost from now on.
func (b *Bus) SetDropRate(rate float64) {
	b.mu.Lock()
	b.cfg.DropRate = rate
	b.mu.Unlock()
}

// Partition cuts the named nodes off the bus: nothing they send arrives and
// nothing reaches them, until [Bus.Heal]. Messages already queued for them
// are still delivered.
func (b *Bus) Partition(nodes ...string) {
	b.mu.Lock()
	for _, n := range nodes {
		b.isolated[n] = true
	}
	b.mu.Unlock()
}

// Heal reconnects nodes cut off by [Bus.Partition].
func (b *Bus) Heal(nodes ...string) {
	b.mu.Lock()
	for _, n := range nodes {
		delete(b.isolated, n)
	}
	b.mu.Unlock()
}

// Stats reports how many messages were handed to nodes and how many were
// lost (dropped on purpose, to a partition, or to a full queue).
func (b *Bus) Stats() (delivered, dropped uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delivered, b.dropped
}

// Close stops every node's delivery goroutine and waits for them. Adapters
// fail with [ErrClosed] afterwards.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	for _, n := range b.nodes {
		b.stopLocked(n)
	}
	clear(b.nodes)
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

func (b *Bus) stopLocked(n *node) {
	if !n.stopped {
		n.stopped = true
		close(n.stop)
	}
}

func (b *Bus) start(name string, deliver func(*pubsub.Message)) (*node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if _, ok := b.nodes[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrNodeTaken, name)
	}
	n := &node{
		name:    name,
		deliver: deliver,
		topics:  make(map[string]bool),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	b.nodes[name] = n
	b.wg.Add(1)
	go b.run(n)
	return n, nil
}

// run hands n its messages in order until it is stopped.
func (b *Bus) run(n *node) {
	defer b.wg.Done()
	defer close(n.done)
	for {
		select {
		case <-n.stop:
			return
		case <-n.wake:
		}
		for {
			b.mu.Lock()
			if n.stopped || len(n.queue) == 0 {
				n.queue = nil
				b.mu.Unlock()
				break
			}
			m := n.queue[0]
			n.queue[0] = nil
			n.queue = n.queue[1:]
			b.delivered++
			b.mu.Unlock()
			n.deliver(m)
		}
	}
}

// send queues a copy of m for every node in to, unless lost.
func (b *Bus) send(from *node, m *pubsub.Message, to func(*node) bool) error {
	payload := append([]byte(nil), m.Payload...)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || from.stopped {
		return ErrClosed
	}
	for _, n := range b.nodes {
		if n == from || n.stopped || !to(n) {
			continue
		}
		if b.isolated[from.name] || b.isolated[n.name] ||
			(b.cfg.DropRate > 0 && b.rng.Float64() < b.cfg.DropRate) ||
			len(n.queue) >= b.cfg.QueueSize {
			b.dropped++
			continue
		}
		// Each receiver gets its own Message: the PubSub sets its From.
		n.queue = append(n.queue, &pubsub.Message{Topic: m.Topic, Event: m.Event, Payload: payload, Binary: m.Binary})
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// adapter is one node's pubsub.Adapter.
type adapter struct {
	bus *Bus
	// mu guards n.
	mu sync.Mutex
	n  *node
}

func (a *adapter) node() (*node, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		return nil, errors.New("pubsubtest: adapter not started")
	}
	return a.n, nil
}

func (a *adapter) Start(name string, deliver func(*pubsub.Message)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n != nil {
		return errors.New("pubsubtest: adapter started twice")
	}
	n, err := a.bus.start(name, deliver)
	if err != nil {
		return err
	}
	a.n = n
	return nil
}

func (a *adapter) Broadcast(ctx context.Context, m *pubsub.Message) error {
	n, err := a.node()
	if err != nil {
		return err
	}
	return a.bus.send(n, m, func(to *node) bool { return to.topics[m.Topic] })
}

func (a *adapter) DirectBroadcast(ctx context.Context, name string, m *pubsub.Message) error {
	n, err := a.node()
	if err != nil {
		return err
	}
	return a.bus.send(n, m, func(to *node) bool { return to.name == name })
}

func (a *adapter) Subscribe(topic string) error {
	return a.interest(topic, true)
}

func (a *adapter) Unsubscribe(topic string) error {
	return a.interest(topic, false)
}

func (a *adapter) interest(topic string, on bool) error {
	n, err := a.node()
	if err != nil {
		return err
	}
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	if n.stopped {
		return ErrClosed
	}
	if on {
		n.topics[topic] = true
	} else {
		delete(n.topics, topic)
	}
	return nil
}

// Close takes the node off the bus and waits until its delivery goroutine
// has stopped, so nothing is delivered after it returns. It must not be
// called from inside a delivery.
func (a *adapter) Close() error {
	a.mu.Lock()
	n := a.n
	a.mu.Unlock()
	if n == nil {
		return nil
	}
	b := a.bus
	b.mu.Lock()
	if b.nodes[n.name] == n {
		delete(b.nodes, n.name)
	}
	b.stopLocked(n)
	b.mu.Unlock()
	<-n.done
	return nil
}
