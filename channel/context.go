package channel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/wire"
)

type mailKind uint8

const (
	mailJoin mailKind = iota
	mailIn
	mailLeave
	mailInfo
	mailOut
	mailClose
	mailDuplicate
)

// mail is one mailbox entry: a client frame (msg), a server message
// (info), or an intercepted broadcast (out).
type mail struct {
	kind mailKind
	msg  wire.Message
	info any
	out  *pubsub.Message
	// replay marks an intercepted broadcast replayed at join: it passes
	// the floor that drops the live copies.
	replay bool
}

// state of a channel instance.
const (
	stateJoining int32 = iota
	stateJoined
	stateDead
)

// Context is one joined channel: what a [Channel]'s callbacks use to reply,
// push, broadcast and schedule work. Its methods are safe for concurrent
// use.
type Context struct {
	sock    *Socket
	topic   string
	pattern string   // the route pattern, the metrics label
	hist    *history // the route's history, or nil
	joinRef wire.Ref
	id      string
	impl    Channel
	assigns map[string]any
	// replaces is the channel this one's join replaces (a duplicate join):
	// it is stopped before Join runs and its phx_close follows the reply.
	replaces *Context
	// stopped is closed when a replaced channel has terminated.
	stopped chan struct{}

	state      atomic.Int32
	intercepts map[string]bool // set once after join
	// floor is the newest history offset the client has when joined:
	// recorded broadcasts at or below it are dropped (see the package
	// doc, "Missed-message recovery").
	floor atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards the fields below.
	mu          sync.Mutex
	mbox        []mail
	running     bool
	overflow    bool
	pending     []pendingFrame // pushes and broadcasts while joining, sent after the reply
	subs        map[string]*infoSubscriber
	timers      map[*time.Timer]struct{}
	onTerminate []func()
}

