package crdt

// Delta is a batch of state one replica ships to another. It is one of two
// kinds:
//
//   - a heartbeat delta, from [State.TakeDelta]: the values added and the
//     dots added or removed since the previous one, with no context;
//   - a full state, from [State.Extract]: every value, context and cloud,
//     pruned to the replicas the requester knows.
//
// [State.Merge] accepts both. The zero Delta is an empty heartbeat delta.
type Delta struct {
	from       Replica
	full       bool
	start, end uint64             // the sender's clock when the delta began and now
	ctx        map[Replica]uint64 // empty unless full
	clouds     dots
	values     map[Tag]Value
}

func newDelta(from Replica, clock uint64) *Delta {
	return &Delta{
		from:   from,
		start:  clock,
		end:    clock,
		clouds: make(dots),
		values: make(map[Tag]Value),
	}
}

// From returns the replica that produced d.
func (d *Delta) From() Replica { return d.from }

// Full reports whether d is a full state rather than a heartbeat delta.
func (d *Delta) Full() bool { return d.full }

// Range returns the sender's own clock when d began and when it was taken.
// For a full state start is 0.
func (d *Delta) Range() (start, end uint64) { return d.start, d.end }

// Empty reports whether d carries no dot, so a heartbeat may omit it.
func (d *Delta) Empty() bool { return len(d.clouds) == 0 && len(d.ctx) == 0 }

// Size returns the number of values plus dots in d, the measure §4.3 of the
// spec uses to cap delta generations.
func (d *Delta) Size() int {
	n := len(d.values)
	for _, cloud := range d.clouds {
		n += len(cloud)
	}
	return n
}

// Values returns the values d carries, ordered by tag.
func (d *Delta) Values() []Value {
	out := make([]Value, 0, len(d.values))
	for _, v := range d.values {
		out = append(out, v)
	}
	sortValues(out)
	return out
}

// covers reports whether d has seen the dot t.
func (d *Delta) covers(t Tag) bool {
	return t.Clock <= d.ctx[t.Replica] || d.clouds.has(t)
}

// purge forgets everything about r.
func (d *Delta) purge(r Replica) {
	delete(d.ctx, r)
	delete(d.clouds, r)
	for t := range d.values {
		if t.Replica == r {
			delete(d.values, t)
		}
	}
}

// dots is a set of tags grouped by replica.
type dots map[Replica]map[uint64]struct{}

func (ds dots) add(t Tag) {
	cloud := ds[t.Replica]
	if cloud == nil {
		cloud = make(map[uint64]struct{})
		ds[t.Replica] = cloud
	}
	cloud[t.Clock] = struct{}{}
}

func (ds dots) has(t Tag) bool {
	_, ok := ds[t.Replica][t.Clock]
	return ok
}
