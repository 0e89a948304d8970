package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/presence/crdt"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/wire"
)

// Errors returned by the Tracker.
var (
	ErrAlreadyTracked = errors.New("presence: already tracked")
	ErrNotTracked     = errors.New("presence: not tracked")
	ErrClosed         = errors.New("presence: tracker closed")
	// ErrFetchPanicked is returned by State when Config.Fetch panicked.
	ErrFetchPanicked = errors.New("presence: Config.Fetch panicked")
)

// Events pushed and broadcast to channels.
const (
	EventState = "presence_state"
	EventDiff  = "presence_diff"
)

// Config configures a Tracker. Only PubSub is required; every other zero
// field takes the default named in its comment. Trackers that replicate to
// each other must share Name and, in practice, the periods.
type Config struct {
	// PubSub carries the gossip between nodes and the diffs to this
	// node's subscribers. Required.
	PubSub *pubsub.PubSub
	// Name names the tracker; trackers of one Name on different nodes
	// replicate over the topic "phx_presence:<Name>". Default "presence".
	Name string
	// Node names this replica; default the PubSub's node name. It must be
	// unique in the cluster.
	Node string
	// BroadcastPeriod is the gossip tick; default 1.5 s. The first tick
	// comes after a random 0–25 % of it.
	BroadcastPeriod time.Duration
	// MaxSilentPeriods is the number of ticks without local changes after
	// which an empty heartbeat is sent anyway; default 10.
	MaxSilentPeriods int
	// DownPeriod is the silence after which a replica is down and its
	// presences leave; default BroadcastPeriod × MaxSilentPeriods × 2
	// (30 s). It must be at least 2 × BroadcastPeriod, and should exceed
	// (MaxSilentPeriods+1) × BroadcastPeriod, the keep-alive interval.
	DownPeriod time.Duration
	// PermdownPeriod is the silence after which a replica is forgotten;
	// default 20 min. It must exceed DownPeriod.
	PermdownPeriod time.Duration
	// ClockSamplePeriods is how many ticks pass between transfer requests
	// to the replicas whose clocks are ahead; default 2.
	ClockSamplePeriods int
	// SkipPermdownOnClose makes Close stop without telling the other
	// nodes, whose copies of this node's presences then leave only after
	// DownPeriod (Phoenix's default). By default Close sends
	// graceful_permdown and they leave at once.
	SkipPermdownOnClose bool
	// Fetch, if set, may add fields beside "metas" (Presence.Extra) or
	// change the presences, as Phoenix's fetch/2 does. It runs on every
	// List and on the joins and leaves of every diff, with no Tracker lock
	// held, possibly from several goroutines at once. A panic in Fetch is
	// recovered and logged with its stack: that List returns no presences
	// (State returns ErrFetchPanicked) and that diff is not delivered; the
	// Tracker and other topics carry on.
	Fetch func(topic string, presences map[string]Presence)
	// LocalBroadcast delivers a presence_diff to this node's subscribers
	// of topic. Default: a broadcast frame [null,null,topic,event,payload]
	// built as channel.LocalBroadcast builds it and handed to
	// PubSub.LocalBroadcast. payload is a json.RawMessage.
	LocalBroadcast func(topic, event string, payload any) error
	// Logger receives gossip errors; default slog.Default().
	Logger *slog.Logger
}

