package pubsub

import "sync/atomic"

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

// AdapterCounters are the live counters behind [AdapterStats], for an
// adapter to embed and update from any goroutine.
type AdapterCounters struct {
	connected                atomic.Bool
	disconnects, reconnects  atomic.Uint64
	published, publishErrors atomic.Uint64
	received, dropped        atomic.Uint64
}

// SetConnected records whether the connection is up and returns what it
// was before.
func (c *AdapterCounters) SetConnected(up bool) (was bool) { return c.connected.Swap(up) }

// IsConnected reports whether the connection is up.
func (c *AdapterCounters) IsConnected() bool { return c.connected.Load() }

// Disconnected counts a lost connection; Reconnected one that came back.
func (c *AdapterCounters) Disconnected() { c.disconnects.Add(1) }

// Reconnected counts a connection that came back.
func (c *AdapterCounters) Reconnected() { c.reconnects.Add(1) }

// Published counts a sent message; PublishFailed one that was not sent.
func (c *AdapterCounters) Published() { c.published.Add(1) }

// PublishFailed counts a message the engine refused or could not take.
func (c *AdapterCounters) PublishFailed() { c.publishErrors.Add(1) }

// Received counts a message handed to the PubSub; Dropped one thrown away.
func (c *AdapterCounters) Received() { c.received.Add(1) }

// Dropped counts a message thrown away.
func (c *AdapterCounters) Dropped() { c.dropped.Add(1) }

// Snapshot returns the counters as AdapterStats, with topics subscribed.
func (c *AdapterCounters) Snapshot(topics int) AdapterStats {
	return AdapterStats{
		Connected:     c.connected.Load(),
		Disconnects:   c.disconnects.Load(),
		Reconnects:    c.reconnects.Load(),
		Published:     c.published.Load(),
		PublishErrors: c.publishErrors.Load(),
		Received:      c.received.Load(),
		Dropped:       c.dropped.Load(),
		Topics:        topics,
	}
}
