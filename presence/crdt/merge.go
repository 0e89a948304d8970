package crdt

// Merge folds a heartbeat delta or a full state into s and returns what
// became visible (joins) and what stopped being visible (leaves), each
// ordered by tag. It follows §4.2 of the spec:
//
//  1. A local value not added by s whose tag d has seen, but which d does
//     not carry, was removed: it leaves, and the removal goes into the
//     pending delta so it travels further.
//  2. A value of d joins when its replica is known to s and s has not seen
//     its tag. Values of unknown replicas are ignored; a later transfer
//     brings them once the replica is up.
//  3. Clouds are united and contexts raised to the maximum, for known
//     replicas only; then the touched replicas are compacted.
//
// Values of replicas that are down are stored or removed like the others,
// but are not reported: they stay hidden until [State.Up].
//
// Merge is idempotent, and merging any set of deltas in any order gives the
// same visible set. d is not retained or modified.
func (s *State) Merge(d *Delta) (joins, leaves []Value) {
	// 1. Observed removes, first, so that an update's new value never meets
	// its old one.
	leave := func(e *entry) {
		if e.rep == s.me || !d.covers(e.Tag) {
			return
		}
		if _, kept := d.values[e.Tag]; kept {
			return
		}
		s.unlink(e)
		s.delta.clouds.add(e.Tag)
		if e.rep.status == StatusUp {
			leaves = append(leaves, e.Value)
		}
	}
	if d.full {
		for _, e := range s.tags {
			leave(e)
		}
	} else {
		for r, cloud := range d.clouds {
			if s.replicas[r] == nil {
				continue
			}
			for c := range cloud {
				if e := s.tags[Tag{r, c}]; e != nil {
					leave(e)
				}
			}
		}
	}

	// 2. Joins. The coverage test sees the clouds from before this merge.
	var seen []Tag
	for t, v := range d.values {
		rp := s.replicas[t.Replica]
		if rp == nil || rp.covers(t.Clock) {
			continue
		}
		seen = append(seen, t)
		if old := s.find(v.Key); old != nil {
			// Two tags for one key: only possible if owners are not unique
			// per replica. Keep the local entry if it is ours or newer, so
			// every replica picks the same winner.
			if old.rep == s.me || tagCompare(old.Tag, t) > 0 {
				continue
			}
			s.unlink(old)
			if old.rep.status == StatusUp {
				leaves = append(leaves, old.Value)
			}
		}
		s.insert(v, rp)
		if rp.status == StatusUp {
			joins = append(joins, v)
		}
	}

	// 3. Contexts and clouds, known replicas only.
	for r, c := range d.ctx {
		if rp := s.replicas[r]; rp != nil && c > rp.ctx {
			rp.ctx = c
		}
	}
	for r, cloud := range d.clouds {
		if rp := s.replicas[r]; rp != nil {
			for c := range cloud {
				rp.see(c)
			}
		}
	}
	for _, t := range seen { // a well-formed d already has them in its clouds
		s.replicas[t.Replica].see(t.Clock)
	}
	if d.full {
		s.Compact()
	} else {
		for r := range d.clouds {
			if rp := s.replicas[r]; rp != nil {
				rp.compact()
			}
		}
	}

	sortValues(joins)
	sortValues(leaves)
	return joins, leaves
}

// Compact drops cloud dots the context covers and advances each context over
// contiguous dots. [State.Merge] compacts what it touches, so callers rarely
// need this.
func (s *State) Compact() {
	for _, rp := range s.replicas {
		rp.compact()
	}
}

// Extract returns the full state of s for the replica remote, whose
// advertised clocks are given (transfer_req → transfer_ack). It is pruned to
// the replicas that remote knows (the keys of clocks) and leaves out
// remote's own values, which remote knows best.
func (s *State) Extract(remote Replica, clocks map[Replica]uint64) *Delta {
	d := newDelta(s.self, 0)
	d.full = true
	d.end = s.me.ctx
	d.ctx = make(map[Replica]uint64)
	for r, rp := range s.replicas {
		if _, known := clocks[r]; !known {
			continue
		}
		d.ctx[r] = rp.ctx
		for c := range rp.cloud {
			d.clouds.add(Tag{r, c})
		}
	}
	for t, e := range s.tags {
		if _, known := clocks[t.Replica]; known && t.Replica != remote {
			d.values[t] = e.Value
		}
	}
	return d
}

// Up marks r as up. A replica seen for the first time becomes known with
// context 0; a replica coming back from down makes its stored values visible
// again, and they are returned as joins. Up of self or of an up replica does
// nothing.
func (s *State) Up(r Replica) (joins []Value) {
	rp := s.replicas[r]
	switch {
	case rp == nil:
		s.replicas[r] = &replica{status: StatusUp}
		return nil
	case rp.status == StatusUp:
		return nil
	}
	rp.status = StatusUp
	return s.valuesOf(rp)
}

// Down marks r as down: its values are kept but hidden, and returned as
// leaves. Down of self, of an unknown or of a down replica does nothing.
func (s *State) Down(r Replica) (leaves []Value) {
	rp := s.replicas[r]
	if rp == nil || rp == s.me || rp.status == StatusDown {
		return nil
	}
	rp.status = StatusDown
	return s.valuesOf(rp)
}

// Permdown forgets r: its values, context, clouds and its part of the pending
// delta are purged. If r was still up its values are returned as leaves.
// Permdown of self or of an unknown replica does nothing. A later [State.Up]
// of r starts it afresh at context 0.
func (s *State) Permdown(r Replica) (leaves []Value) {
	rp := s.replicas[r]
	if rp == nil || rp == s.me {
		return nil
	}
	if rp.status == StatusUp {
		leaves = s.valuesOf(rp)
	}
	for _, e := range s.tags {
		if e.rep == rp {
			s.unlink(e)
		}
	}
	delete(s.replicas, r)
	s.delta.purge(r)
	return leaves
}

func (s *State) valuesOf(rp *replica) []Value {
	var out []Value
	for _, e := range s.tags {
		if e.rep == rp {
			out = append(out, e.Value)
		}
	}
	sortValues(out)
	return out
}