// Tracker tracks presences on this node and replicates them to the
// trackers of the same Name on other nodes. Build it with [New]; stop it
// with [Tracker.Close].
type Tracker struct {
	cfg   Config
	ps    *pubsub.PubSub
	topic string // the gossip topic
	self  crdt.Replica
	sub   *gossipSub

	// mu guards the fields below. It is never held while calling out
	// (PubSub, Fetch, LocalBroadcast).
	mu     sync.Mutex
	state  *crdt.State
	closed bool
	// hooked holds the owners whose OnTerminate already untracks them.
	hooked map[string]bool
	// diffs waits to be delivered, in the order the changes happened;
	// flushing is true while some goroutine delivers them.
	diffs    []topicDiff
	flushing bool

	// inMu guards inbox. Taken under a pubsub shard lock (Deliver).
	inMu    sync.Mutex
	inbox   [][]byte
	inWake  chan struct{}
	dropped int

	// Owned by the gossip goroutine.
	peers   map[string]*peer // by replica name
	samples map[crdt.Replica]map[crdt.Replica]uint64
	silent  int
	ticks   int
	nextID  uint64

	stats struct {
		heartbeats, transferReqs, transferAcks, merges atomic.Uint64
	}

	ctx       context.Context // cancelled when Close gives up waiting
	cancel    context.CancelFunc
	stop      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// peer is what the gossip goroutine knows of another replica.
type peer struct {
	rep  crdt.Replica
	node string // its pubsub node, for direct messages
	last time.Time
	down bool
}

// topicDiff is the joins and leaves of one topic from one change.
type topicDiff struct {
	topic         string
	joins, leaves []crdt.Value
}

// inboxLimit bounds the gossip messages waiting for the gossip goroutine;
// beyond it they are dropped (transfers repair the loss).
const inboxLimit = 10000

// New validates cfg, subscribes to the gossip topic and starts the gossip
// goroutine.
func New(cfg Config) (*Tracker, error) {
	if cfg.PubSub == nil {
		return nil, errors.New("presence: Config.PubSub is required")
	}
	if cfg.Name == "" {
		cfg.Name = "presence"
	}
	if cfg.Node == "" {
		cfg.Node = cfg.PubSub.Node()
	}
	if cfg.BroadcastPeriod <= 0 {
		cfg.BroadcastPeriod = 1500 * time.Millisecond
	}
	if cfg.MaxSilentPeriods <= 0 {
		cfg.MaxSilentPeriods = 10
	}
	if cfg.DownPeriod <= 0 {
		cfg.DownPeriod = cfg.BroadcastPeriod * time.Duration(cfg.MaxSilentPeriods) * 2
	}
	if cfg.PermdownPeriod <= 0 {
		cfg.PermdownPeriod = 20 * time.Minute
	}
	if cfg.ClockSamplePeriods <= 0 {
		cfg.ClockSamplePeriods = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DownPeriod < 2*cfg.BroadcastPeriod {
		return nil, fmt.Errorf("presence: DownPeriod %v is less than twice BroadcastPeriod %v", cfg.DownPeriod, cfg.BroadcastPeriod)
	}
	if cfg.PermdownPeriod <= cfg.DownPeriod {
		return nil, fmt.Errorf("presence: PermdownPeriod %v does not exceed DownPeriod %v", cfg.PermdownPeriod, cfg.DownPeriod)
	}
	var vb [8]byte
	_, _ = rand.Read(vb[:])
	self := crdt.Replica{Name: cfg.Node, Vsn: binary.LittleEndian.Uint64(vb[:]) | 1}
	t := &Tracker{
		cfg:     cfg,
		ps:      cfg.PubSub,
		topic:   "phx_presence:" + cfg.Name,
		self:    self,
		state:   crdt.New(self),
		hooked:  make(map[string]bool),
		inWake:  make(chan struct{}, 1),
		peers:   make(map[string]*peer),
		samples: make(map[crdt.Replica]map[crdt.Replica]uint64),
		silent:  cfg.MaxSilentPeriods, // the first tick sends a heartbeat
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.sub = &gossipSub{t: t}
	if err := t.ps.Subscribe(t.topic, t.sub); err != nil {
		t.cancel()
		return nil, fmt.Errorf("presence: subscribe %q: %w", t.topic, err)
	}
	t.wg.Add(1)
	go t.loop()
	return t, nil
}

// Stats counts gossip activity since New.
type Stats struct {
	// HeartbeatsSent counts heartbeats broadcast, with or without a delta.
	HeartbeatsSent uint64
	// TransfersRequested counts transfer_req sent to replicas whose clocks
	// were ahead; TransfersReceived counts the transfer_acks merged.
	TransfersRequested, TransfersReceived uint64
	// DeltasMerged counts heartbeat deltas merged.
	DeltasMerged uint64
	// InboxDropped counts gossip messages dropped because the gossip
	// goroutine fell behind.
	InboxDropped uint64
}

// Stats returns counters of the gossip so far.
func (t *Tracker) Stats() Stats {
	t.inMu.Lock()
	dropped := t.dropped
	t.inMu.Unlock()
	return Stats{
		HeartbeatsSent:     t.stats.heartbeats.Load(),
		TransfersRequested: t.stats.transferReqs.Load(),
		TransfersReceived:  t.stats.transferAcks.Load(),
		DeltasMerged:       t.stats.merges.Load(),
		InboxDropped:       uint64(dropped),
	}
}

// Replica returns this tracker's replica: node name and boot version.
func (t *Tracker) Replica() (node string, vsn uint64) { return t.self.Name, t.self.Vsn }

// newRef returns a fresh phx_ref: URL-safe base64 of 12 random bytes.
func newRef() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// encodeMeta returns meta plus phx_ref (and phx_ref_prev) as JSON.
func encodeMeta(meta map[string]any, ref, prev string) (json.RawMessage, error) {
	m := make(map[string]any, len(meta)+2)
	maps.Copy(m, meta)
	m["phx_ref"] = ref
	if prev != "" {
		m["phx_ref_prev"] = prev
	} else {
		delete(m, "phx_ref_prev")
	}
	data, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("presence: encode meta: %w", err)
	}
	return data, nil
}

// Track adds a presence for key in topic, held by owner (for a channel,
// its ID), with meta plus a fresh "phx_ref", which it returns. Local
// subscribers of topic get a presence_diff before Track returns, unless
// another goroutine is delivering diffs at that moment (then it does so
// shortly, in order). Tracking the same (owner, topic, key) twice fails
// with [ErrAlreadyTracked].
func (t *Tracker) Track(owner, topic, key string, meta map[string]any) (string, error) {
	ref := newRef()
	data, err := encodeMeta(meta, ref, "")
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return "", ErrClosed
	}
	v, err := t.state.Add(crdt.Key{Topic: topic, Owner: owner, Key: key}, data)
	if err != nil {
		t.mu.Unlock()
		if errors.Is(err, crdt.ErrExists) {
			return "", fmt.Errorf("%w: owner %q, topic %q, key %q", ErrAlreadyTracked, owner, topic, key)
		}
		return "", fmt.Errorf("presence: track: %w", err)
	}
	start := t.queueLocked([]crdt.Value{v}, nil)
	t.mu.Unlock()
	t.flush(start)
	return ref, nil
}

// Update replaces the meta of an existing presence. The new meta gets a
// new "phx_ref" (returned) and "phx_ref_prev" = the old one; subscribers
// see one diff that joins the new meta and leaves the old. It fails with
// [ErrNotTracked] if there is no such presence.
func (t *Tracker) Update(owner, topic, key string, meta map[string]any) (string, error) {
	ref := newRef()
	k := crdt.Key{Topic: topic, Owner: owner, Key: key}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return "", ErrClosed
	}
	old, ok := t.state.Lookup(k)
	if !ok || old.Tag.Replica != t.self {
		t.mu.Unlock()
		return "", fmt.Errorf("%w: owner %q, topic %q, key %q", ErrNotTracked, owner, topic, key)
	}
	data, err := encodeMeta(meta, ref, Meta(old.Meta).Ref())
	if err != nil {
		t.mu.Unlock()
		return "", err
	}
	was, now, err := t.state.Update(k, data)
	if err != nil {
		t.mu.Unlock()
		return "", fmt.Errorf("presence: update: %w", err)
	}
	start := t.queueLocked([]crdt.Value{now}, []crdt.Value{was})
	t.mu.Unlock()
	t.flush(start)
	return ref, nil
}

