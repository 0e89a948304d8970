package crdt

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// The binary format, all integers unsigned varints, strings and bytes
// length-prefixed:
//
//	version(=1) kind('D' delta | 'S' state)
//	replicas: n × (name vsn)      referenced below by index
//	topics:   n × (topic)         referenced below by index
//	body
//
//	delta body: from full(0|1) start end
//	            ctx:    n × (replica clock)
//	            clouds: n × (replica m × clock-increment)
//	            values: n × value
//	state body: self
//	            replicas: n × (replica status ctx m × clock-increment)
//	            values:   n × value
//	            pending delta body
//	value:      replica clock topic owner key meta
//
// Cloud clocks are ascending, each written as the increment over the
// previous one (the first over 0). Everything is sorted, so equal states
// encode to equal bytes.
const (
	encVersion = 1
	kindDelta  = 'D'
	kindState  = 'S'
)

// MarshalBinary encodes d. It never fails.
func (d *Delta) MarshalBinary() ([]byte, error) {
	w := newWriter()
	w.delta(d)
	return w.finish(kindDelta), nil
}

// UnmarshalBinary replaces d with the decoded data. It returns an error
// wrapping [ErrMalformed] for any input it cannot accept.
func (d *Delta) UnmarshalBinary(data []byte) error {
	r, err := newReader(data, kindDelta)
	if err != nil {
		return err
	}
	got := r.delta()
	if err := r.end(); err != nil {
		return err
	}
	*d = *got
	return nil
}

// MarshalBinary encodes the whole of s, pending delta included. It never
// fails.
func (s *State) MarshalBinary() ([]byte, error) {
	w := newWriter()
	w.rep(s.self)
	reps := slices.SortedFunc(maps.Keys(s.replicas), replicaCompare)
	w.uvarint(uint64(len(reps)))
	for _, r := range reps {
		rp := s.replicas[r]
		w.rep(r)
		w.uvarint(uint64(rp.status))
		w.uvarint(rp.ctx)
		w.clocks(rp.cloud)
	}
	vals := make([]Value, 0, len(s.tags))
	for _, e := range s.tags {
		vals = append(vals, e.Value)
	}
	w.values(vals)
	w.delta(s.delta)
	return w.finish(kindState), nil
}

// UnmarshalBinary replaces s with the decoded state. It returns an error
// wrapping [ErrMalformed] for any input it cannot accept.
func (s *State) UnmarshalBinary(data []byte) error {
	r, err := newReader(data, kindState)
	if err != nil {
		return err
	}
	ns := New(r.rep())
	delete(ns.replicas, ns.self)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		rep := r.rep()
		rp := &replica{status: Status(r.uvarint()), ctx: r.uvarint()}
		if rp.status != StatusUp && rp.status != StatusDown {
			r.fail("bad status")
		}
		for _, c := range r.clocks() {
			rp.see(c)
		}
		if rep == ns.self {
			*ns.me = *rp
			rp = ns.me
		}
		if ns.replicas[rep] != nil {
			r.fail("duplicate replica")
		}
		ns.replicas[rep] = rp
	}
	if r.err == nil && (ns.replicas[ns.self] == nil || ns.me.status != StatusUp) {
		r.fail("self missing or down")
	}
	for _, v := range r.values() {
		rp := ns.replicas[v.Tag.Replica]
		switch {
		case rp == nil || !rp.covers(v.Tag.Clock):
			r.fail("value with unseen tag")
		case ns.find(v.Key) != nil:
			r.fail("duplicate key")
		default:
			ns.insert(v, rp)
		}
	}
	if ns.me.cloud != nil {
		r.fail("gap in the local clock")
	}
	ns.delta = r.delta()
	if r.err == nil {
		d := ns.delta
		if d.from != ns.self || d.full || d.end != ns.me.ctx {
			r.fail("pending delta does not match the state")
		}
		for t, v := range d.values {
			if e := ns.tags[t]; e == nil || e.rep != ns.me || e.Key != v.Key {
				r.fail("pending delta value not stored")
			}
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	ns.Compact()
	*s = *ns
	return nil
}

type writer struct {
	body   []byte
	reps   map[Replica]int
	repTab []Replica
	topics map[string]int
	topTab []string
}

func newWriter() *writer {
	return &writer{reps: make(map[Replica]int), topics: make(map[string]int)}
}

func (w *writer) uvarint(x uint64) { w.body = binary.AppendUvarint(w.body, x) }

func (w *writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.body = append(w.body, s...)
}

func (w *writer) rep(r Replica) {
	i, ok := w.reps[r]
	if !ok {
		i = len(w.repTab)
		w.reps[r] = i
		w.repTab = append(w.repTab, r)
	}
	w.uvarint(uint64(i))
}

func (w *writer) topic(t string) {
	i, ok := w.topics[t]
	if !ok {
		i = len(w.topTab)
		w.topics[t] = i
		w.topTab = append(w.topTab, t)
	}
	w.uvarint(uint64(i))
}

func (w *writer) clocks(set map[uint64]struct{}) {
	sorted := slices.Sorted(maps.Keys(set))
	w.uvarint(uint64(len(sorted)))
	prev := uint64(0)
	for _, c := range sorted {
		w.uvarint(c - prev)
		prev = c
	}
}

func (w *writer) values(vs []Value) {
	sortValues(vs)
	w.body = slices.Grow(w.body, 64*len(vs))
	w.uvarint(uint64(len(vs)))
	for _, v := range vs {
		w.rep(v.Tag.Replica)
		w.uvarint(v.Tag.Clock)
		w.topic(v.Key.Topic)
		w.str(v.Key.Owner)
		w.str(v.Key.Key)
		w.uvarint(uint64(len(v.Meta)))
		w.body = append(w.body, v.Meta...)
	}
}

func (w *writer) delta(d *Delta) {
	w.rep(d.from)
	full := uint64(0)
	if d.full {
		full = 1
	}
	w.uvarint(full)
	w.uvarint(d.start)
	w.uvarint(d.end)
	reps := slices.SortedFunc(maps.Keys(d.ctx), replicaCompare)
	w.uvarint(uint64(len(reps)))
	for _, r := range reps {
		w.rep(r)
		w.uvarint(d.ctx[r])
	}
	reps = slices.SortedFunc(maps.Keys(d.clouds), replicaCompare)
	w.uvarint(uint64(len(reps)))
	for _, r := range reps {
		w.rep(r)
		w.clocks(d.clouds[r])
	}
	vals := make([]Value, 0, len(d.values))
	for _, v := range d.values {
		vals = append(vals, v)
	}
	w.values(vals)
}

func (w *writer) finish(kind byte) []byte {
	out := make([]byte, 0, len(w.body)+16*len(w.repTab)+16*len(w.topTab)+8)
	out = append(out, encVersion, kind)
	out = binary.AppendUvarint(out, uint64(len(w.repTab)))
	for _, r := range w.repTab {
		out = binary.AppendUvarint(out, uint64(len(r.Name)))
		out = append(out, r.Name...)
		out = binary.AppendUvarint(out, r.Vsn)
	}
	out = binary.AppendUvarint(out, uint64(len(w.topTab)))
	for _, t := range w.topTab {
		out = binary.AppendUvarint(out, uint64(len(t)))
		out = append(out, t...)
	}
	return append(out, w.body...)
}

// reader decodes; the first error sticks and every later read returns zero
// values, so callers check r.err once at the end.
type reader struct {
	b      []byte
	err    error
	reps   []Replica
	topics []string
}

func newReader(data []byte, kind byte) (*reader, error) {
	if len(data) < 2 || data[0] != encVersion || data[1] != kind {
		return nil, fmt.Errorf("%w: bad header", ErrMalformed)
	}
	r := &reader{b: data[2:]}
	seen := make(map[Replica]bool)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		rep := Replica{Name: r.str(), Vsn: r.uvarint()}
		if seen[rep] {
			r.fail("duplicate replica in table")
		}
		seen[rep] = true
		r.reps = append(r.reps, rep)
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.topics = append(r.topics, r.str())
	}
	return r, r.err
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, msg)
		r.b = nil
	}
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return x
}

