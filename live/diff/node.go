package diff

import "errors"

// Errors returned by [Full], [Diff] and [HTML] for trees the package cannot
// encode, and by [Tree.Apply] and [Tree.HTML] for diffs it cannot merge.
var (
	// ErrUnresolved reports an [Unchanged] dynamic with no previous value to
	// stand for: in a full render, under a new fingerprint, after a type
	// change, or in a comprehension entry whose key is new.
	ErrUnresolved = errors.New("diff: unchanged dynamic without a previous value")
	// ErrShape reports a node or entry whose dynamics do not fit its statics
	// (a template with n+1 statics needs exactly n dynamics).
	ErrShape = errors.New("diff: dynamics do not match statics")
	// ErrComponent reports a component id with no component to stand for:
	// absent from the top-level [Node.Components] (when encoding or
	// rendering HTML), or from the client's cache (in [Tree]).
	ErrComponent = errors.New("diff: unknown component")
	// ErrMalformed reports a diff that the client would reject or render
	// wrongly.
	ErrMalformed = errors.New("diff: malformed diff")
)

// Kind says which of its forms a [Dyn] holds.
type Kind uint8

// The kinds of dynamics. The zero [Dyn] is the empty [KindText].
const (
	KindText          Kind = iota // escaped HTML
	KindNode                      // a nested *Node
	KindComprehension             // a *Comprehension
	KindComponent                 // a component id (cid)
	KindUnchanged                 // same as in the previous render
)

// Dyn is one dynamic slot of a rendered template: already escaped HTML, a
// nested [Node], a [Comprehension], a component id, or the [Unchanged] marker.
// Build it with [Text], [Nested], [List], [Component] or [Unchanged]. The zero
// Dyn is Text("").
type Dyn struct {
	kind Kind
	cid  int32
	text string
	node *Node
	comp *Comprehension
}

// Text returns a dynamic holding html, which must already be escaped.
func Text(html string) Dyn { return Dyn{text: html} }

// Nested returns a dynamic holding the nested node n.
func Nested(n *Node) Dyn { return Dyn{kind: KindNode, node: n} }

// List returns a dynamic holding the comprehension c.
func List(c *Comprehension) Dyn { return Dyn{kind: KindComprehension, comp: c} }

// Component returns a dynamic referring to the live component cid, whose
// tree is held by the top-level node's [Node.Components]. It is encoded as a
// JSON number. Component ids are positive.
func Component(cid int32) Dyn { return Dyn{kind: KindComponent, cid: cid} }

// Unchanged returns the marker for "same as in the previous render". The
// template engine may use it instead of re-evaluating an expression whose
// inputs did not change; [Diff] emits nothing for it and replaces it in place
// with the previous value.
func Unchanged() Dyn { return Dyn{kind: KindUnchanged} }

// Kind reports which form d holds.
func (d Dyn) Kind() Kind { return d.kind }

// HTMLText returns the escaped HTML of a [KindText] dynamic, or "".
func (d Dyn) HTMLText() string { return d.text }

// Node returns the node of a [KindNode] dynamic, or nil.
func (d Dyn) Node() *Node { return d.node }

// Comprehension returns the comprehension of a [KindComprehension] dynamic,
// or nil.
func (d Dyn) Comprehension() *Comprehension { return d.comp }

// CID returns the component id of a [KindComponent] dynamic, or 0.
func (d Dyn) CID() int32 { return d.cid }

// Node is one rendered template instance: len(Statics)-1 dynamics interleaved
// between the statics.
//
// Nodes, comprehensions and their slices must not be modified once handed to
// [Full] or [Diff], apart from what those functions document; two renders may
// share a pointer, which Diff takes as "unchanged".
type Node struct {
	// Fingerprint identifies the template; equal fingerprints mean equal
	// Statics (and equal Root). The statics are sent only when the fingerprint
	// at a position is new.
	Fingerprint uint64
	Statics     []string
	Dynamics    []Dyn
	// Root marks a template rendering exactly one root element ("r":1). It
	// is ignored on the top-level node, where "r" means a reply, and on
	// component nodes, which are always sent with "r":1.
	Root bool
	// Components holds the live components of the render, by component id
	// (cid, positive): the trees that [Component] dynamics anywhere in the
	// render, components included, refer to. It is read on the top-level
	// node only and encoded as the top-level "c" map. It must hold every
	// component still in use, not only the changed ones: a component missing
	// from it is not sent and cannot be referred to. Each component node must
	// render exactly one root element, which the client tags with
	// data-phx-component. Components that disappear from it are not
	// announced: the client forgets them through its own cids_destroyed
	// protocol. A nil map encodes cids as bare numbers and checks nothing.
	Components map[int32]*Node
}

// NewNode returns a node with the fingerprint of statics (see [Fingerprint]).
func NewNode(statics []string, dynamics ...Dyn) *Node {
	return &Node{Fingerprint: Fingerprint(statics), Statics: statics, Dynamics: dynamics}
}

// Comprehension is a keyed list of entries sharing one template (a range
// loop), or a stream when Stream is set.
type Comprehension struct {
	// Fingerprint and Statics are shared by all entries, as in [Node].
	Fingerprint uint64
	Statics     []string
	// Entries are the rendered items. Keys match entries across renders:
	// an entry whose key was present before is sent as a diff or a move.
	// Keys should be unique; a repeated key counts as new.
	Entries []Entry
	// Stream, when set, makes this a stream comprehension: Entries are only
	// the items inserted or updated by this render, and Stream holds the
	// operations. Streams keep nothing: after encoding one, [Full] and [Diff]
	// clear its Entries and operations in place, so the tree can serve as
	// the previous render without retaining stream items. Changing between
	// stream and plain comprehension resends the statics.
	Stream *Stream
}

// NewComprehension returns a comprehension with the fingerprint of statics.
func NewComprehension(statics []string, entries ...Entry) *Comprehension {
	return &Comprehension{Fingerprint: Fingerprint(statics), Statics: statics, Entries: entries}
}

// Entry is one item of a [Comprehension].
type Entry struct {
	Key      string
	Dynamics []Dyn
}

// Stream holds the operations of one stream comprehension for one render,
// sent as "stream":[ref, inserts, deletes] plus a fourth element true on reset.
type Stream struct {
	Ref     string   // unique per view, e.g. "0"
	Inserts []Insert // one per inserted or updated entry
	Deletes []string // DOM ids to remove
	Reset   bool     // remove all stream children first
}

// Insert is one stream insert: [domId, at, limit|null, updateOnly].
type Insert struct {
	DOMID string
	// At is -1 to append, 0 to prepend, or k to insert before child k.
	At int
	// Limit keeps the first Limit children when positive, the last -Limit
	// when negative; 0 means no limit (null).
	Limit      int
	UpdateOnly bool
}

// Fingerprint returns a 64-bit FNV-1a hash of statics, usable as the
// fingerprint of a template whose engine has no better one.
func Fingerprint(statics []string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, s := range statics {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= prime
		}
		// Separate the parts so ["ab"] and ["a","b"] differ.
		h ^= 0xff
		h *= prime
	}
	return h
}