// Untrack removes owner's presence for key in topic. Untracking what is
// not tracked does nothing.
func (t *Tracker) Untrack(owner, topic, key string) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	v, ok := t.state.Remove(crdt.Key{Topic: topic, Owner: owner, Key: key})
	start := false
	if ok {
		start = t.queueLocked(nil, []crdt.Value{v})
	}
	t.mu.Unlock()
	t.flush(start)
	return nil
}

// UntrackAll removes every presence of owner, in every topic.
func (t *Tracker) UntrackAll(owner string) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	leaves := t.state.RemoveOwner(owner)
	start := t.queueLocked(nil, leaves)
	t.mu.Unlock()
	t.flush(start)
	return nil
}

// List returns the presences of topic, by key, leaving out those of
// replicas that are down, after [Config.Fetch]. The result is the
// caller's, but its Metas must not be modified. If Fetch panics, List
// returns an empty map rather than presences Fetch did not finish.
func (t *Tracker) List(topic string) map[string]Presence {
	out, err := t.list(topic)
	if err != nil {
		return map[string]Presence{}
	}
	return out
}

func (t *Tracker) list(topic string) (map[string]Presence, error) {
	t.mu.Lock()
	vs := t.state.List(topic)
	t.mu.Unlock()
	out := group(vs)
	if t.cfg.Fetch != nil {
		if err := t.fetch(topic, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetch calls Config.Fetch, turning a panic into ErrFetchPanicked, logged
// with its stack.
func (t *Tracker) fetch(topic string, presences map[string]Presence) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.cfg.Logger.Error("presence: Config.Fetch panicked", "tracker", t.cfg.Name, "topic", topic,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrFetchPanicked, r)
		}
	}()
	t.cfg.Fetch(topic, presences)
	return nil
}

// Get returns the presence of key in topic (without Fetch).
func (t *Tracker) Get(topic, key string) (Presence, bool) {
	t.mu.Lock()
	vs := t.state.Get(topic, key)
	t.mu.Unlock()
	if len(vs) == 0 {
		return Presence{}, false
	}
	return group(vs)[key], true
}

