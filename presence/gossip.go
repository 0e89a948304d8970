package presence

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/parley-go/parley/presence/crdt"
	"github.com/parley-go/parley/pubsub"
)

// gossipSub receives the gossip topic. Deliver runs under a pubsub shard
// lock, so it only queues.
type gossipSub struct{ t *Tracker }

func (s *gossipSub) Deliver(m *pubsub.Message) {
	t := s.t
	t.inMu.Lock()
	if len(t.inbox) >= inboxLimit {
		t.dropped++
		dropped := t.dropped
		t.inMu.Unlock()
		if dropped&(dropped-1) == 0 { // log at powers of two
			t.cfg.Logger.Warn("presence: gossip inbox full, message dropped", "tracker", t.cfg.Name, "dropped", dropped)
		}
		return
	}
	t.inbox = append(t.inbox, m.Payload)
	t.inMu.Unlock()
	select {
	case t.inWake <- struct{}{}:
	default:
	}
}

// loop is the gossip goroutine: ticks and incoming gossip, until stop.
func (t *Tracker) loop() {
	defer t.wg.Done()
	defer close(t.done)
	period := t.cfg.BroadcastPeriod
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(period)/4 + 1)))
	defer timer.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-timer.C:
			t.tick(time.Now())
			timer.Reset(period)
		case <-t.inWake:
			t.inMu.Lock()
			batch := t.inbox
			t.inbox = nil
			t.inMu.Unlock()
			for _, data := range batch {
				t.receive(data, time.Now())
			}
		}
	}
}

// tick is one broadcast period (§4.3): heartbeat, transfer requests, down
// detection.
func (t *Tracker) tick(now time.Time) {
	t.ticks++

	// 1. Heartbeat with the delta, or an empty one every so often.
	t.mu.Lock()
	var delta *crdt.Delta
	send := false
	if t.state.HasDelta() {
		delta = t.state.TakeDelta()
		send = true
		t.silent = 0
	} else if t.silent >= t.cfg.MaxSilentPeriods {
		send = true
		t.silent = 0
	} else {
		t.silent++
	}
	var clocks map[crdt.Replica]uint64
	if send || t.ticks%t.cfg.ClockSamplePeriods == 0 {
		clocks = t.state.Clocks()
	}
	t.mu.Unlock()
	if send {
		e := envelope{kind: kindHeartbeat, from: t.self, node: t.ps.Node(), clocks: clocks}
		if delta != nil {
			e.delta, _ = delta.MarshalBinary()
		}
		t.broadcast(&e)
		t.stats.heartbeats.Add(1)
	}

	// 2. Transfer requests to the replicas whose clocks are ahead.
	if t.ticks%t.cfg.ClockSamplePeriods == 0 {
		for _, r := range maximal(t.self, clocks, t.samples) {
			p := t.peers[r.Name]
			if p == nil || p.rep != r {
				continue
			}
			t.nextID++
			e := envelope{kind: kindTransferReq, from: t.self, node: t.ps.Node(), to: r, id: t.nextID, clocks: clocks}
			t.cfg.Logger.Debug("presence: transfer requested", "tracker", t.cfg.Name, "to", r.String(), "id", t.nextID)
			t.direct(p.node, &e)
			t.stats.transferReqs.Add(1)
		}
		clear(t.samples)
	}

	// 3. Down and permdown by silence.
	t.mu.Lock()
	start := false
	for name, p := range t.peers {
		age := now.Sub(p.last)
		switch {
		case age > t.cfg.PermdownPeriod:
			t.cfg.Logger.Info("presence: replica permanently down", "tracker", t.cfg.Name, "replica", p.rep.String())
			start = t.queueLocked(nil, t.state.Permdown(p.rep)) || start
			delete(t.peers, name)
			delete(t.samples, p.rep)
		case age > t.cfg.DownPeriod && !p.down:
			t.cfg.Logger.Info("presence: replica down", "tracker", t.cfg.Name, "replica", p.rep.String())
			p.down = true
			start = t.queueLocked(nil, t.state.Down(p.rep)) || start
		}
	}
	t.mu.Unlock()
	t.flush(start)
}

// maximal returns the replicas, other than self, whose sampled clocks no
// other sample (nor self's own clocks) dominates. Self goes first, so a
// remote clock equal to ours is not asked for anything.
func maximal(self crdt.Replica, own map[crdt.Replica]uint64, samples map[crdt.Replica]map[crdt.Replica]uint64) []crdt.Replica {
	if len(samples) == 0 {
		return nil
	}
	type sample struct {
		rep    crdt.Replica
		clocks map[crdt.Replica]uint64
	}
	reps := slices.Collect(func(yield func(crdt.Replica) bool) {
		for r := range samples {
			if !yield(r) {
				return
			}
		}
	})
	slices.SortFunc(reps, func(a, b crdt.Replica) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Vsn, b.Vsn))
	})
	kept := []sample{{self, own}}
	for _, r := range reps {
		c := samples[r]
		if slices.ContainsFunc(kept, func(k sample) bool { return dominates(k.clocks, c) }) {
			continue
		}
		kept = slices.DeleteFunc(kept, func(k sample) bool { return dominates(c, k.clocks) })
		kept = append(kept, sample{r, c})
	}
	var out []crdt.Replica
	for _, k := range kept {
		if k.rep != self {
			out = append(out, k.rep)
		}
	}
	return out
}

// dominates reports whether a has seen everything b has: a[r] ≥ b[r] for
// every replica (missing counts as 0).
func dominates(a, b map[crdt.Replica]uint64) bool {
	for r, c := range b {
		if a[r] < c {
			return false
		}
	}
	return true
}

