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
// (URL changes) and [Terminator]. A view that also implements [SharedView]
// (its page is its template applied to its assigns, nothing else) takes the
// fastlane: views whose assigns went through the same change share one
// render and one encoded diff.
//
// Live components: [Server.Component] registers a [Component] constructor
// by name; a view's template renders instances with
// {{live_component "name" id assigns...}} (see [Component]). Each has its
// own assigns ([ComponentSocket]), change tracking, events (phx-target set
// to its Myself assign) and cid under the diff's "c"; [Socket.SendUpdate]
// and [Handle.SendUpdate] update one by id. The client's cids_will_destroy
// / cids_destroyed exchange frees those that left the page.
//
// Set-up: the root package's Endpoint.Live also serves the client assets:
// [ClientFS] (the bootstrap live.js, DefaultLayout's live.css with its
// "Reconnecting…" notice, a favicon) at [AssetsPrefix], and the phoenix and
// phoenix_live_view npm packages' browser builds from node_modules. Tokens
// are signed with a key derived from [Config].SecretKeyBase, or
// [EnvSecretKeyBase] (PARLEY_SECRET_KEY_BASE); several rotate. Without one a
// random secret is used and a warning logged: pages then reload after every
// restart, and cluster nodes cannot serve each other's pages.
//
// Failures as the official client expects them: a token problem (another
// secret, expired, tampered, another view's, a bad CSRF token) never
// refuses the socket; the join answers {"reason":"stale"} (or
// "unauthorized" for another live session) and the client reloads the page.
// Each refusal is logged once with its cause. Mount returns [ErrNotFound]
// for a 404 page, calls [Socket.Redirect] for a 302 (a client redirect once
// connected); other errors are a plain 500 page ([Config].ErrorPage) and a
// log line. Forms with phx-change get their input back after a reconnect:
// the client replays the change event (form recovery, phx-auto-recover)
// and the view handles it as any other.
//
// Concurrency contract: a view's methods are never called concurrently.
// Browser events, server messages and timers of one view are handled one
// at a time, in order, and each is followed by render → diff → write in the
// same serial pipeline, so the client's tree is always the join tree plus
// every diff in order. Other goroutines reach a view only through
// [Socket.Send], [Handle] or pubsub. A view's components run on the view's
// goroutine too.
package live