// State returns the presence_state payload of topic: List(topic) encoded,
// or ErrFetchPanicked.
func (t *Tracker) State(topic string) (json.RawMessage, error) {
	if t.cfg.Fetch != nil {
		ps, err := t.list(topic)
		if err != nil {
			return nil, err
		}
		return EncodeState(ps)
	}
	t.mu.Lock()
	vs := t.state.List(topic)
	t.mu.Unlock()
	return encodeState(vs), nil
}

// queueLocked groups joins and leaves by topic into diffs waiting for
// delivery, and reports whether the caller must deliver them (nobody else
// is). t.mu must be held.
func (t *Tracker) queueLocked(joins, leaves []crdt.Value) bool {
	if len(joins) == 0 && len(leaves) == 0 {
		return false
	}
	first := len(t.diffs)
	at := func(topic string) *topicDiff {
		for i := first; i < len(t.diffs); i++ {
			if t.diffs[i].topic == topic {
				return &t.diffs[i]
			}
		}
		t.diffs = append(t.diffs, topicDiff{topic: topic})
		return &t.diffs[len(t.diffs)-1]
	}
	if len(joins)+len(leaves) > 16 {
		// Many topics at once (a replica going down): index them.
		idx := make(map[string]int)
		at = func(topic string) *topicDiff {
			i, ok := idx[topic]
			if !ok {
				i = len(t.diffs)
				idx[topic] = i
				t.diffs = append(t.diffs, topicDiff{topic: topic})
			}
			return &t.diffs[i]
		}
	}
	for _, v := range joins {
		d := at(v.Key.Topic)
		d.joins = append(d.joins, v)
	}
	for _, v := range leaves {
		d := at(v.Key.Topic)
		d.leaves = append(d.leaves, v)
	}
	if t.flushing {
		return false
	}
	t.flushing = true
	return true
}

// flush delivers the waiting diffs, in order, if start says this goroutine
// is the one to do it; it keeps going until none is left.
func (t *Tracker) flush(start bool) {
	if !start {
		return
	}
	for {
		t.mu.Lock()
		batch := t.diffs
		t.diffs = nil
		if len(batch) == 0 {
			t.flushing = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		for i := range batch {
			t.publish(&batch[i])
		}
	}
}

// publish sends one topic's diff to this node's subscribers.
func (t *Tracker) publish(d *topicDiff) {
	if t.cfg.LocalBroadcast == nil && t.ps.Subscribers(d.topic) == 0 {
		return
	}
	diff := Diff{Joins: group(d.joins), Leaves: group(d.leaves)}
	if t.cfg.Fetch != nil {
		// A panicking Fetch loses this diff only (logged by fetch); the
		// flush goes on with the others.
		if len(diff.Joins) > 0 && t.fetch(d.topic, diff.Joins) != nil {
			return
		}
		if len(diff.Leaves) > 0 && t.fetch(d.topic, diff.Leaves) != nil {
			return
		}
	}
	payload, err := diff.MarshalJSON()
	if err != nil {
		t.cfg.Logger.Error("presence: encode diff", "topic", d.topic, "err", err)
		return
	}
	if t.cfg.LocalBroadcast != nil {
		if err := t.cfg.LocalBroadcast(d.topic, EventDiff, json.RawMessage(payload)); err != nil {
			t.cfg.Logger.Error("presence: deliver diff", "topic", d.topic, "err", err)
		}
		return
	}
	// The frame channel.LocalBroadcast would build: a V2 broadcast with
	// null refs, JSON text.
	frame := wire.AppendText(nil, wire.Ref{}, wire.Ref{}, d.topic, EventDiff, payload)
	t.ps.LocalBroadcast(&pubsub.Message{Topic: d.topic, Event: EventDiff, Payload: frame})
}

// Close stops the gossip goroutine and, unless
// [Config.SkipPermdownOnClose], tells the other nodes to drop this node's
// presences at once (graceful_permdown). ctx bounds the wait and the
// send. Track and friends fail with [ErrClosed] afterwards; List still
// answers from the last state.
func (t *Tracker) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		t.mu.Unlock()
		close(t.stop)
		select {
		case <-t.done:
		case <-ctx.Done():
			t.cancel() // abort a blocked send; the loop then ends
			<-t.done
		}
		t.wg.Wait()
		t.ps.Unsubscribe(t.topic, t.sub)
		if !t.cfg.SkipPermdownOnClose {
			e := envelope{kind: kindGracefulPermdown, from: t.self, node: t.ps.Node()}
			m := &pubsub.Message{Topic: t.topic, Event: kindGracefulPermdown.String(), Payload: e.marshal(), Binary: true}
			if _, err := t.ps.Broadcast(ctx, m); err != nil {
				t.closeErr = fmt.Errorf("presence: graceful permdown: %w", err)
			}
		}
		t.cancel()
	})
	return t.closeErr
}