func newContext(s *Socket, topic string, joinRef wire.Ref, impl Channel) *Context {
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	c := &Context{
		sock:    s,
		topic:   topic,
		joinRef: joinRef,
		id:      base64.RawURLEncoding.EncodeToString(idb[:]),
		impl:    impl,
		assigns: maps.Clone(s.assigns),
	}
	if c.assigns == nil {
		c.assigns = make(map[string]any)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Topic returns the channel's topic.
func (c *Context) Topic() string { return c.topic }

// JoinRef returns the join reference of this channel instance.
func (c *Context) JoinRef() string { return c.joinRef.Value }

// ID returns an id unique to this channel instance (the owner of its
// presences).
func (c *Context) ID() string { return c.id }

// SocketID returns the connection's socket id, or "".
func (c *Context) SocketID() string { return c.sock.id }

// Assigns returns this channel's assigns: a copy of the connection's
// assigns made at join, owned by the channel from then on. Use it only from
// the channel's callbacks.
func (c *Context) Assigns() map[string]any { return c.assigns }

// Assign returns one assign as a string, or "".
func (c *Context) Assign(key string) string {
	s, _ := c.assigns[key].(string)
	return s
}

// PubSub returns the PubSub the channel is subscribed on.
func (c *Context) PubSub() *pubsub.PubSub { return c.sock.srv.cfg.PubSub }

// Context returns a context cancelled when the channel ends.
func (c *Context) Context() context.Context { return c.ctx }

// Logger returns a logger with the socket and topic attributes.
func (c *Context) Logger() *slog.Logger { return c.sock.log().With("topic", c.topic) }

// Push sends event to this client only.
func (c *Context) Push(event string, payload any) error {
	data, binary, err := encodePayload(payload)
	if err != nil {
		return err
	}
	var frame []byte
	if binary {
		frame, err = wire.AppendBinaryPush(nil, c.joinRef, c.topic, event, data)
		if err != nil {
			return fmt.Errorf("channel: push: %w", err)
		}
	} else {
		frame = wire.AppendText(nil, c.joinRef, wire.Ref{}, c.topic, event, data)
	}
	return c.send(wire.Frame{Data: frame, Binary: binary})
}

// pendingFrame is a frame held while joining, with its history offset (0
// for none).
type pendingFrame struct {
	f      wire.Frame
	offset uint64
}

// send writes f to the connection, or holds it until the join reply has
// gone out.
func (c *Context) send(f wire.Frame) error { return c.sendAt(f, 0) }

// sendAt is send for a frame at a history offset (0 for none).
func (c *Context) sendAt(f wire.Frame, offset uint64) error {
	switch c.state.Load() {
	case stateDead:
		return ErrNotJoined
	case stateJoining:
		c.mu.Lock()
		if c.state.Load() == stateJoining {
			c.pending = append(c.pending, pendingFrame{f, offset})
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
	}
	return c.sock.conn.Send(f)
}

// Broadcast sends event to every subscriber of the topic, this client
// included, on every node, recording it in the topic's history if the
// route keeps one.
func (c *Context) Broadcast(event string, payload any) error {
	c.sock.srv.m.broadcasts.Inc()
	return c.sock.srv.broadcast(c.ctx, c.topic, event, payload, nil)
}

// BroadcastFrom is Broadcast that skips this channel.
func (c *Context) BroadcastFrom(event string, payload any) error {
	c.sock.srv.m.broadcasts.Inc()
	return c.sock.srv.broadcast(c.ctx, c.topic, event, payload, c)
}

// Reply answers a pushed message, possibly long after HandleIn returned.
func (c *Context) Reply(ref ReplyRef, r *Reply) error {
	if c.state.Load() == stateDead || ref.joinRef != c.joinRef {
		return ErrNotJoined
	}
	frame, binary, err := c.replyFrame(ref.ref, r)
	if err != nil {
		return err
	}
	return c.sock.conn.Send(wire.Frame{Data: frame, Binary: binary})
}

func (c *Context) replyFrame(ref wire.Ref, r *Reply) ([]byte, bool, error) {
	status := r.Status
	if status == "" {
		status = "ok"
	}
	data, binary, err := encodePayload(r.Response)
	if err != nil {
		return nil, false, err
	}
	if binary {
		frame, err := wire.AppendBinaryReply(nil, c.joinRef, ref, c.topic, status, data)
		if err != nil {
			return nil, false, fmt.Errorf("channel: reply: %w", err)
		}
		return frame, true, nil
	}
	return wire.AppendReply(nil, c.joinRef, ref, c.topic, status, data), false, nil
}

// Send delivers msg to the channel's HandleInfo, after what is already in
// its mailbox. It reports false if the channel has ended or its mailbox
// overflowed (which crashes the channel).
func (c *Context) Send(msg any) bool {
	return c.enqueue(mail{kind: mailInfo, info: msg}) || c.markOverflow()
}

// SendAfter delivers msg to HandleInfo after d, unless the channel ends
// first or cancel is called.
func (c *Context) SendAfter(d time.Duration, msg any) (cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateDead {
		return func() {}
	}
	if c.timers == nil {
		c.timers = make(map[*time.Timer]struct{})
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		_, live := c.timers[t]
		delete(c.timers, t)
		c.mu.Unlock()
		if live {
			c.Send(msg)
		}
	})
	c.timers[t] = struct{}{}
	return func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
		t.Stop()
	}
}

// Subscribe delivers the messages of another pubsub topic to HandleInfo as
// *pubsub.Message, until the channel ends.
func (c *Context) Subscribe(topic string) error {
	c.mu.Lock()
	if c.state.Load() == stateDead {
		c.mu.Unlock()
		return ErrNotJoined
	}
	if c.subs == nil {
		c.subs = make(map[string]*infoSubscriber)
	}
	if _, ok := c.subs[topic]; ok {
		c.mu.Unlock()
		return nil
	}
	sub := &infoSubscriber{c: c}
	c.subs[topic] = sub
	c.mu.Unlock()
	if err := c.PubSub().Subscribe(topic, sub); err != nil {
		return fmt.Errorf("channel: subscribe %q: %w", topic, err)
	}
	return nil
}

// OnTerminate registers f to run when the channel ends, after Terminate.
func (c *Context) OnTerminate(f func()) {
	c.mu.Lock()
	c.onTerminate = append(c.onTerminate, f)
	c.mu.Unlock()
}

type infoSubscriber struct{ c *Context }

func (s *infoSubscriber) Deliver(m *pubsub.Message) { s.c.Send(m) }

// Deliver implements pubsub.Subscriber: the fastlane. A broadcast goes to
// the connection as the frame it already is, unless intercepted.
func (c *Context) Deliver(m *pubsub.Message) {
	if m.Offset != 0 && m.Offset <= c.floor.Load() {
		return // the client has it (replayed, or covered by its position)
	}
	if c.intercepts[m.Event] {
		if !c.enqueue(mail{kind: mailOut, out: m}) {
			c.markOverflow()
		}
		return
	}
	if c.sendAt(wire.Frame{Data: m.Payload, Binary: m.Binary}, m.Offset) == nil {
		c.sock.srv.m.deliveries.Inc()
	}
}

// enqueue adds to the mailbox unless it is full or the channel is dead.
func (c *Context) enqueue(m mail) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateDead {
		return false
	}
	if len(c.mbox) >= c.sock.srv.cfg.MailboxSize {
		return false
	}
	c.mbox = append(c.mbox, m)
	c.kickLocked()
	return true
}