// count reads an element count; every element takes at least one byte, so a
// count above the remaining length is corrupt (and would over-allocate).
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count exceeds input")
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("string exceeds input")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) rep() Replica {
	i := r.uvarint()
	if i >= uint64(len(r.reps)) {
		r.fail("bad replica index")
		return Replica{}
	}
	return r.reps[i]
}

func (r *reader) topic() string {
	i := r.uvarint()
	if i >= uint64(len(r.topics)) {
		r.fail("bad topic index")
		return ""
	}
	return r.topics[i]
}

// clocks reads a non-empty ascending cloud.
func (r *reader) clocks() []uint64 {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]uint64, 0, n)
	prev := uint64(0)
	for ; n > 0 && r.err == nil; n-- {
		inc := r.uvarint()
		if inc == 0 || prev+inc < prev {
			r.fail("bad cloud clock")
			return nil
		}
		prev += inc
		out = append(out, prev)
	}
	return out
}

func (r *reader) values() []Value {
	n := r.count()
	out := make([]Value, 0, n)
	tags := make(map[Tag]bool, n)
	for ; n > 0 && r.err == nil; n-- {
		var v Value
		v.Tag.Replica = r.rep()
		v.Tag.Clock = r.uvarint()
		v.Key.Topic = r.topic()
		v.Key.Owner = r.str()
		v.Key.Key = r.str()
		if meta := r.str(); meta != "" {
			v.Meta = []byte(meta)
		}
		if v.Tag.Clock == 0 || tags[v.Tag] {
			r.fail("zero or duplicate tag")
		}
		tags[v.Tag] = true
		out = append(out, v)
	}
	return out
}

func (r *reader) delta() *Delta {
	d := newDelta(r.rep(), 0)
	switch r.uvarint() {
	case 0:
	case 1:
		d.full = true
		d.ctx = make(map[Replica]uint64)
	default:
		r.fail("bad delta kind")
	}
	d.start, d.end = r.uvarint(), r.uvarint()
	if d.start > d.end {
		r.fail("bad range")
	}
	n := r.count()
	if n > 0 && !d.full {
		r.fail("context in a heartbeat delta")
	}
	for ; n > 0 && r.err == nil; n-- {
		rep := r.rep()
		if _, dup := d.ctx[rep]; dup {
			r.fail("duplicate context replica")
		}
		d.ctx[rep] = r.uvarint()
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		rep := r.rep()
		if d.clouds[rep] != nil {
			r.fail("duplicate cloud replica")
		}
		for _, c := range r.clocks() {
			d.clouds.add(Tag{rep, c})
		}
		if d.clouds[rep] == nil {
			r.fail("empty cloud")
		}
	}
	keys := make(map[Key]bool)
	for _, v := range r.values() {
		switch {
		case !d.covers(v.Tag):
			r.fail("value with unseen tag")
		case keys[v.Key]:
			r.fail("duplicate key")
		}
		keys[v.Key] = true
		d.values[v.Tag] = v
	}
	return d
}

func replicaCompare(a, b Replica) int {
	return tagCompare(Tag{Replica: a}, Tag{Replica: b})
}
