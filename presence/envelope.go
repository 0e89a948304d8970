package presence

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-go/parley/presence/crdt"
)

// ErrMalformed is wrapped by the error for a gossip message that cannot be
// decoded.
var ErrMalformed = errors.New("presence: malformed gossip message")

// kind is a gossip message type (§4.3 of the spec).
type kind uint8

const (
	kindHeartbeat kind = iota + 1
	kindTransferReq
	kindTransferAck
	kindGracefulPermdown
)

func (k kind) String() string {
	switch k {
	case kindHeartbeat:
		return "heartbeat"
	case kindTransferReq:
		return "transfer_req"
	case kindTransferAck:
		return "transfer_ack"
	case kindGracefulPermdown:
		return "graceful_permdown"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

const envelopeVersion = 1

// envelope is one gossip message between trackers. Its encoding:
//
//	version u8, kind u8,
//	from.Name str, from.Vsn uvarint, node str (the sender's pubsub node),
//	to.Name str, to.Vsn uvarint, id uvarint (transfers only; else empty/0),
//	clocks: count uvarint, then name str, vsn uvarint, clock uvarint each,
//	delta: length uvarint then crdt.Delta binary (length 0: none).
//
// where str is a uvarint length and the bytes.
type envelope struct {
	kind   kind
	from   crdt.Replica
	node   string
	to     crdt.Replica
	id     uint64
	clocks map[crdt.Replica]uint64
	delta  []byte
}

func (e *envelope) marshal() []byte {
	n := 32 + len(e.from.Name) + len(e.node) + len(e.to.Name) + len(e.delta)
	for r := range e.clocks {
		n += len(r.Name) + 24
	}
	b := make([]byte, 0, n)
	b = append(b, envelopeVersion, byte(e.kind))
	b = appendStr(b, e.from.Name)
	b = binary.AppendUvarint(b, e.from.Vsn)
	b = appendStr(b, e.node)
	b = appendStr(b, e.to.Name)
	b = binary.AppendUvarint(b, e.to.Vsn)
	b = binary.AppendUvarint(b, e.id)
	reps := make([]crdt.Replica, 0, len(e.clocks))
	for r := range e.clocks {
		reps = append(reps, r)
	}
	slices.SortFunc(reps, func(a, b crdt.Replica) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Vsn, b.Vsn))
	})
	b = binary.AppendUvarint(b, uint64(len(reps)))
	for _, r := range reps {
		b = appendStr(b, r.Name)
		b = binary.AppendUvarint(b, r.Vsn)
		b = binary.AppendUvarint(b, e.clocks[r])
	}
	b = binary.AppendUvarint(b, uint64(len(e.delta)))
	return append(b, e.delta...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader decodes with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail(what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str(what string) string { return string(r.bytes(what)) }

func (e *envelope) unmarshal(data []byte) error {
	if len(data) < 2 {
		return fmt.Errorf("%w: short", ErrMalformed)
	}
	if data[0] != envelopeVersion {
		return fmt.Errorf("%w: version %d", ErrMalformed, data[0])
	}
	e.kind = kind(data[1])
	if e.kind < kindHeartbeat || e.kind > kindGracefulPermdown {
		return fmt.Errorf("%w: kind %d", ErrMalformed, data[1])
	}
	r := &reader{b: data[2:]}
	e.from.Name = r.str("from name")
	e.from.Vsn = r.uvarint("from vsn")
	e.node = r.str("node")
	e.to.Name = r.str("to name")
	e.to.Vsn = r.uvarint("to vsn")
	e.id = r.uvarint("id")
	n := r.uvarint("clock count")
	if n > uint64(len(r.b)) {
		r.fail("clock count")
	}
	if r.err == nil && n > 0 {
		e.clocks = make(map[crdt.Replica]uint64, n)
		for range n {
			rep := crdt.Replica{Name: r.str("clock name")}
			rep.Vsn = r.uvarint("clock vsn")
			e.clocks[rep] = r.uvarint("clock")
		}
	}
	e.delta = r.bytes("delta")
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}
