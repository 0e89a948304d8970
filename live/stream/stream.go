// Package stream holds LiveView streams: large or endless collections
// (chat messages, feeds, search results) whose items the server sends once
// and then forgets, while the browser keeps them in its DOM.
//
// Entry points: [New] declares a stream with a function giving each item's
// DOM id. [Stream.Insert], [Stream.InsertMany], [Stream.Delete],
// [Stream.DeleteID] and [Stream.Reset] queue operations, with the insert
// [Option]s [At], [Limit] and [UpdateOnly]. Put the stream in an assign and
// range over it in the template, inside an element with an id and
// phx-update="stream" of which the range is the only content; each item's
// root element takes the item's DOM id:
//
//	<ul id="messages" phx-update="stream">
//	  {{range $id, $m := .messages}}<li id="{{$id}}">{{$m.Body}}</li>{{end}}
//	</ul>
//
// The render (live/render) takes the queued items and operations and sends
// them as a stream comprehension; from then on the stream holds nothing of
// them, so a view that streamed a million messages weighs what one that
// streamed ten does. A new mount (including a rejoin after a reconnect)
// starts from an empty page: insert what it should show in Mount.
//
// Concurrency: a Stream belongs to one view and is used from its
// callbacks only; it is not safe for concurrent use.
package stream

import (
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// Stream is one stream of items of type T. Its zero value is not usable;
// call [New].
type Stream[T any] struct {
	ref   string
	domID func(T) string

	inserts []pending[T]
	deletes []string
	reset   bool
}

type pending[T any] struct {
	id   string
	item T
	op   diff.Insert
}

// Option changes how [Stream.Insert] and [Stream.InsertMany] place items.
type Option func(*diff.Insert)

// At places new items: -1 appends (the default), 0 prepends, k > 0 inserts
// before the k-th child. An item already on the page is updated where it
// is and not moved (delete it first to move it).
func At(k int) Option { return func(i *diff.Insert) { i.At = k } }

// Limit bounds the children of the stream's container after the insert:
// n > 0 keeps the first n, n < 0 the last -n; 0 means no limit. The browser
// applies it, so a long-lived page stays bounded.
func Limit(n int) Option { return func(i *diff.Insert) { i.Limit = n } }

// UpdateOnly updates items already on the page and never adds new ones.
func UpdateOnly() Option { return func(i *diff.Insert) { i.UpdateOnly = true } }

// New returns a stream named name, whose items have the DOM ids domID
// returns (they must be unique within the page, e.g. "messages-42"). The
// name is the stream's reference on the wire and must be unique within the
// view.
func New[T any](name string, domID func(T) string) *Stream[T] {
	return &Stream[T]{ref: name, domID: domID}
}

// Name returns the stream's name.
func (s *Stream[T]) Name() string { return s.ref }

// DOMID returns the DOM id of item.
func (s *Stream[T]) DOMID(item T) string { return s.domID(item) }

// Insert queues item for the next render: added at the position the options
// give (appended by default), or updated in place when the page has it.
// Inserting the same DOM id twice before a render sends the later one.
func (s *Stream[T]) Insert(item T, opts ...Option) {
	op := diff.Insert{At: -1}
	for _, o := range opts {
		o(&op)
	}
	id := s.domID(item)
	op.DOMID = id
	s.inserts = append(s.inserts, pending[T]{id: id, item: item, op: op})
}

// InsertMany inserts items in order, each with the same options. Items
// inserted one after the other at 0 end up in reverse order (each goes
// first): reverse a page of older items to prepend it in order.
func (s *Stream[T]) InsertMany(items []T, opts ...Option) {
	for _, it := range items {
		s.Insert(it, opts...)
	}
}

// Delete removes item from the page, and cancels its pending insert.
func (s *Stream[T]) Delete(item T) { s.DeleteID(s.domID(item)) }

// DeleteID removes the item with DOM id id from the page, and cancels its
// pending insert.
func (s *Stream[T]) DeleteID(id string) {
	kept := s.inserts[:0]
	for _, p := range s.inserts {
		if p.id != id {
			kept = append(kept, p)
		}
	}
	clear(s.inserts[len(kept):])
	s.inserts = kept
	s.deletes = append(s.deletes, id)
}

// Reset removes every item of the stream from the page before the items
// inserted after it are added; pending inserts and deletes are dropped.
func (s *Stream[T]) Reset() {
	s.inserts = nil
	s.deletes = nil
	s.reset = true
}

// Pending reports whether operations wait for the next render. The live
// package renders a stream assign whenever it has some, without the
// assign being set again.
func (s *Stream[T]) Pending() bool {
	return len(s.inserts) > 0 || len(s.deletes) > 0 || s.reset
}

// TakeStream implements [render.Stream]: it returns the queued operations
// and items, the latest insert of each DOM id only, and forgets them.
func (s *Stream[T]) TakeStream() (diff.Stream, []render.StreamItem) {
	ins := dedupe(s.inserts)
	ops := diff.Stream{Ref: s.ref, Deletes: s.deletes, Reset: s.reset}
	items := make([]render.StreamItem, len(ins))
	if len(ins) > 0 {
		ops.Inserts = make([]diff.Insert, len(ins))
	}
	for i, p := range ins {
		ops.Inserts[i] = p.op
		items[i] = render.StreamItem{DOMID: p.id, Value: p.item}
	}
	// Forget everything: nothing of the items outlives the render.
	s.inserts, s.deletes, s.reset = nil, nil, false
	return ops, items
}

// dedupe keeps the last insert of each DOM id, in the order of those last
// inserts.
func dedupe[T any](in []pending[T]) []pending[T] {
	if len(in) < 2 {
		return in
	}
	seen := make(map[string]struct{}, len(in))
	out := make([]pending[T], len(in))
	n := len(out)
	for i := len(in) - 1; i >= 0; i-- {
		if _, dup := seen[in[i].id]; dup {
			continue
		}
		seen[in[i].id] = struct{}{}
		n--
		out[n] = in[i]
	}
	return out[n:]
}

var _ render.Stream = (*Stream[int])(nil)
