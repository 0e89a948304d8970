// Package presence tracks who is on a topic, across nodes, in the wire
// format of the phoenix JS client's Presence: Phoenix.Tracker and
// Phoenix.Presence for Go.
//
// Entry points: [New] builds a [Tracker] from a [Config] whose only
// required field is the PubSub. [Tracker.Track], [Tracker.Update],
// [Tracker.Untrack] and [Tracker.UntrackAll] change this node's presences;
// [Tracker.List], [Tracker.Get] and [Tracker.State] read the merged view of
// every node; [Tracker.Close] stops the tracker. For channels,
// [Tracker.TrackChannel] tracks on behalf of an [Owner] (a *channel.Context)
// and untracks when the channel ends, and [Tracker.PushState] pushes
// "presence_state" to the client:
//
//	func (r *Room) Join(c *channel.Context, _ json.RawMessage) (any, error) {
//		if _, err := tracker.TrackChannel(c, c.Assign("user"), map[string]any{"online_at": now}); err != nil {
//			return nil, err
//		}
//		c.Send(afterJoin{}) // then tracker.PushState(c) in HandleInfo
//		return nil, nil
//	}
//
// Every change, local or learned from another node, becomes a
// "presence_diff" {"joins":{...},"leaves":{...}} delivered as a broadcast
// frame to this node's subscribers of the topic only: each node computes
// the diffs of its own replica, so no diff crosses the network twice.
//
// Replication follows Phoenix.Tracker (spec §4): the state is the delta
// CRDT of package crdt; one gossip goroutine per Tracker broadcasts a
// heartbeat with the pending delta every BroadcastPeriod on the pubsub
// topic "phx_presence:<Name>", asks replicas whose clocks are ahead for
// their state (transfer_req, answered directly with the full state),
// marks silent replicas down after DownPeriod (their presences leave, and
// join again if they come back) and forgets them after PermdownPeriod. A
// restarted node is a new replica whose first heartbeat replaces the old
// one. Gossip is binary: a small envelope around crdt's encoding. Peers
// are trusted: metas from other nodes are passed to clients as they came.
//
// Concurrency: every method of Tracker is safe for concurrent use. A
// mutex guards the CRDT state; it is never held while calling out to the
// PubSub, Config.Fetch or Config.LocalBroadcast. Diffs are delivered in the
// order the changes were made, by the goroutine that made the change
// (or, if another goroutine is delivering at that moment, by that one, so
// Fetch may call back into the Tracker). The gossip goroutine is started by
// New and ended by Close, which waits for it.
package presence
