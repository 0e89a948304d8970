package crdt

import (
	"bytes"
	"testing"
)

// fuzzSeeds returns encodings met in a small random run.
func fuzzSeeds(f *testing.F) (deltas, states [][]byte) {
	c := cluster("a", "b")
	a, b := c[0], c[1]
	a.Add(key("room:1", "a1", "alice"), meta(`{"phx_ref":"F1"}`))
	a.Add(key("room:1", "a2", "bob"), nil)
	b.Add(key("room:2", "b1", "carol"), meta(`{}`))
	b.Merge(a.TakeDelta())
	a.Remove(key("room:1", "a2", "bob"))
	for _, d := range []*Delta{a.TakeDelta(), b.TakeDelta(), a.Extract(b.Self(), b.Clocks()), {}} {
		enc, _ := d.MarshalBinary()
		deltas = append(deltas, enc)
	}
	for _, s := range []*State{a, b, New(Replica{})} {
		enc, _ := s.MarshalBinary()
		states = append(states, enc)
	}
	return deltas, states
}

// FuzzDelta: any input either fails to decode or decodes to a delta that
// re-encodes stably and merges without breaking a state.
func FuzzDelta(f *testing.F) {
	deltas, _ := fuzzSeeds(f)
	for _, d := range deltas {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Delta
		if err := d.UnmarshalBinary(data); err != nil {
			return
		}
		enc, _ := d.MarshalBinary()
		var again Delta
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatal("encoding not stable")
		}
		s := New(Replica{Name: "fuzz", Vsn: 1})
		s.Add(key("room:1", "f1", "x"), nil)
		for r := range d.ctx {
			s.Up(r)
		}
		for r := range d.clouds {
			s.Up(r)
		}
		s.Merge(&d)
		s.Merge(&d)
		checkInvariants(t, s)
	})
}

// FuzzState: any input either fails to decode or decodes to a consistent
// state that re-encodes stably.
func FuzzState(f *testing.F) {
	_, states := fuzzSeeds(f)
	for _, s := range states {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		checkInvariants(t, &s)
		enc, _ := s.MarshalBinary()
		var again State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatal("encoding not stable")
		}
		s.Add(key("t", "o", "k"), nil)
		s.TakeDelta()
	})
}
