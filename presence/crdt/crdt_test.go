package crdt

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

func TestLocalOps(t *testing.T) {
	alice := key("room:1", "c1", "alice")
	bob := key("room:1", "c2", "bob")
	alice2 := key("room:2", "c1", "alice")
	foreign := key("room:1", "c9", "zed")

	tests := []struct {
		name       string
		run        func(t *testing.T, s *State)
		clock      uint64   // local clock afterwards
		deltaDots  []uint64 // dots in the pending delta
		deltaVals  []uint64 // tags of the values in the pending delta
		visible    string   // keys listed in room:1
		ownerCount int      // entries of owner c1
	}{
		{
			name: "add",
			run: func(t *testing.T, s *State) {
				v, err := s.Add(alice, meta(`{"phx_ref":"a"}`))
				if err != nil || v.Tag != (Tag{s.Self(), 1}) || string(v.Meta) != `{"phx_ref":"a"}` {
					t.Fatalf("Add = %v, %v", v, err)
				}
			},
			clock: 1, deltaDots: []uint64{1}, deltaVals: []uint64{1}, visible: "alice", ownerCount: 1,
		},
		{
			name: "add twice fails",
			run: func(t *testing.T, s *State) {
				s.Add(alice, nil)
				if _, err := s.Add(alice, nil); !errors.Is(err, ErrExists) {
					t.Fatalf("second Add: %v", err)
				}
			},
			clock: 1, deltaDots: []uint64{1}, deltaVals: []uint64{1}, visible: "alice", ownerCount: 1,
		},
		{
			name: "remove bumps after the removal",
			run: func(t *testing.T, s *State) {
				s.Add(alice, nil)
				s.Add(bob, nil)
				v, ok := s.Remove(alice)
				if !ok || v.Tag.Clock != 1 {
					t.Fatalf("Remove = %v, %v", v, ok)
				}
			},
			clock: 3, deltaDots: []uint64{1, 2, 3}, deltaVals: []uint64{2}, visible: "bob",
		},
		{
			name: "remove missing or foreign",
			run: func(t *testing.T, s *State) {
				if _, ok := s.Remove(alice); ok {
					t.Fatal("removed a missing key")
				}
				s.insert(Value{Key: foreign, Tag: Tag{rep("other"), 1}}, &replica{status: StatusUp})
				if _, ok := s.Remove(foreign); ok {
					t.Fatal("removed another replica's value")
				}
				s.unlink(s.find(foreign))
			},
		},
		{
			name: "remove owner",
			run: func(t *testing.T, s *State) {
				s.Add(alice, nil)
				s.Add(bob, nil)
				s.Add(alice2, nil)
				got := s.RemoveOwner("c1")
				if len(got) != 2 || got[0].Tag.Clock != 1 || got[1].Tag.Clock != 3 {
					t.Fatalf("RemoveOwner = %v", got)
				}
				if got := s.RemoveOwner("nobody"); got != nil {
					t.Fatalf("RemoveOwner(nobody) = %v", got)
				}
			},
			clock: 5, deltaDots: []uint64{1, 2, 3, 4, 5}, deltaVals: []uint64{2}, visible: "bob",
		},
		{
			name: "update is remove then add",
			run: func(t *testing.T, s *State) {
				s.Add(alice, meta(`1`))
				old, upd, err := s.Update(alice, meta(`2`))
				if err != nil || old.Tag.Clock != 1 || upd.Tag.Clock != 3 || string(upd.Meta) != "2" {
					t.Fatalf("Update = %v, %v, %v", old, upd, err)
				}
				if v, _ := s.Lookup(alice); string(v.Meta) != "2" {
					t.Fatalf("Lookup after update = %s", v.Meta)
				}
			},
			clock: 3, deltaDots: []uint64{1, 2, 3}, deltaVals: []uint64{3}, visible: "alice", ownerCount: 1,
		},
		{
			name: "update missing",
			run: func(t *testing.T, s *State) {
				if _, _, err := s.Update(alice, nil); !errors.Is(err, ErrNotFound) {
					t.Fatalf("Update: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(rep("a"))
			tt.run(t, s)
			checkInvariants(t, s)
			if got := s.Clocks()[s.Self()]; got != tt.clock {
				t.Errorf("clock = %d, want %d", got, tt.clock)
			}
			d := s.TakeDelta()
			if got := slices.Sorted(maps.Keys(d.clouds[s.Self()])); !slices.Equal(got, tt.deltaDots) {
				t.Errorf("delta dots = %v, want %v", got, tt.deltaDots)
			}
			var vals []uint64
			for _, v := range d.Values() {
				vals = append(vals, v.Tag.Clock)
			}
			if !slices.Equal(vals, tt.deltaVals) {
				t.Errorf("delta values = %v, want %v", vals, tt.deltaVals)
			}
			if got := keysOf(s.List("room:1")); got != tt.visible {
				t.Errorf("List = %q, want %q", got, tt.visible)
			}
			if got := len(s.owners["c1"]); got != tt.ownerCount {
				t.Errorf("owner c1 has %d entries, want %d", got, tt.ownerCount)
			}
			if s.HasDelta() {
				t.Error("delta not reset")
			}
			if start, end := s.TakeDelta().Range(); start != tt.clock || end != tt.clock {
				t.Errorf("new delta range = %d..%d, want %d", start, end, tt.clock)
			}
		})
	}
}

func TestGetAndLookup(t *testing.T) {
	s := New(rep("a"))
	s.Add(key("t", "c1", "alice"), meta(`1`))
	s.Add(key("t", "c2", "alice"), meta(`2`))
	s.Add(key("t", "c3", "bob"), meta(`3`))
	if got := s.Get("t", "alice"); len(got) != 2 {
		t.Fatalf("Get alice = %v", got)
	}
	if got := s.Get("t", "nobody"); len(got) != 0 {
		t.Fatalf("Get nobody = %v", got)
	}
	if _, ok := s.Lookup(key("t", "c2", "bob")); ok {
		t.Fatal("Lookup found a key of another owner")
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestMerge(t *testing.T) {
	alice := key("room", "b-c1", "alice")
	bob := key("room", "b-c2", "bob")

	tests := []struct {
		name   string
		run    func(t *testing.T, a, b *State) (joins, leaves []Value)
		joins  []string
		leaves []string
		list   string // keys visible at a
		clockB uint64 // a's context for b
	}{
		{
			name: "join from a known replica",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				return a.Merge(b.TakeDelta())
			},
			joins: []string{"b/1:1"}, list: "alice", clockB: 1,
		},
		{
			name: "unknown replica is ignored",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				a.Permdown(b.Self())
				b.Add(alice, nil)
				j, l := a.Merge(b.TakeDelta())
				if _, ok := a.Clocks()[b.Self()]; ok {
					t.Error("unknown replica entered the context")
				}
				a.Up(b.Self()) // for the clock check below
				return j, l
			},
		},
		{
			name: "observed remove",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				b.Add(bob, nil)
				a.Merge(b.TakeDelta())
				a.TakeDelta()
				b.Remove(alice)
				j, l := a.Merge(b.TakeDelta())
				if d := a.TakeDelta(); !d.clouds.has(Tag{b.Self(), 1}) {
					t.Error("observed removal not in the local delta")
				}
				return j, l
			},
			leaves: []string{"b/1:1"}, list: "bob", clockB: 3,
		},
		{
			name: "duplicate delta changes nothing",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				d := b.TakeDelta()
				a.Merge(d)
				return a.Merge(d)
			},
			list: "alice", clockB: 1,
		},
		{
			name: "removal before its add: no resurrection",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				d1 := b.TakeDelta()
				b.Remove(alice)
				b.Add(bob, nil)
				d2 := b.TakeDelta()
				j2, l2 := a.Merge(d2) // it carries dot 1 as removed
				if a.Clocks()[b.Self()] != 3 {
					t.Error("context did not cover the removed dot")
				}
				j1, l1 := a.Merge(d1)
				return append(j2, j1...), append(l2, l1...)
			},
			joins: []string{"b/1:3"}, list: "bob", clockB: 3,
		},
		{
			name: "out of order adds fill the gap",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				d1 := b.TakeDelta()
				b.Add(bob, nil)
				j2, _ := a.Merge(b.TakeDelta())
				if a.Clocks()[b.Self()] != 0 {
					t.Error("context advanced over a gap")
				}
				j1, _ := a.Merge(d1)
				return append(j2, j1...), nil
			},
			joins: []string{"b/1:1", "b/1:2"}, list: "alice,bob", clockB: 2,
		},
		{
			name: "update arrives as join and leave",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, meta(`1`))
				a.Merge(b.TakeDelta())
				b.Update(alice, meta(`2`))
				return a.Merge(b.TakeDelta())
			},
			joins: []string{"b/1:3"}, leaves: []string{"b/1:1"}, list: "alice", clockB: 3,
		},
		{
			name: "transfer repairs a lost delta",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				b.Add(alice, nil)
				a.Merge(b.TakeDelta())
				b.Remove(alice)
				b.TakeDelta() // lost
				b.Add(bob, nil)
				a.Merge(b.TakeDelta())
				if a.Clocks()[b.Self()] != 1 {
					t.Errorf("clock over the gap = %d", a.Clocks()[b.Self()])
				}
				return pull(a, b)
			},
			leaves: []string{"b/1:1"}, list: "bob", clockB: 3,
		},
		{
			name: "transfer never removes own values",
			run: func(t *testing.T, a, b *State) ([]Value, []Value) {
				a.Add(key("room", "a-c1", "carol"), nil)
				b.Merge(a.TakeDelta())
				return pull(a, b)
			},
			list: "carol",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster("a", "b")
			a, b := c[0], c[1]
			joins, leaves := tt.run(t, a, b)
			checkInvariants(t, a)
			checkInvariants(t, b)
			if got := tagsOf(joins); !slices.Equal(got, tt.joins) && len(got)+len(tt.joins) > 0 {
				t.Errorf("joins = %v, want %v", got, tt.joins)
			}
			if got := tagsOf(leaves); !slices.Equal(got, tt.leaves) && len(got)+len(tt.leaves) > 0 {
				t.Errorf("leaves = %v, want %v", got, tt.leaves)
			}
			if got := keysOf(a.List("room")); got != tt.list {
				t.Errorf("List = %q, want %q", got, tt.list)
			}
			if got := a.Clocks()[b.Self()]; got != tt.clockB {
				t.Errorf("clock of b = %d, want %d", got, tt.clockB)
			}
		})
	}
}

