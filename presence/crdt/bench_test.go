package crdt

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
)

// benchMeta is about what presence stores: a phx_ref and a little more.
var benchMeta = json.RawMessage(`{"phx_ref":"F0aB1cD2eF3gH4iJ","online_at":1735689600}`)

// filled returns a replica holding n local entries in topic "lobby", each
// with its own owner and key, like n connected users.
func filled(n int) *State {
	s := New(Replica{Name: "node-a@10.0.0.1", Vsn: 1735689600000})
	for i := range n {
		s.Add(Key{Topic: "lobby", Owner: fmt.Sprintf("chan-%08d", i), Key: fmt.Sprintf("user-%d", i)}, benchMeta)
	}
	return s
}

// BenchmarkMergeDelta merges a heartbeat delta of n new entries into a
// replica that holds 10k entries of another node. Between iterations (not
// timed) the entries are removed again by a second delta, so the receiver
// stays the same size.
func BenchmarkMergeDelta(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dst := filled(10000)
			src := New(Replica{Name: "node-b@10.0.0.2", Vsn: 1})
			dst.Up(src.Self())
			owners := make([]string, n)
			for i := range owners {
				owners[i] = fmt.Sprintf("b-%d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				for i, o := range owners {
					src.Add(Key{Topic: "lobby", Owner: o, Key: fmt.Sprint(i)}, benchMeta)
				}
				add := src.TakeDelta()
				for _, o := range owners {
					src.RemoveOwner(o)
				}
				remove := src.TakeDelta()
				b.StartTimer()

				if joins, _ := dst.Merge(add); len(joins) != n {
					b.Fatalf("%d joins", len(joins))
				}

				b.StopTimer()
				dst.Merge(remove)
				dst.TakeDelta()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// BenchmarkList lists one topic of 10k entries.
func BenchmarkList(b *testing.B) {
	s := filled(10000)
	b.ReportAllocs()
	for b.Loop() {
		if len(s.List("lobby")) != 10000 {
			b.Fatal("short list")
		}
	}
}

// BenchmarkMemoryPerEntry reports the heap one entry costs, meta included.
func BenchmarkMemoryPerEntry(b *testing.B) {
	const n = 10000
	var per float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := filled(n)
		s.TakeDelta() // as after the first heartbeat
		runtime.GC()
		runtime.ReadMemStats(&after)
		per += float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(per/float64(b.N), "bytes/entry")
}

// BenchmarkEncodeDelta encodes a transfer of 10k entries and reports its
// size on the wire.
func BenchmarkEncodeDelta(b *testing.B) {
	s := filled(10000)
	d := s.Extract(Replica{Name: "x"}, s.Clocks())
	var size int
	b.ReportAllocs()
	for b.Loop() {
		enc, _ := d.MarshalBinary()
		size = len(enc)
	}
	b.ReportMetric(float64(size)/10000, "wire-bytes/entry")
}

// BenchmarkDecodeDelta decodes a transfer of 10k entries.
func BenchmarkDecodeDelta(b *testing.B) {
	s := filled(10000)
	enc, _ := s.Extract(Replica{Name: "x"}, s.Clocks()).MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		var d Delta
		if err := d.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
