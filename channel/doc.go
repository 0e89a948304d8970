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
package channel
