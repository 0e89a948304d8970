package pubsub

// AdapterStats counts what an adapter over a network engine (NATS, Redis)
// did since it started. Adapters return it from their Stats method.
type AdapterStats struct {
	// Connected reports whether the engine connection is up now.
	Connected bool
	// Disconnects counts lost engine connections; Reconnects counts the
	// times a connection came back, with every topic that still had local
	// subscribers subscribed again.
	Disconnects, Reconnects uint64
	// Published counts messages sent (broadcasts and direct); PublishErrors
	// counts those the engine refused or that failed while it was away.
	Published, PublishErrors uint64
	// Received counts messages handed to the PubSub; Dropped counts those
	// thrown away: malformed, echoed from this node, or lost to a full
	// receive queue.
	Received, Dropped uint64
	// Topics is the number of topics this node is subscribed to now.
	Topics int
}
