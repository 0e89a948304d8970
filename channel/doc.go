// Package channel implements Phoenix channels on the server: one [Socket] per
// connection, a [Router] from topic patterns to [Channel] implementations,
// and the [Context] a channel uses to reply, push and broadcast.
//
// Entry points: [NewServer] builds a [Server] from a [Config] (router,
// pubsub, connect hook); [Server.Connect] accepts a connection and returns
// its Socket; the transport feeds the Socket with [Socket.Receive] and ends
// it with [Socket.Closed]. [Broadcast] publishes to a topic from anywhere.
//
// Concurrency contract. A Socket handles its frames strictly in order, in
// the goroutine the transport calls it from, and never runs application code there:
// each joined channel has a mailbox served by a goroutine that exists only
// while the mailbox is non-empty. So the methods of one Channel value are
// never called concurrently and need no locks, a slow handler delays only
// its own channel, and heartbeats are answered at once. A panic in a handler
// becomes phx_error for that channel alone. [Context] methods are safe for
// concurrent use, so other goroutines may Push, Send or Reply. A handler
// that blocks must watch [Context.Context]: it is cancelled as soon as the
// channel is going away (connection closed, duplicate join), and the socket
// waits for its channels' handlers to return.
//
// Broadcasts are encoded once into a complete frame; every subscribed
// connection gets the same bytes ("fastlane"), except channels that
// intercept the event, whose HandleOut sees it first.
//
// # Missed-message recovery
//
// Phoenix channels deliver at most once: a client that drops for a few
// seconds misses what was broadcast meanwhile. A route registered with
// [WithHistory] keeps, per topic, the last broadcasts (bounded by
// [History].Size messages and [History].TTL age) and lets a rejoining client
// recover what it missed, with the official phoenix client unmodified.
//
// Positions. Every broadcast on such a topic gets an offset, 1, 2, 3...,
// within an epoch: a random id of that topic's stream, new whenever the
// stream is created (first broadcast or join, or after the stream was
// dropped). An (epoch, offset) pair names a point in one topic's history
// only; a position of another topic or of an earlier life of the stream has
// another epoch. The offset travels in the ref field of the broadcast frame
// as "@<offset>" (a broadcast otherwise has a null ref, and an "@" ref never
// looks like the client's numeric heartbeat refs), so the event payload is
// the application's, untouched, and the frame is still encoded once.
//
// Join. The join reply's response (an object, or nil as {}) gains
// "_recovery": {"epoch": E, "offset": N}: when the reply arrives, the client
// stands at N, and every recorded broadcast that follows advances it (a
// client cut off in the middle of a replay knows where it stopped). A
// client that sends its last position in the join params, {"_recover":
// {"epoch": E, "offset": N}} (the phoenix client re-evaluates a params
// function on every rejoin, see recovery.js), gets "recovered": true and,
// right after the reply, the broadcasts after N in order, exactly once,
// before any newer one; or "recovered": false when the epoch differs, the
// history no longer reaches back to N+1, or more than MaxReplay broadcasts
// were missed (then nothing is replayed and the app re-fetches its state).
// A position with the current epoch and an offset beyond the newest
// broadcast, or a malformed _recover, refuses the join with {"reason":
// "invalid recovery position"}, before the channel's Join runs.
//
// The race between replay and live broadcasts. A join (1) reads the
// stream's newest offset P0, (2) subscribes the channel, so live broadcasts
// are held in the channel's pending buffer (as for any join, until the reply
// is out), (3) snapshots the history after the client's offset (or after P0
// for a fresh join) up to the newest, P1, and (4) under the channel's lock
// sends the reply, the snapshot, then the pending frames whose offset is
// above P1, and only then becomes joined. A broadcast takes the topic
// stream's lock to number, record and fan out its message, and the snapshot
// takes the same lock, so every offset up to P1 is in the snapshot and every
// later one reaches the pending buffer: nothing is lost or doubled. Offsets
// up to P1 that are delivered again are dropped by offset (the channel's
// floor), also for intercepted events, which go through HandleOut (in
// order among themselves, but, as for live ones, through the mailbox, so
// after the replayed events that are not intercepted). A BroadcastFrom is
// recorded like any broadcast: its sender's client gets it in a replay if
// it rejoins from a position before it.
//
// Memory. A topic's history holds at most Size entries and MaxBytes frame
// bytes, each entry sharing the broadcast's frame (no copy per subscriber);
// entries older than TTL are dropped on the next broadcast or join of the
// topic. A route keeps at most MaxTopics streams: beyond that, streams
// without local subscribers are dropped, least recently used first (their
// clients later get recovered: false). A replay is one snapshot of at most
// MaxReplay (default 500) frame references, queued to the connection at
// once, which keeps it below the transport's outbound queue (1024 frames by
// default) instead of disconnecting the client.
//
// What is recorded. Text broadcasts through [Context.Broadcast],
// [Context.BroadcastFrom] or [Server.Broadcast]. Binary broadcasts carry no
// ref and bypass the history; the package-level [Broadcast] knows no routes
// and records nothing, nor do local broadcasts such as presence diffs (a
// rejoin gets presence_state anyway). The history is in-process:
// [NewServer] refuses a history route on a PubSub with an adapter
// ([ErrClusteredHistory]), as each node would number its own broadcasts; a
// cluster needs an engine-backed history (future work).
package channel