// enqueueForce adds a control message whatever the mailbox size.
func (c *Context) enqueueForce(m mail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mbox = append(c.mbox, m)
	c.kickLocked()
}

func (c *Context) markOverflow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateDead {
		return false
	}
	c.overflow = true
	c.kickLocked()
	return false
}

func (c *Context) kickLocked() {
	if c.running {
		return
	}
	c.running = true
	c.sock.wg.Add(1)
	go c.run()
}

// run serves the mailbox until it is empty.
func (c *Context) run() {
	defer c.sock.wg.Done()
	for {
		c.mu.Lock()
		if c.overflow && c.state.Load() != stateDead {
			c.overflow = false
			c.mu.Unlock()
			c.sock.srv.m.limits.With(LimitMailbox).Inc()
			c.sock.log().Error("channel: mailbox overflow", "topic", c.topic, "limit", c.sock.srv.cfg.MailboxSize)
			c.terminate(ErrOverflow, true)
			continue
		}
		if len(c.mbox) == 0 {
			c.running = false
			c.mbox = nil
			c.mu.Unlock()
			return
		}
		m := c.mbox[0]
		c.mbox[0] = mail{}
		c.mbox = c.mbox[1:]
		c.mu.Unlock()
		c.handle(m)
	}
}

func (c *Context) handle(m mail) {
	dead := c.state.Load() == stateDead
	switch m.kind {
	case mailJoin:
		if !dead {
			c.doJoin(m.msg)
		}
	case mailIn:
		if !dead {
			c.doIn(m.msg)
		}
	case mailLeave:
		if !dead {
			c.sock.send(wire.AppendReply(nil, c.joinRef, m.msg.Ref, c.topic, "ok", nil))
			c.terminate(ErrLeft, false)
			c.sock.send(wire.AppendText(nil, c.joinRef, c.joinRef, c.topic, wire.EventClose, nil))
		}
	case mailInfo:
		if h, ok := c.impl.(InfoHandler); ok && !dead {
			c.callback("handle_info", func() error { return h.HandleInfo(c, m.info) })
		}
	case mailOut:
		if !m.replay && m.out.Offset != 0 && m.out.Offset <= c.floor.Load() {
			return
		}
		if h, ok := c.impl.(Interceptor); ok && !dead {
			payload, err := BroadcastPayload(m.out)
			if err != nil {
				return
			}
			c.callback("handle_out", func() error { return h.HandleOut(c, m.out.Event, payload) })
		}
	case mailClose:
		if !dead {
			c.terminate(ErrClosed, false)
		}
	case mailDuplicate:
		if !dead {
			c.terminate(ErrDuplicateJoin, false)
		}
		close(c.stopped)
	}
}

