// Package diff turns rendered template trees into the wire format of the
// phoenix_live_view 1.2 JavaScript client, and models that client's side.
//
// A render is a tree of [Node] values: statics with a fingerprint, and
// dynamics ([Dyn]) that are escaped text, nested nodes, keyed
// [Comprehension] lists (optionally streams), component ids, or the
// [Unchanged] marker. The live components that component ids refer to are
// trees of their own, held by the top-level node ([Node.Components]).
//
// Server side, the entry points are:
//
//   - [Full] (and [AppendFull]): the "rendered" object of a join reply.
//   - [Diff] (and [AppendDiff]): the smallest diff from the previous tree to
//     the next, or nil when nothing changed. Statics travel only under a new
//     fingerprint or a change of kind; keyed entries are sent as diffs at
//     their index, as moves (old index, with "km":true), or in full when new;
//     unchanged subtrees (equal strings, shared pointers, Unchanged markers)
//     cost nothing. Components travel under "c": new ones in full (reusing
//     the statics of another component as "s":-cid or "s":cid when they
//     can), changed ones as diffs.
//   - [Encoder]: the same with options; ShareTemplates sends statics that
//     repeat within a message once, in a "p" map.
//   - [Envelope]: adds the top-level title, events and reply of a [Message].
//   - [HTML]: the HTML of a tree, e.g. for the dead render.
//
// Client side, [Tree] merges joins and diffs exactly as rendered.js does and
// renders the result with [Tree.HTML]; test kits use it to follow a view
// without a browser.
//
// JSON is written by hand into byte slices, with keys in the order of the
// protocol examples (numeric keys ascending, then "c", "p", "s", "r"; "s",
// "k", "stream" for comprehensions; "e", "r", "t" last at the top level) and
// without escaping <, > or &. Component ids in "c" ascend.
//
// Concurrency: the package has no goroutines, no I/O and no global state.
// Its functions are safe to call concurrently on trees that no one is
// modifying, but [Full] and [Diff] write to their next tree (they resolve
// markers and forget stream items), so each view must serialize its
// render → diff → write pipeline, as the client protocol requires anyway. A
// [Tree] is not safe for concurrent use.
package diff
