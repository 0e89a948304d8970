package render

import (
	"errors"
	"iter"
	"reflect"

	"github.com/parley-go/parley/live/diff"
)

// ErrStreamElse reports a {{range}} with an {{else}} over a [Stream]: a
// stream renders only its pending items, so "nothing to range over" says
// nothing about what the page shows.
var ErrStreamElse = errors.New("render: range over a stream cannot have an else")

// Stream is a range source rendered as a stream comprehension
// ([diff.Comprehension] with Stream set) instead of a list. Package
// live/stream implements it.
//
// When a {{range}} pipeline yields a Stream, Render calls TakeStream once
// and ranges over the returned items, in order: with two range variables
// ({{range $id, $item := .messages}}) the first is the item's DOM id and
// the second the item; with one or none, the item is the dot. The function
// domid prints the DOM id of the stream item being rendered. Each item's
// root element must carry id="{{$id}}" (or id="{{domid}}"), and the range
// must be the only content of an element with phx-update="stream" and an
// id, as the client requires.
type Stream interface {
	// TakeStream returns the operations and the items inserted or updated
	// since the previous call, one item per insert and in the same order,
	// and forgets them.
	TakeStream() (ops diff.Stream, items []StreamItem)
}

// StreamItem is one pending item of a [Stream].
type StreamItem struct {
	DOMID string
	Value any
}

// domIDStub is domid outside a render: it prints nothing.
func domIDStub() string { return "" }

func (x *executor) domid() string { return x.domID }

// rangeSource is the last command of every range pipeline without an
// else and with at most one variable: it passes v through, unless v is a
// Stream, whose items it ranges over.
func (x *executor) rangeSource(v reflect.Value) reflect.Value {
	items, ok := x.take(v)
	if !ok {
		return v
	}
	return reflect.ValueOf(iter.Seq[any](func(yield func(any) bool) {
		for _, v := range x.streamItems(items) {
			if !yield(v) {
				return
			}
		}
	}))
}

// rangeSourcePairs is rangeSource for ranges with two variables: they get
// the DOM id and the item.
func (x *executor) rangeSourcePairs(v reflect.Value) reflect.Value {
	items, ok := x.take(v)
	if !ok {
		return v
	}
	return reflect.ValueOf(x.streamItems(items))
}

// take takes the pending items and operations of v when it is a Stream,
// recording the operations for the assembler.
func (x *executor) take(v reflect.Value) ([]StreamItem, bool) {
	s := asStream(v)
	if s == nil {
		return nil, false
	}
	ops, items := s.TakeStream()
	x.sink.ev = append(x.sink.ev, event{id: streamEvent, off: len(x.sink.buf), stream: &ops})
	return items, true
}

// rangeSourceElse is rangeSource for ranges with an else.
func (x *executor) rangeSourceElse(v reflect.Value) (reflect.Value, error) {
	if asStream(v) != nil {
		return reflect.Value{}, ErrStreamElse
	}
	return v, nil
}

// streamItems ranges over items, keeping domid up to date.
func (x *executor) streamItems(items []StreamItem) iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		outer := x.domID
		defer func() { x.domID = outer }()
		for _, it := range items {
			x.domID = it.DOMID
			if !yield(it.DOMID, it.Value) {
				return
			}
		}
	}
}

var streamType = reflect.TypeFor[Stream]()

// asStream returns v as a Stream, or nil.
func asStream(v reflect.Value) Stream {
	for v.IsValid() && v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() || !v.CanInterface() || !v.Type().Implements(streamType) {
		return nil // (checked first: Interface would copy v to the heap)
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	s, _ := v.Interface().(Stream)
	return s
}
