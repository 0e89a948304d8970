// Package crdt is the replicated state behind presence: the delta-state
// observed-remove set of Phoenix.Tracker, as pure data structures.
//
// Every tracker shard owns one [State], created with [New] for its own
// [Replica] (node name plus a per-boot version). An entry is a [Value]: a
// [Key] (topic, owner, key), an opaque JSON meta and the [Tag] (replica,
// clock) it was added under. Only the replica that added an entry removes it;
// the others learn of the removal by observing it.
//
// Local changes: [State.Add], [State.Remove], [State.RemoveOwner] and
// [State.Update]. They apply at once and accumulate in a pending [Delta],
// which [State.TakeDelta] hands over for the next heartbeat.
//
// Remote changes: [State.Merge] takes a heartbeat delta or a full state made
// by [State.Extract] (the transfer_ack payload) and returns the joins and
// leaves it caused, ready to become a presence_diff. Replica liveness is
// driven by [State.Up], [State.Down] and [State.Permdown]; values of a down
// replica are kept but hidden from the queries [State.List] (one topic,
// indexed, so cheap for large topics), [State.Get] (one key of a topic),
// [State.Lookup] (one entry) and from the advertised [State.Clocks]. Joins and leaves always describe changes to what is
// visible, so a caller that applies them to the previous [State.List] gets
// the next one.
//
// [Delta] and [State] implement [encoding.BinaryMarshaler] and
// [encoding.BinaryUnmarshaler] with a compact, versioned, canonical format
// for the wire between nodes. Decoding rejects malformed input with an error
// wrapping [ErrMalformed]; it never panics. Meta bytes are copied but not
// parsed: the presence layer decides whether they are valid JSON.
//
// Delta generations (§4.3 of the spec) are not implemented: a transfer always
// carries the full state, pruned to the replicas the requester knows, which
// the spec allows.
//
// Concurrency: nothing here is safe for concurrent use. The Tracker owns its
// State and calls it from one goroutine. A Delta returned by TakeDelta or
// Extract shares nothing mutable with the State and may be encoded elsewhere,
// but Meta byte slices are shared and must never be modified by anyone.
package crdt
