package crdt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Errors returned by the local operations and the decoders.
var (
	ErrExists    = errors.New("crdt: already present")
	ErrNotFound  = errors.New("crdt: not present")
	ErrMalformed = errors.New("crdt: malformed encoding")
)

// Replica names one incarnation of a tracker shard: the node name plus a
// version unique per boot, so a restarted node is a new replica.
type Replica struct {
	Name string
	Vsn  uint64
}

// String returns "name/vsn".
func (r Replica) String() string { return fmt.Sprintf("%s/%d", r.Name, r.Vsn) }

// Tag is a dot: the replica that added a value and its clock at that moment.
// Clocks start at 1.
type Tag struct {
	Replica Replica
	Clock   uint64
}

// String returns "name/vsn:clock".
func (t Tag) String() string { return fmt.Sprintf("%v:%d", t.Replica, t.Clock) }

// Key identifies one entry. Owner is unique per channel instance (Phoenix's
// pid); one owner may hold many (Topic, Key) pairs and many owners may share
// a Key.
type Key struct {
	Topic string
	Owner string
	Key   string
}

// Value is one entry of the set. Meta is opaque to this package and is
// shared, never copied, once stored: nobody may modify it.
type Value struct {
	Key  Key
	Meta json.RawMessage
	Tag  Tag
}

// Status is the liveness of a replica as the owner of a State sees it.
type Status uint8

// Replica statuses.
const (
	StatusUp Status = iota + 1
	StatusDown
)

