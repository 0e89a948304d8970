package channel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/wire"
)

// History bounds the per-topic history of a route registered with
// [WithHistory]. See the package documentation, "Missed-message recovery".
type History struct {
	// Size is the most broadcasts kept per topic; default 256.
	Size int
	// TTL is the most age of a kept broadcast; default 2 minutes.
	TTL time.Duration
	// MaxBytes bounds the frame bytes kept per topic; default 256 KiB.
	// The oldest entries go first.
	MaxBytes int
	// MaxTopics bounds the topics of the route with a history; default
	// 1000. Beyond it, streams without local subscribers are dropped, so
	// the route holds at most about MaxTopics × MaxBytes (256 MiB at the
	// defaults; lower them for many topics) plus the histories of topics
	// with subscribers on this node.
	MaxTopics int
	// MaxReplay bounds the broadcasts replayed to one rejoining client;
	// default 500. A client that missed more gets recovered: false (and
	// re-fetches), so that a replay never overflows the transport's
	// outbound queue (1024 frames by default), which would disconnect the
	// client and make it rejoin from the same position again.
	MaxReplay int
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// RouteOption configures a route in [Router.Handle].
type RouteOption func(*route)

// WithHistory keeps a history of every topic of the route, bounded by h, so
// that rejoining clients recover the broadcasts they missed.
func WithHistory(h History) RouteOption {
	if h.Size <= 0 {
		h.Size = 256
	}
	if h.TTL <= 0 {
		h.TTL = 2 * time.Minute
	}
	if h.MaxBytes <= 0 {
		h.MaxBytes = 256 << 10
	}
	if h.MaxTopics <= 0 {
		h.MaxTopics = 1000
	}
	if h.MaxReplay <= 0 {
		h.MaxReplay = 500
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	return func(r *route) { r.hist = &history{cfg: h, streams: make(map[string]*stream)} }
}

// ErrBadPosition refuses a join whose recovery position is malformed or
// lies beyond the newest broadcast of the topic.
var ErrBadPosition = errors.New("channel: invalid recovery position")

// ErrClusteredHistory refuses a Server whose PubSub has an adapter and
// whose router has a [WithHistory] route: the history is in-process, and
// offsets numbered by each node would mislead clients across nodes.
var ErrClusteredHistory = errors.New("channel: WithHistory keeps an in-process history, which cannot number broadcasts across nodes (the PubSub has an adapter)")

// Position is a point in one topic's history.
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// history is one route's streams.
type history struct {
	cfg History
	// mu guards streams.
	mu      sync.Mutex
	streams map[string]*stream
}

// stream is one topic's history: a ring of the newest entries.
type stream struct {
	h     *history
	topic string
	epoch string
	// mu guards the fields below; a broadcast holds it while it numbers,
	// records and fans out its message.
	mu    sync.Mutex
	last  uint64  // the newest offset
	ring  []entry // capacity h.cfg.Size
	head  int     // index of the oldest entry
	n     int     // entries in the ring
	bytes int     // frame bytes in the ring
	used  time.Time
}

type entry struct {
	at time.Time
	m  *pubsub.Message
}

func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// stream returns topic's stream, creating it (and making room for it).
func (h *history) stream(topic string, ps *pubsub.PubSub) *stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.streams[topic]; st != nil {
		return st
	}
	if len(h.streams) >= h.cfg.MaxTopics {
		h.evictLocked(ps)
	}
	st := &stream{h: h, topic: topic, epoch: newEpoch(), used: h.cfg.Now()}
	h.streams[topic] = st
	return st
}

// evictLocked drops expired streams without subscribers, then, if still
// full, the least recently used ones without subscribers, until a tenth of
// MaxTopics is free.
func (h *history) evictLocked(ps *pubsub.PubSub) {
	now := h.cfg.Now()
	type cand struct {
		topic string
		used  time.Time
	}
	var cands []cand
	for topic, st := range h.streams {
		if ps.Subscribers(topic) > 0 {
			continue
		}
		st.mu.Lock()
		used := st.used
		st.mu.Unlock()
		if now.Sub(used) > h.cfg.TTL {
			delete(h.streams, topic)
			continue
		}
		cands = append(cands, cand{topic, used})
	}
	want := h.cfg.MaxTopics - max(1, h.cfg.MaxTopics/10)
	if len(h.streams) <= want {
		return
	}
	slices.SortFunc(cands, func(a, b cand) int { return a.used.Compare(b.used) }) // oldest first
	for _, c := range cands {
		if len(h.streams) <= want {
			break
		}
		delete(h.streams, c.topic)
	}
}

// topics returns the number of streams, for tests.
func (h *history) topics() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// expireLocked drops entries older than the TTL.
func (st *stream) expireLocked(now time.Time) {
	for st.n > 0 && now.Sub(st.ring[st.head].at) > st.h.cfg.TTL {
		st.dropOldestLocked()
	}
}

func (st *stream) dropOldestLocked() {
	st.bytes -= len(st.ring[st.head].m.Payload)
	st.ring[st.head] = entry{}
	st.head = (st.head + 1) % len(st.ring)
	st.n--
}

// appendLocked records m as the newest entry.
func (st *stream) appendLocked(now time.Time, m *pubsub.Message) {
	size := st.h.cfg.Size
	if st.ring == nil {
		st.ring = make([]entry, size)
	}
	// The ring holds consecutive offsets ending at the newest (since
	// relies on it): a frame too big to keep empties it, and no client
	// behind it is recovered.
	for st.n > 0 && (st.n == size || st.bytes+len(m.Payload) > st.h.cfg.MaxBytes) {
		st.dropOldestLocked()
	}
	if len(m.Payload) > st.h.cfg.MaxBytes {
		return
	}
	st.ring[(st.head+st.n)%size] = entry{at: now, m: m}
	st.n++
	st.bytes += len(m.Payload)
}

// position returns the stream's epoch and newest offset.
func (st *stream) position() Position {
	st.mu.Lock()
	defer st.mu.Unlock()
	return Position{Epoch: st.epoch, Offset: st.last}
}

// since returns the entries after offset and the newest offset; ok is
// false if the history no longer reaches back to offset+1.
func (st *stream) since(offset uint64) (msgs []*pubsub.Message, newest uint64, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.h.cfg.Now()
	st.expireLocked(now)
	st.used = now
	if offset >= st.last {
		return nil, st.last, offset == st.last
	}
	oldest := st.last - uint64(st.n) + 1 // the offset of ring[head]
	if st.n == 0 || offset+1 < oldest {
		return nil, st.last, false
	}
	skip := int(offset + 1 - oldest)
	msgs = make([]*pubsub.Message, 0, st.n-skip)
	for i := skip; i < st.n; i++ {
		msgs = append(msgs, st.ring[(st.head+i)%len(st.ring)].m)
	}
	return msgs, st.last, true
}

// offsetRef is the ref of a recorded broadcast's frame.
func offsetRef(off uint64) wire.Ref { return wire.StringRef("@" + strconv.FormatUint(off, 10)) }

// broadcast numbers, records and publishes a text broadcast. from, if set,
// is skipped (BroadcastFrom).
func (st *stream) broadcast(ctx context.Context, ps *pubsub.PubSub, event string, data []byte, from pubsub.Subscriber) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.h.cfg.Now()
	st.expireLocked(now)
	off := st.last + 1
	m := &pubsub.Message{
		Topic:   st.topic,
		Event:   event,
		Payload: wire.AppendText(nil, wire.Ref{}, offsetRef(off), st.topic, event, data),
		Offset:  off,
	}
	st.last = off
	st.used = now
	st.appendLocked(now, m)
	// Fanned out under mu, so live deliveries follow offset order and a
	// joining channel's snapshot sees every offset before it or none.
	var err error
	if from != nil {
		_, err = ps.BroadcastFrom(ctx, from, m)
	} else {
		_, err = ps.Broadcast(ctx, m)
	}
	return err
}