func TestCompact(t *testing.T) {
	tests := []struct {
		ctx       uint64
		cloud     []uint64
		wantCtx   uint64
		wantCloud []uint64
	}{
		{0, nil, 0, nil},
		{0, []uint64{1, 2, 4}, 2, []uint64{4}},
		{5, []uint64{3, 5, 7}, 5, []uint64{7}},
		{5, []uint64{6, 7, 8}, 8, nil},
		{0, []uint64{2, 3}, 0, []uint64{2, 3}},
	}
	for _, tt := range tests {
		rp := &replica{ctx: tt.ctx}
		if len(tt.cloud) > 0 {
			rp.cloud = make(map[uint64]struct{})
		}
		for _, c := range tt.cloud {
			rp.cloud[c] = struct{}{}
		}
		s := New(rep("x"))
		s.replicas[rep("y")] = rp
		s.Compact()
		got := slices.Sorted(maps.Keys(rp.cloud))
		if rp.ctx != tt.wantCtx || !slices.Equal(got, tt.wantCloud) {
			t.Errorf("compact(%d, %v) = %d, %v; want %d, %v", tt.ctx, tt.cloud, rp.ctx, got, tt.wantCtx, tt.wantCloud)
		}
	}
}

func TestReplicaLifecycle(t *testing.T) {
	c := cluster("a", "b")
	a, b := c[0], c[1]
	b.Add(key("room", "b1", "alice"), nil)
	b.Add(key("room", "b2", "bob"), nil)
	a.Merge(b.TakeDelta())

	// Down hides b's values and reports them as leaves.
	if got := keysOf(a.Down(b.Self())); got != "alice,bob" {
		t.Fatalf("Down leaves = %q", got)
	}
	if a.Down(b.Self()) != nil || a.Down(a.Self()) != nil {
		t.Fatal("Down of a down replica or of self reported leaves")
	}
	if len(a.List("room")) != 0 || len(a.Get("room", "alice")) != 0 {
		t.Fatal("down replica still listed")
	}
	if _, ok := a.Clocks()[b.Self()]; ok {
		t.Fatal("down replica advertised in Clocks")
	}
	if a.Replicas()[b.Self()] != StatusDown || a.Len() != 2 {
		t.Fatalf("replicas %v, len %d", a.Replicas(), a.Len())
	}

	// While down, merges update storage silently.
	b.Remove(key("room", "b2", "bob"))
	b.Add(key("room", "b3", "carol"), nil)
	if j, l := a.Merge(b.TakeDelta()); j != nil || l != nil {
		t.Fatalf("merge of a down replica reported %v, %v", j, l)
	}
	checkInvariants(t, a)

	// Up re-emits what is stored as joins.
	if got := keysOf(a.Up(b.Self())); got != "alice,carol" {
		t.Fatalf("Up joins = %q", got)
	}
	if a.Up(b.Self()) != nil {
		t.Fatal("second Up reported joins")
	}

	// Permdown purges, reporting leaves only if b was up.
	b.Add(key("room", "b4", "dave"), nil)
	a.Merge(b.TakeDelta())
	a.TakeDelta()
	if got := keysOf(a.Permdown(b.Self())); got != "alice,carol,dave" {
		t.Fatalf("Permdown leaves = %q", got)
	}
	if a.Len() != 0 || len(a.Replicas()) != 1 || len(a.Clocks()) != 1 {
		t.Fatalf("not purged: len %d, replicas %v", a.Len(), a.Replicas())
	}
	checkInvariants(t, a)
	if a.Permdown(b.Self()) != nil || a.Permdown(a.Self()) != nil {
		t.Fatal("Permdown of unknown or self reported leaves")
	}

	// Permdown of a down replica reports nothing; it was already left.
	c = cluster("a", "b")
	a, b = c[0], c[1]
	b.Add(key("room", "b1", "alice"), nil)
	a.Merge(b.TakeDelta())
	a.Down(b.Self())
	if l := a.Permdown(b.Self()); l != nil {
		t.Fatalf("Permdown of a down replica: %v", l)
	}

	// Back after permdown: known again from context 0; a transfer refills it.
	a.Up(b.Self())
	if got := a.Clocks()[b.Self()]; got != 0 {
		t.Fatalf("clock after re-up = %d", got)
	}
	if j, _ := pull(a, b); keysOf(j) != "alice" {
		t.Fatalf("transfer after re-up joined %v", j)
	}
}