func (t *Tracker) broadcast(e *envelope) {
	m := &pubsub.Message{Topic: t.topic, Event: e.kind.String(), Payload: e.marshal(), Binary: true}
	if _, err := t.ps.BroadcastFrom(t.ctx, t.sub, m); err != nil {
		t.cfg.Logger.Warn("presence: gossip broadcast failed", "tracker", t.cfg.Name, "kind", e.kind.String(), "err", err)
	}
}

func (t *Tracker) direct(node string, e *envelope) {
	m := &pubsub.Message{Topic: t.topic, Event: e.kind.String(), Payload: e.marshal(), Binary: true}
	if err := t.ps.DirectBroadcast(t.ctx, node, m); err != nil {
		t.cfg.Logger.Warn("presence: gossip direct send failed", "tracker", t.cfg.Name, "kind", e.kind.String(), "node", node, "err", err)
	}
}

// receive handles one gossip message.
func (t *Tracker) receive(data []byte, now time.Time) {
	var e envelope
	if err := e.unmarshal(data); err != nil {
		t.cfg.Logger.Warn("presence: bad gossip message", "tracker", t.cfg.Name, "err", err)
		return
	}
	if e.from.Name == t.self.Name {
		return // ours, or an earlier incarnation of ours
	}
	if e.kind == kindTransferReq || e.kind == kindTransferAck {
		if e.to != t.self {
			return // meant for another incarnation
		}
	}
	var delta *crdt.Delta
	if len(e.delta) > 0 {
		delta = new(crdt.Delta)
		if err := delta.UnmarshalBinary(e.delta); err != nil {
			t.cfg.Logger.Warn("presence: bad delta", "tracker", t.cfg.Name, "from", e.from.String(), "err", err)
			return
		}
		if delta.From() != e.from {
			t.cfg.Logger.Warn("presence: delta from another replica", "tracker", t.cfg.Name, "from", e.from.String(), "delta", delta.From().String())
			return
		}
	}
	switch e.kind {
	case kindHeartbeat:
		t.mu.Lock()
		start := t.upLocked(e.from, e.node, now)
		if delta != nil {
			start = t.queueLocked(t.state.Merge(delta)) || start
			t.stats.merges.Add(1)
		}
		t.mu.Unlock()
		t.samples[e.from] = e.clocks
		t.flush(start)

	case kindTransferReq:
		p := t.peers[e.from.Name]
		node := e.node
		t.mu.Lock()
		full := t.state.Extract(e.from, e.clocks)
		t.mu.Unlock()
		if p != nil && p.rep == e.from {
			node = p.node
		}
		b, _ := full.MarshalBinary()
		t.cfg.Logger.Debug("presence: transfer sent", "tracker", t.cfg.Name, "to", e.from.String(), "node", node, "id", e.id, "bytes", len(b))
		ack := envelope{kind: kindTransferAck, from: t.self, node: t.ps.Node(), to: e.from, id: e.id, delta: b}
		t.direct(node, &ack)

	case kindTransferAck:
		p := t.peers[e.from.Name]
		if p == nil || p.rep != e.from || delta == nil {
			t.cfg.Logger.Debug("presence: transfer from an unknown replica ignored", "tracker", t.cfg.Name, "from", e.from.String(), "id", e.id)
			return
		}
		t.mu.Lock()
		start := t.upLocked(e.from, e.node, now)
		joins, leaves := t.state.Merge(delta)
		start = t.queueLocked(joins, leaves) || start
		t.mu.Unlock()
		t.cfg.Logger.Debug("presence: transfer merged", "tracker", t.cfg.Name, "from", e.from.String(), "id", e.id, "joins", len(joins), "leaves", len(leaves))
		t.stats.transferAcks.Add(1)
		t.flush(start)

	case kindGracefulPermdown:
		p := t.peers[e.from.Name]
		if p == nil || p.rep != e.from {
			return
		}
		t.cfg.Logger.Debug("presence: replica left", "tracker", t.cfg.Name, "replica", e.from.String())
		t.mu.Lock()
		start := t.queueLocked(nil, t.state.Permdown(e.from))
		t.mu.Unlock()
		delete(t.peers, e.from.Name)
		delete(t.samples, e.from)
		t.flush(start)
	}
}

// heartbeatSoon makes the next tick send a heartbeat with our clocks even
// without local changes: a replica that appears (a new node, a restarted
// one, one back from down) learns from it that we hold state it lacks and
// asks for a transfer at once, instead of after up to MaxSilentPeriods
// ticks of silence (20 s with the demo's settings). Gossip goroutine only.
func (t *Tracker) heartbeatSoon() { t.silent = t.cfg.MaxSilentPeriods }

// upLocked records that r is alive: a new replica becomes known, a down
// one comes back (its presences join again), and a new incarnation of a
// known name replaces the old one (whose presences leave). It reports
// whether the caller must flush diffs. t.mu must be held.
func (t *Tracker) upLocked(r crdt.Replica, node string, now time.Time) bool {
	start := false
	p := t.peers[r.Name]
	if p != nil && p.rep != r {
		t.cfg.Logger.Info("presence: replica restarted", "tracker", t.cfg.Name, "old", p.rep.String(), "new", r.String())
		start = t.queueLocked(nil, t.state.Permdown(p.rep))
		delete(t.samples, p.rep)
		p = nil
	}
	if p == nil {
		p = &peer{rep: r}
		t.peers[r.Name] = p
		start = t.queueLocked(t.state.Up(r), nil) || start
		t.heartbeatSoon()
	} else if p.down {
		t.cfg.Logger.Info("presence: replica up again", "tracker", t.cfg.Name, "replica", r.String())
		p.down = false
		start = t.queueLocked(t.state.Up(r), nil) || start
		t.heartbeatSoon()
	}
	p.node = node
	p.last = now
	return start
}
