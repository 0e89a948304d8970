package presence

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/parley-go/parley/presence/crdt"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	a, b := crdt.Replica{Name: "a@host", Vsn: 7}, crdt.Replica{Name: "b@host", Vsn: 1 << 60}
	for _, e := range []envelope{
		{kind: kindHeartbeat, from: a, node: "a"},
		{kind: kindHeartbeat, from: a, node: "a", clocks: map[crdt.Replica]uint64{a: 3, b: 9}, delta: []byte{1, 2, 3}},
		{kind: kindTransferReq, from: a, node: "a", to: b, id: 42, clocks: map[crdt.Replica]uint64{a: 1}},
		{kind: kindTransferAck, from: b, node: "b", to: a, id: 42, delta: bytes.Repeat([]byte{9}, 300)},
		{kind: kindGracefulPermdown, from: b, node: "b"},
	} {
		data := e.marshal()
		var got envelope
		if err := got.unmarshal(data); err != nil {
			t.Fatalf("%s: %v", e.kind, err)
		}
		if len(got.delta) == 0 {
			got.delta = nil
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: got %+v, want %+v", e.kind, got, e)
		}
		// Every truncation is rejected, never a panic.
		for i := range len(data) {
			if err := got.unmarshal(data[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s truncated to %d: %v", e.kind, i, err)
			}
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	a := crdt.Replica{Name: "a", Vsn: 1}
	f.Add((&envelope{kind: kindHeartbeat, from: a, node: "a", clocks: map[crdt.Replica]uint64{a: 3}, delta: []byte{1}}).marshal())
	f.Add((&envelope{kind: kindTransferReq, from: a, to: a, id: 1}).marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		var e envelope
		if err := e.unmarshal(data); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to something that decodes the same.
		var again envelope
		if err := again.unmarshal(e.marshal()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normal(again), normal(e)) {
			t.Fatalf("re-encoding changed %+v into %+v", e, again)
		}
	})
}

func normal(e envelope) envelope {
	if len(e.delta) == 0 {
		e.delta = nil
	}
	if len(e.clocks) == 0 {
		e.clocks = nil
	}
	return e
}

func TestMaximal(t *testing.T) {
	self, b, c := crdt.Replica{Name: "a", Vsn: 1}, crdt.Replica{Name: "b", Vsn: 1}, crdt.Replica{Name: "c", Vsn: 1}
	own := map[crdt.Replica]uint64{self: 5, b: 3, c: 2}
	for _, tc := range []struct {
		name    string
		samples map[crdt.Replica]map[crdt.Replica]uint64
		want    []crdt.Replica
	}{
		{"nobody ahead", map[crdt.Replica]map[crdt.Replica]uint64{b: {self: 5, b: 3}, c: {c: 2}}, nil},
		{"equal to ours", map[crdt.Replica]map[crdt.Replica]uint64{b: {self: 5, b: 3, c: 2}}, nil},
		{"b ahead", map[crdt.Replica]map[crdt.Replica]uint64{b: {self: 5, b: 4, c: 2}, c: {c: 2}}, []crdt.Replica{b}},
		{"b dominates c", map[crdt.Replica]map[crdt.Replica]uint64{b: {b: 4, c: 3}, c: {b: 3, c: 3}}, []crdt.Replica{b}},
		{"b and c each ahead", map[crdt.Replica]map[crdt.Replica]uint64{b: {b: 4}, c: {c: 3}}, []crdt.Replica{b, c}},
	} {
		got := maximal(self, own, tc.samples)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
