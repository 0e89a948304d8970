// Package render compiles Go html/template templates into plans of statics
// and dynamics, and renders them into [diff.Node] trees for the
// phoenix_live_view client (see package live/diff).
//
// Entry points:
//
//   - [New], then [Template.Funcs], [Template.Parse] (or [Template.ParseFS],
//     [Template.ParseFiles], [Template.ParseGlob]) and [Must], exactly as with
//     html/template.
//   - [Template.Render]: executes the template with data and returns a tree
//     whose statics are shared by every render (same slices, same
//     fingerprints), so [diff.Diff] sends them once and afterwards only the
//     changed dynamics. Pass the [Changes] since the previous render, or nil
//     for a full render.
//
// # Escaping
//
// Escaping is html/template's own. On first use the template set is cloned
// and escaped by html/template (which inserts its contextual escapers into
// the parse tree); the escaped trees are then compiled: text nodes become
// statics, and every other node becomes a hole in the plan. Rendering
// executes the escaped trees with text/template's executor, with the text
// nodes replaced by one-byte marker writes: the output writer recognises a
// marker by the identity of the byte slice it receives (a slice of a private
// arena that no value printed by a template can alias), never by its content,
// so no data can forge or hide a boundary. The dynamics are therefore the
// very bytes html/template writes for each action, and [diff.HTML] of a
// render equals html/template's output for the same template and data, byte
// for byte.
//
// # Structure
//
// Each printing action (and each call of a template that html/template
// escapes in a non-text context) is a text dynamic. {{if}} and {{with}},
// including their {{else if}} / {{else with}} chains, are a nested node per
// branch, each branch with its own statics and fingerprint; a missing
// {{else}} renders as "". {{range}} is a [diff.Comprehension] whose entries
// share the statics of the range body; {{range}} ... {{else}} renders the
// else branch as a nested node when there is nothing to range over.
// {{template}} and {{block}} are a nested node with the called template's
// statics, or are inlined into the caller's statics when the called template
// has no dynamics at all. {{break}} and {{continue}} are supported: a range
// whose body can break wraps each entry in a nested node so a cut-short
// iteration can carry shorter statics.
//
// # Keys
//
// Entries of a range are keyed by their index, unless the range body holds
// (at its top level) an action {{key EXPR}}: the entry is then keyed by
// fmt.Sprint(EXPR), so [diff.Diff] can send moves instead of rewriting
// every later entry. key is a function that every [Template] defines; it
// prints nothing.
//
// # Streams
//
// A {{range}} over a value implementing [Stream] (see package live/stream)
// renders as a stream comprehension: the range takes the stream's pending
// items and operations (TakeStream) and renders only those items, so the
// comprehension carries the "stream" annotation and the new or updated
// items, and nothing of the stream is kept afterwards. With two range
// variables the first is the item's DOM id; the function domid prints it
// too. Such a range cannot have an {{else}} ([ErrStreamElse]).
//
// # Live components
//
// {{live_component ARGS...}} renders a live component: [Template.RenderWith]
// with [Options].Component resolves the arguments to a component id, and
// the action becomes a [diff.Component] dynamic. It must stand alone in
// element content. Plain [Template.Render] reports [ErrNoComponents].
//
// # Change tracking
//
// Each dynamic of the template being rendered is analysed once: which
// top-level assigns (fields of the data struct, keys of the data map) it
// reads, through .X, .X.Y, $.X, variables, with, range and template calls.
// Render, given the names of the assigns that changed since the previous
// render, marks the dynamics that read only unchanged assigns as
// [diff.Unchanged] without evaluating them, also inside the branch of an
// {{if}} whose conditions did not change. Dynamics that read the whole data
// (., a method of the data, a variable assigned with =) are always
// evaluated, and so is everything inside a range body and inside a called
// template when the call itself must be re-rendered. Functions and methods
// are assumed to depend only on their receiver and arguments.
//
// # Per-item change tracking
//
// [Template.RenderMemo] also tracks the items of a list: given the [Memo]
// of a view, a {{range}} whose list changed evaluates only the items that
// differ from the previous render's; the others reuse their previous
// entry (the same dynamics), cost no template execution, and [diff.Diff]
// sends nothing for them. Package live renders every view this way.
//
// An item's identity is its value, and its key only helps to find it:
//   - Detection: the memo keeps a copy of the list. An item is unchanged
//     when it equals the copy's item at the same index, or (after inserts,
//     deletes and moves) at the shifted index or any other index, found by
//     a hash of its value. Equality is bitwise for booleans and numbers (so
//     0 and -0, which print differently, differ) and by content for
//     strings. A reused entry keeps its previous key, which is a function
//     of the same value; entries keyed by index get their new index.
//   - Items: only slices whose element type is made of booleans, numbers,
//     strings, arrays and structs, with no methods anywhere in it, are
//     tracked. Pointers, interfaces, maps, slices, functions and channels
//     can change without the list's copy changing, and a method (which
//     printing may call) could read anything; lists of such items are
//     evaluated in full, as are maps, integers, iterators and streams.
//   - Bodies: the range must be in the template being rendered, outside
//     any other range (where it runs at most once per render), have one
//     range variable or none (an index variable makes the output depend on
//     the position), no {{else}}, and no {{break}} or {{continue}}. The
//     body (and the templates it calls) may read the item, constants and
//     other assigns through $ or variables; it may call only the
//     predefined functions that depend on their arguments alone (not call,
//     and no function of [Template.Funcs], which could read a changing
//     global). When one of the other assigns it reads changes (or is a
//     method of the data), every item is evaluated. Any other range is
//     evaluated in full, correctly, as without a memo.
//   - Cost: one comparison of each item with its copy (a memory compare
//     when nothing changed), a copy of the changed items into the memo,
//     and the entries' slice. Up to two moved items may be evaluated again
//     before the search for moves starts.
//
// Concurrency: a Template must be fully parsed before the first Render;
// after that it is safe for concurrent use by any number of goroutines
// (each Render uses a private executable copy taken from a pool).
package render