func TestPermdownPurgesDelta(t *testing.T) {
	c := cluster("a", "b", "c")
	a, b, cc := c[0], c[1], c[2]
	b.Add(key("room", "b1", "alice"), nil)
	a.Merge(b.TakeDelta())
	cc.Merge(b.Extract(cc.Self(), cc.Clocks()))
	b.Remove(key("room", "b1", "alice"))
	a.Merge(b.TakeDelta()) // a's delta now relays the removal
	a.Permdown(b.Self())
	if d := a.TakeDelta(); d.Size() != 0 || !d.Empty() {
		t.Fatalf("delta still has parts of b: size %d", d.Size())
	}
}

func TestExtractPrunes(t *testing.T) {
	c := cluster("a", "b", "c")
	a, b, cc := c[0], c[1], c[2]
	a.Add(key("t", "a1", "x"), nil)
	b.Add(key("t", "b1", "y"), nil)
	cc.Add(key("t", "c1", "z"), nil)
	a.Merge(b.TakeDelta())
	a.Merge(cc.TakeDelta())

	// b does not know c.
	b.Permdown(cc.Self())
	d := a.Extract(b.Self(), b.Clocks())
	if !d.Full() || d.From() != a.Self() {
		t.Fatalf("Full %v From %v", d.Full(), d.From())
	}
	if got := keysOf(d.Values()); got != "x" {
		t.Fatalf("values for b = %q, want only a's", got)
	}
	if _, ok := d.ctx[cc.Self()]; ok {
		t.Fatal("context of an unknown replica sent")
	}
	if _, end := d.Range(); end != 1 {
		t.Fatalf("range end = %d", end)
	}
}

func TestKeyConflictPicksOneWinner(t *testing.T) {
	// Owners must be unique per replica. If they are not, each replica
	// keeps its own value and the others all pick the greater tag.
	c := cluster("a", "b", "c")
	a, b, cc := c[0], c[1], c[2]
	k := key("t", "shared", "x")
	a.Add(k, meta(`"a"`))
	b.Add(k, meta(`"b"`))
	da, db := a.TakeDelta(), b.TakeDelta()
	a.Merge(db)
	b.Merge(da)
	cc.Merge(da)
	cc.Merge(db)
	for _, s := range c {
		checkInvariants(t, s)
	}
	if got := cc.List("t"); len(got) != 1 || string(got[0].Meta) != `"b"` {
		t.Fatalf("third replica lists %v", got)
	}
}

func TestStatusString(t *testing.T) {
	if StatusUp.String() != "up" || StatusDown.String() != "down" || Status(9).String() != "Status(9)" {
		t.Fatal("Status.String")
	}
}