// recoverParams is the part of the join params the recovery reads.
type recoverParams struct {
	Recover json.RawMessage `json:"_recover"`
}

// parsePosition reads {"_recover": {"epoch", "offset"}} from join params;
// ok is false when the params carry none.
func parsePosition(payload []byte) (pos Position, ok bool, err error) {
	var p recoverParams
	if json.Unmarshal(payload, &p) != nil || len(p.Recover) == 0 || string(p.Recover) == "null" {
		return Position{}, false, nil // not an object, or no position: a fresh join
	}
	var raw struct {
		Epoch  *string      `json:"epoch"`
		Offset *json.Number `json:"offset"`
	}
	dec := json.NewDecoder(bytes.NewReader(p.Recover))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil || raw.Epoch == nil || raw.Offset == nil {
		return Position{}, false, fmt.Errorf("%w: want {\"epoch\": string, \"offset\": integer}", ErrBadPosition)
	}
	off, err := strconv.ParseUint(raw.Offset.String(), 10, 64)
	if err != nil {
		return Position{}, false, fmt.Errorf("%w: offset %s", ErrBadPosition, raw.Offset)
	}
	return Position{Epoch: *raw.Epoch, Offset: off}, true, nil
}

// withRecovery adds "_recovery" (last) to a join reply object; ok is false
// if the reply is not an object. The epoch is base64url, so Go quoting is
// JSON quoting.
func withRecovery(reply []byte, pos Position, recovered *bool) ([]byte, bool) {
	r := bytes.TrimSpace(reply)
	if len(r) < 2 || r[0] != '{' || r[len(r)-1] != '}' {
		return reply, false
	}
	inner := bytes.TrimSpace(r[1 : len(r)-1])
	out := make([]byte, 0, len(r)+64+len(pos.Epoch))
	out = append(out, '{')
	if len(inner) > 0 {
		out = append(out, inner...)
		out = append(out, ',')
	}
	// Last, so that it wins over an app member of the same name (JSON
	// parsers keep the last duplicate).
	out = append(out, `"_recovery":{"epoch":`...)
	out = strconv.AppendQuote(out, pos.Epoch)
	out = append(out, `,"offset":`...)
	out = strconv.AppendUint(out, pos.Offset, 10)
	if recovered != nil {
		out = append(out, `,"recovered":`...)
		out = strconv.AppendBool(out, *recovered)
	}
	return append(out, '}', '}'), true
}