// protect runs f, turning a panic into a *PanicError.
func protect(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// replacedTimeout bounds the wait for a replaced channel to stop, as
// Phoenix waits 5 s for the old channel of a duplicate join.
const replacedTimeout = 5 * time.Second

func (c *Context) doJoin(m wire.Message) {
	if old := c.replaces; old != nil {
		c.replaces = nil
		t := time.NewTimer(replacedTimeout)
		select {
		case <-old.stopped:
		case <-t.C:
			c.sock.log().Error("channel: replaced channel did not stop in time", "topic", c.topic)
		}
		t.Stop()
		// The old instance's phx_close goes out after this join's reply;
		// the client drops it, since it carries the old join ref.
		defer c.sock.send(wire.AppendText(nil, old.joinRef, old.joinRef, c.topic, wire.EventClose, nil))
	}
	// With a history, a bad position refuses before the app's Join runs.
	var (
		st     *stream
		pos    Position
		hasPos bool
	)
	if c.hist != nil {
		var perr error
		pos, hasPos, perr = parsePosition(m.Payload)
		st = c.hist.stream(c.topic, c.PubSub())
		if cur := st.position(); perr == nil && hasPos && pos.Epoch == cur.Epoch && pos.Offset > cur.Offset {
			perr = fmt.Errorf("%w: offset %d beyond the newest, %d", ErrBadPosition, pos.Offset, cur.Offset)
		}
		if perr != nil {
			c.sock.srv.m.refused.With(c.pattern, "invalid recovery position").Inc()
			c.sock.srv.cfg.Logger.Debug("channel: join refused", "topic", c.topic, "err", perr)
			c.die()
			c.sock.send(wire.AppendReply(nil, c.joinRef, m.Ref, c.topic, "error", []byte(`{"reason":"invalid recovery position"}`)))
			return
		}
	}
	var reply any
	err := protect(func() error {
		var err error
		reply, err = c.impl.Join(c, json.RawMessage(m.Payload))
		return err
	})
	if err != nil {
		var je *JoinError
		response := any(map[string]string{"reason": "join crashed"})
		reason := "refused"
		if errors.As(err, &je) {
			response = je.Response
		} else {
			reason = "join crashed"
			c.logFailure("join", err)
		}
		c.sock.srv.m.refused.With(c.pattern, reason).Inc()
		c.sock.srv.cfg.Logger.Debug("channel: join refused", "topic", c.topic, "err", err)
		data, _, encErr := encodePayload(response)
		if encErr != nil {
			data = []byte(`{"reason":"join crashed"}`)
		}
		// Forget the channel before answering, so a client that has the
		// reply never sees it still joined.
		c.die()
		c.sock.send(wire.AppendReply(nil, c.joinRef, m.Ref, c.topic, "error", data))
		return
	}
	if ic, ok := c.impl.(Interceptor); ok {
		c.intercepts = make(map[string]bool)
		for _, ev := range ic.Intercepts() {
			c.intercepts[ev] = true
		}
	}
	data, _, err := encodePayload(reply)
	if err != nil {
		c.logFailure("join reply", err)
		data = []byte("{}")
	}
	var p0 Position
	if st != nil {
		p0 = st.position() // read before subscribing: see the package doc
	}
	if err := c.PubSub().Subscribe(c.topic, c); err != nil {
		c.logFailure("subscribe", err)
		c.sock.srv.m.refused.With(c.pattern, "join crashed").Inc()
		c.die()
		c.sock.send(wire.AppendReply(nil, c.joinRef, m.Ref, c.topic, "error", []byte(`{"reason":"join crashed"}`)))
		return
	}
	// Counted before the reply goes out, so whoever sees the reply sees
	// the join counted (the state becomes joined below, on this goroutine,
	// before anything can end the channel).
	sm := &c.sock.srv.m
	sm.joins.With(c.pattern).Inc()
	sm.joined.With(c.pattern).Inc()
	var replay []*pubsub.Message
	if st != nil {
		if h := c.sock.srv.subscribedHook; h != nil {
			h(c.topic)
		}
		replay, data = c.recoverFrom(st, p0, pos, hasPos, data)
	}
	floor := c.floor.Load()
	// The reply, the replayed history, then what arrived while joining,
	// then everything else: holding mu keeps a concurrent send from
	// slipping in between.
	c.mu.Lock()
	c.sock.send(wire.AppendReply(nil, c.joinRef, m.Ref, c.topic, "ok", data))
	var outs []mail
	for _, r := range replay {
		if c.intercepts[r.Event] {
			outs = append(outs, mail{kind: mailOut, out: r, replay: true})
			continue
		}
		_ = c.sock.conn.Send(wire.Frame{Data: r.Payload})
	}
	if len(outs) > 0 {
		// Before the live copies already queued, which the floor drops.
		c.mbox = append(outs, c.mbox...)
	}
	for _, p := range c.pending {
		if p.offset != 0 && p.offset <= floor {
			continue
		}
		_ = c.sock.conn.Send(p.f)
	}
	c.pending = nil
	c.state.Store(stateJoined)
	c.mu.Unlock()
}

// recoverFrom snapshots the history for a joining channel subscribed
// since p0: the broadcasts after the client's position (or after p0 for a
// fresh join). It sets the floor and returns the replay and the reply with
// "_recovery", whose offset is where the client stands when the reply
// arrives (the replayed frames that follow advance it).
func (c *Context) recoverFrom(st *stream, p0, pos Position, hasPos bool, reply []byte) ([]*pubsub.Message, []byte) {
	var (
		replay    []*pubsub.Message
		newest    uint64
		ok        bool
		recovered bool
		at        = Position{Epoch: st.epoch}
	)
	switch {
	case hasPos && pos.Epoch == st.epoch:
		replay, newest, ok = st.since(pos.Offset)
		ok = ok && len(replay) <= c.hist.cfg.MaxReplay
		recovered = ok
		at.Offset = pos.Offset
		if !ok {
			at.Offset = newest
		}
	case hasPos:
		_, newest, _ = st.since(p0.Offset)
		at.Offset = newest
	default:
		replay, newest, ok = st.since(p0.Offset)
		at.Offset = p0.Offset
		if !ok {
			// Evicted between p0 and now (a tiny window): no replay, and
			// every live frame since subscribing goes out.
			replay, newest = nil, 0
		}
	}
	if hasPos && !recovered {
		replay = nil
	}
	c.floor.Store(newest)
	var rp *bool
	if hasPos {
		rp = &recovered
	}
	out, okReply := withRecovery(reply, at, rp)
	if !okReply {
		c.sock.log().Warn("channel: join reply is not an object: no recovery position sent", "topic", c.topic)
	}
	return replay, out
}

func (c *Context) doIn(m wire.Message) {
	msg := Message{Event: m.Event, ref: ReplyRef{joinRef: c.joinRef, ref: m.Ref}}
	if m.Binary {
		msg.Binary = m.Payload
	} else {
		msg.Payload = m.Payload
	}
	var reply *Reply
	err := protect(func() error {
		var err error
		reply, err = c.impl.HandleIn(c, msg)
		return err
	})
	if reply != nil {
		frame, binary, encErr := c.replyFrame(m.Ref, reply)
		if encErr != nil {
			c.logFailure("reply", encErr)
		} else {
			_ = c.sock.conn.Send(wire.Frame{Data: frame, Binary: binary})
		}
	}
	if err != nil {
		c.stopWith("handle_in", err)
	}
}

// callback runs an info or out handler and stops the channel on error.
func (c *Context) callback(name string, f func() error) {
	if err := protect(f); err != nil {
		c.stopWith(name, err)
	}
}

// stopWith ends the channel: normally (phx_close) for a *StopError,
// as a crash (phx_error) otherwise.
func (c *Context) stopWith(where string, err error) {
	var stop *StopError
	if errors.As(err, &stop) {
		c.terminate(err, false)
		c.sock.send(wire.AppendText(nil, c.joinRef, c.joinRef, c.topic, wire.EventClose, nil))
		return
	}
	c.logFailure(where, err)
	c.terminate(err, true)
}

func (c *Context) logFailure(where string, err error) {
	var pe *PanicError
	if errors.As(err, &pe) {
		c.sock.log().Error("channel: "+where+" panicked", "topic", c.topic, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		return
	}
	c.sock.log().Error("channel: "+where+" failed", "topic", c.topic, "err", err)
}

// terminate runs Terminate and the OnTerminate hooks, releases the
// channel's subscriptions and timers, and, for a crash, sends phx_error.
func (c *Context) terminate(reason error, crashed bool) {
	if c.state.Load() == stateDead {
		return
	}
	if t, ok := c.impl.(Terminator); ok {
		if err := protect(func() error { t.Terminate(c, reason); return nil }); err != nil {
			c.logFailure("terminate", err)
		}
	}
	c.die()
	if crashed {
		c.sock.srv.m.crashes.With(c.pattern).Inc()
		c.sock.send(wire.AppendText(nil, c.joinRef, c.joinRef, c.topic, wire.EventError, []byte(`{"reason":"channel_crash"}`)))
	}
}

// die marks the channel dead and releases everything it holds.
func (c *Context) die() {
	c.mu.Lock()
	if c.state.Swap(stateDead) == stateJoined {
		c.sock.srv.m.joined.With(c.pattern).Dec()
	}
	subs := c.subs
	c.subs = nil
	for t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	hooks := c.onTerminate
	c.onTerminate = nil
	c.pending = nil
	c.mu.Unlock()
	c.cancel()
	ps := c.PubSub()
	ps.Unsubscribe(c.topic, c)
	for _, topic := range slices.Sorted(maps.Keys(subs)) {
		ps.Unsubscribe(topic, subs[topic])
	}
	for _, f := range hooks {
		if err := protect(func() error { f(); return nil }); err != nil {
			c.logFailure("terminate hook", err)
		}
	}
	c.sock.remove(c)
}