// String returns "up" or "down".
func (s Status) String() string {
	switch s {
	case StatusUp:
		return "up"
	case StatusDown:
		return "down"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// replica is what a State knows of one replica: its status, its context
// (highest contiguous clock seen) and its cloud (seen clocks above ctx+1).
// A replica is known exactly when it has an entry here.
type replica struct {
	status Status
	ctx    uint64
	cloud  map[uint64]struct{} // nil when empty
}

func (rp *replica) covers(clock uint64) bool {
	if clock <= rp.ctx {
		return true
	}
	_, ok := rp.cloud[clock]
	return ok
}

func (rp *replica) see(clock uint64) {
	if clock <= rp.ctx {
		return
	}
	if rp.cloud == nil {
		rp.cloud = make(map[uint64]struct{})
	}
	rp.cloud[clock] = struct{}{}
}

// compact drops cloud clocks the context covers and advances the context
// over contiguous ones. (The spec's third rule, "unknown replica and clock 1",
// cannot apply: clouds only exist for known replicas.)
func (rp *replica) compact() {
	if len(rp.cloud) == 0 {
		rp.cloud = nil
		return
	}
	for c := range rp.cloud {
		if c <= rp.ctx {
			delete(rp.cloud, c)
		}
	}
	for {
		if _, ok := rp.cloud[rp.ctx+1]; !ok {
			break
		}
		delete(rp.cloud, rp.ctx+1)
		rp.ctx++
	}
	if len(rp.cloud) == 0 {
		rp.cloud = nil
	}
}

// entry is a stored value with its positions in the two slice indexes, so it
// can be unlinked in constant time.
type entry struct {
	Value
	rep      *replica
	keyPos   int // index in State.topics[Topic][Key]
	ownerPos int // index in State.owners[Owner]
}

// State is one replica of the set: causal context, clouds, values, replica
// statuses and the pending delta. Create it with [New]. It is not safe for
// concurrent use; the Tracker owns it.
type State struct {
	self     Replica
	me       *replica // replicas[self]
	replicas map[Replica]*replica
	tags     map[Tag]*entry
	topics   map[string]map[string][]*entry // topic → key → entries
	owners   map[string][]*entry
	delta    *Delta
}

// New returns an empty State for the replica self, whose clock starts at 0.
func New(self Replica) *State {
	s := &State{
		self:     self,
		me:       &replica{status: StatusUp},
		replicas: make(map[Replica]*replica),
		tags:     make(map[Tag]*entry),
		topics:   make(map[string]map[string][]*entry),
		owners:   make(map[string][]*entry),
	}
	s.replicas[self] = s.me
	s.delta = newDelta(self, 0)
	return s
}

// Self returns the replica this State belongs to.
func (s *State) Self() Replica { return s.self }

// Add stores meta under k with a fresh tag and returns the stored value. It
// fails with [ErrExists] if k is already present.
func (s *State) Add(k Key, meta json.RawMessage) (Value, error) {
	if s.find(k) != nil {
		return Value{}, ErrExists
	}
	return s.addLocal(k, meta), nil
}

// Remove deletes the entry k, which this replica must have added, and
// returns it; ok is false if there is no such entry.
func (s *State) Remove(k Key) (v Value, ok bool) {
	e := s.find(k)
	if e == nil || e.rep != s.me {
		return Value{}, false
	}
	s.removeLocal(e)
	return e.Value, true
}

// RemoveOwner deletes every entry of owner added by this replica and returns
// them, ordered by tag.
func (s *State) RemoveOwner(owner string) []Value {
	var out []Value
	for _, e := range slices.Clone(s.owners[owner]) {
		if e.rep == s.me {
			s.removeLocal(e)
			out = append(out, e.Value)
		}
	}
	sortValues(out)
	return out
}

// Update atomically replaces the meta of k: the old tag is removed and the new
// meta is added under a new tag. It fails with [ErrNotFound] if this replica
// has no entry k.
func (s *State) Update(k Key, meta json.RawMessage) (old, updated Value, err error) {
	e := s.find(k)
	if e == nil || e.rep != s.me {
		return Value{}, Value{}, ErrNotFound
	}
	s.removeLocal(e)
	return e.Value, s.addLocal(k, meta), nil
}

// bump advances the local clock and records the new dot in the delta. The
// spec also puts it in the local cloud; the local context already covers it,
// so compaction would drop it at once and we skip that step.
func (s *State) bump() Tag {
	s.me.ctx++
	t := Tag{s.self, s.me.ctx}
	s.delta.clouds.add(t)
	s.delta.end = s.me.ctx
	return t
}

func (s *State) addLocal(k Key, meta json.RawMessage) Value {
	v := Value{Key: k, Meta: meta, Tag: s.bump()}
	s.insert(v, s.me)
	s.delta.values[v.Tag] = v
	return v
}

// removeLocal deletes e, records its tag as removed in the delta, then bumps
// the clock so it stays contiguous.
func (s *State) removeLocal(e *entry) {
	s.unlink(e)
	s.delta.clouds.add(e.Tag)
	delete(s.delta.values, e.Tag)
	s.bump()
}

// find returns the entry stored under k, or nil. An owner holds few entries,
// so scanning its list is cheap.
func (s *State) find(k Key) *entry {
	for _, e := range s.owners[k.Owner] {
		if e.Key == k {
			return e
		}
	}
	return nil
}

func (s *State) insert(v Value, rp *replica) {
	e := &entry{Value: v, rep: rp}
	s.tags[v.Tag] = e
	byKey := s.topics[v.Key.Topic]
	if byKey == nil {
		byKey = make(map[string][]*entry)
		s.topics[v.Key.Topic] = byKey
	}
	e.keyPos = len(byKey[v.Key.Key])
	byKey[v.Key.Key] = append(byKey[v.Key.Key], e)
	e.ownerPos = len(s.owners[v.Key.Owner])
	s.owners[v.Key.Owner] = append(s.owners[v.Key.Owner], e)
}

func (s *State) unlink(e *entry) {
	delete(s.tags, e.Tag)
	k := e.Key

	byKey := s.topics[k.Topic]
	list := byKey[k.Key]
	last := len(list) - 1
	list[e.keyPos] = list[last]
	list[e.keyPos].keyPos = e.keyPos
	list[last] = nil
	switch {
	case last > 0:
		byKey[k.Key] = list[:last]
	case len(byKey) > 1:
		delete(byKey, k.Key)
	default:
		delete(s.topics, k.Topic)
	}

	list = s.owners[k.Owner]
	last = len(list) - 1
	list[e.ownerPos] = list[last]
	list[e.ownerPos].ownerPos = e.ownerPos
	list[last] = nil
	if last > 0 {
		s.owners[k.Owner] = list[:last]
	} else {
		delete(s.owners, k.Owner)
	}
}

// List returns the visible values of topic (those of replicas that are up),
// in no particular order. It costs one pass over the topic.
func (s *State) List(topic string) []Value {
	byKey := s.topics[topic]
	out := make([]Value, 0, len(byKey))
	for _, list := range byKey {
		for _, e := range list {
			if e.rep.status == StatusUp {
				out = append(out, e.Value)
			}
		}
	}
	return out
}

// Get returns the visible values under key in topic, one per owner, in no
// particular order.
func (s *State) Get(topic, key string) []Value {
	var out []Value
	for _, e := range s.topics[topic][key] {
		if e.rep.status == StatusUp {
			out = append(out, e.Value)
		}
	}
	return out
}

// Lookup returns the visible value stored under k.
func (s *State) Lookup(k Key) (Value, bool) {
	e := s.find(k)
	if e == nil || e.rep.status != StatusUp {
		return Value{}, false
	}
	return e.Value, true
}

// Len returns the number of stored values, hidden ones included.
func (s *State) Len() int { return len(s.tags) }

// Clocks returns the context this replica advertises: the highest contiguous
// clock seen per replica, leaving out replicas that are down (else peers
// would keep asking for transfers). The map is a copy.
func (s *State) Clocks() map[Replica]uint64 {
	out := make(map[Replica]uint64, len(s.replicas))
	for r, rp := range s.replicas {
		if rp.status == StatusUp {
			out[r] = rp.ctx
		}
	}
	return out
}

// Replicas returns the status of every known replica, self included.
func (s *State) Replicas() map[Replica]Status {
	out := make(map[Replica]Status, len(s.replicas))
	for r, rp := range s.replicas {
		out[r] = rp.status
	}
	return out
}

// HasDelta reports whether local changes or observed removals are pending.
func (s *State) HasDelta() bool { return !s.delta.Empty() }

// TakeDelta returns the pending delta (the heartbeat payload) and starts a
// new one. The returned Delta is the caller's.
func (s *State) TakeDelta() *Delta {
	d := s.delta
	s.delta = newDelta(s.self, s.me.ctx)
	return d
}

func tagCompare(a, b Tag) int {
	if c := cmp.Compare(a.Replica.Name, b.Replica.Name); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Replica.Vsn, b.Replica.Vsn); c != 0 {
		return c
	}
	return cmp.Compare(a.Clock, b.Clock)
}

func sortValues(vs []Value) {
	slices.SortFunc(vs, func(a, b Value) int { return tagCompare(a.Tag, b.Tag) })
}
