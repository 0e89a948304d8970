package crdt_test

import (
	"encoding/json"
	"fmt"

	"github.com/parley-go/parley/presence/crdt"
)

func Example() {
	a := crdt.New(crdt.Replica{Name: "a@host1", Vsn: 1})
	b := crdt.New(crdt.Replica{Name: "b@host2", Vsn: 1})
	// Each learns of the other from its first heartbeat.
	a.Up(b.Self())
	b.Up(a.Self())

	// A channel on node a tracks alice.
	alice := crdt.Key{Topic: "room:lobby", Owner: "chan-1", Key: "alice"}
	a.Add(alice, json.RawMessage(`{"phx_ref":"F1"}`))

	// The next heartbeat carries the delta to b.
	wire, _ := a.TakeDelta().MarshalBinary()
	var delta crdt.Delta
	if err := delta.UnmarshalBinary(wire); err != nil {
		panic(err)
	}
	joins, _ := b.Merge(&delta)
	for _, v := range joins {
		fmt.Println("join", v.Key.Key, string(v.Meta))
	}

	// alice's presence is updated: one join and one leave.
	a.Update(alice, json.RawMessage(`{"phx_ref":"F2","phx_ref_prev":"F1"}`))
	joins, leaves := b.Merge(a.TakeDelta())
	fmt.Println("join", string(joins[0].Meta), "leave", string(leaves[0].Meta))

	// Node a stops sending heartbeats; b hides its entries.
	leaves = b.Down(a.Self())
	fmt.Println("leaves", len(leaves), "listed", len(b.List("room:lobby")))

	// It comes back: its entries are joins again.
	joins = b.Up(a.Self())
	fmt.Println("joins", len(joins), "listed", len(b.List("room:lobby")))
	// Output:
	// join alice {"phx_ref":"F1"}
	// join {"phx_ref":"F2","phx_ref_prev":"F1"} leave {"phx_ref":"F1"}
	// leaves 1 listed 0
	// joins 1 listed 1
}
