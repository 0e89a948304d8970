package crdt

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

func rep(name string) Replica { return Replica{Name: name, Vsn: 1} }

func key(topic, owner, k string) Key { return Key{Topic: topic, Owner: owner, Key: k} }

func meta(s string) json.RawMessage { return json.RawMessage(s) }

// cluster returns states for the named replicas, each up at every other.
func cluster(names ...string) []*State {
	var out []*State
	for _, n := range names {
		out = append(out, New(rep(n)))
	}
	for _, a := range out {
		for _, b := range out {
			a.Up(b.Self())
		}
	}
	return out
}

// seen is a visible value in comparable form.
type seen struct {
	Key  Key
	Meta string
}

func seenOf(v Value) seen { return seen{v.Key, string(v.Meta)} }

// obs is the observable set of s: every visible value, keyed by tag.
func obs(s *State) map[Tag]seen {
	out := make(map[Tag]seen, len(s.tags))
	for t, e := range s.tags {
		if e.rep.status == StatusUp {
			out[t] = seenOf(e.Value)
		}
	}
	return out
}

func tagsOf(vs []Value) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Tag.String())
	}
	slices.Sort(out)
	return out
}

func keysOf(vs []Value) string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.Key.Key)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// ship sends d over the wire: encode, decode.
func ship(t testing.TB, d *Delta) *Delta {
	t.Helper()
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Delta
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("decode delta: %v", err)
	}
	return &got
}

func clone(t testing.TB, s *State) *State {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	return &got
}

// pull makes dst ask src for a transfer and merges the answer.
func pull(dst, src *State) (joins, leaves []Value) {
	return dst.Merge(src.Extract(dst.Self(), dst.Clocks()))
}

// checkInvariants verifies the indexes and the causal bookkeeping of s.
func checkInvariants(t testing.TB, s *State) {
	t.Helper()
	n := 0
	for topic, byKey := range s.topics {
		if len(byKey) == 0 {
			t.Fatalf("empty topic %q kept", topic)
		}
		for k, list := range byKey {
			if len(list) == 0 {
				t.Fatalf("empty key %q kept", k)
			}
			for i, e := range list {
				if e.keyPos != i || e.Key.Topic != topic || e.Key.Key != k || s.tags[e.Tag] != e {
					t.Fatalf("topic index broken at %v", e.Tag)
				}
				n++
			}
		}
	}
	m := 0
	for owner, list := range s.owners {
		for i, e := range list {
			if e.ownerPos != i || e.Key.Owner != owner || s.tags[e.Tag] != e {
				t.Fatalf("owner index broken at %v", e.Tag)
			}
			m++
		}
	}
	if n != len(s.tags) || m != len(s.tags) {
		t.Fatalf("index sizes %d, %d; tags %d", n, m, len(s.tags))
	}
	keys := make(map[Key]bool)
	for tag, e := range s.tags {
		if keys[e.Key] {
			t.Fatalf("key %v stored twice", e.Key)
		}
		keys[e.Key] = true
		rp := s.replicas[tag.Replica]
		if rp == nil || rp != e.rep || !rp.covers(tag.Clock) {
			t.Fatalf("value %v of unknown replica or unseen tag", tag)
		}
	}
	for r, rp := range s.replicas {
		for c := range rp.cloud {
			if c <= rp.ctx+1 {
				t.Fatalf("replica %v not compacted: ctx %d, cloud has %d", r, rp.ctx, c)
			}
		}
	}
	for tag := range s.delta.values {
		if tag.Replica != s.self || s.tags[tag] == nil {
			t.Fatalf("delta value %v is not a stored local value", tag)
		}
	}
	if s.delta.end != s.me.ctx {
		t.Fatalf("delta end %d, clock %d", s.delta.end, s.me.ctx)
	}
}

// checkDiff verifies that before + joins - leaves == after.
func checkDiff(t testing.TB, before, after map[Tag]seen, joins, leaves []Value) {
	t.Helper()
	want := maps.Clone(before)
	for _, v := range leaves {
		if _, ok := want[v.Tag]; !ok {
			t.Fatalf("leave %v was not visible", v.Tag)
		}
		delete(want, v.Tag)
	}
	for _, v := range joins {
		if _, ok := want[v.Tag]; ok {
			t.Fatalf("join %v was already visible", v.Tag)
		}
		want[v.Tag] = seenOf(v)
	}
	if !maps.Equal(want, after) {
		t.Fatalf("diff does not explain the change:\nbefore %v\njoins %v leaves %v\nafter %v", before, tagsOf(joins), tagsOf(leaves), after)
	}
}
