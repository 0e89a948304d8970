// Package live runs LiveView pages: server-rendered views whose state lives
// on the server, driven by the official phoenix_live_view 1.2 npm client
// over a Phoenix socket. The first request renders the page over HTTP (the
// dead render); the browser then joins the view on topic "lv:<id>", the
// view mounts again, and from then on only the changed dynamic parts of the
// page travel, in the client's rendered-diff format (see live/diff).
//
// Entry points: [New] builds a [Server]; [Server.Handle] and
// [Server.Group] route paths to [View] constructors; the root package's
// Endpoint.Live mounts the routes and the "/live" socket. A View implements
// Mount and Render, and optionally [EventHandler] (browser events),
// [InfoHandler] (server messages: pubsub broadcasts, timers), [ParamsHandler]
// (URL changes) and [Terminator].
//
// Concurrency contract: a view's methods are never called concurrently.
// Browser events, server messages and timers of one view are handled one
// at a time, in order, and each is followed by render → diff → write in the
// same serial pipeline, so the client's tree is always the join tree plus
// every diff in order. Other goroutines reach a view only through
// [Socket.Send] or pubsub.
package live
