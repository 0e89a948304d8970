package diff

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Full returns the full render of n: the "rendered" object of a join reply,
// with the statics of every node and every dynamic key. See [AppendFull].
func Full(n *Node) ([]byte, error) { return AppendFull(nil, n) }

// AppendFull appends the full render of n to dst. It resolves nothing, so n
// must hold no [Unchanged] marker; it clears the stream comprehensions it
// encodes (see [Comprehension.Stream]). On error it returns dst unextended.
func AppendFull(dst []byte, n *Node) ([]byte, error) {
	b, err := appendFullNode(dst, n, true)
	if err != nil {
		return dst, err
	}
	return b, nil
}

// Diff returns the smallest diff that turns the client's copy of prev into
// next, or nil when nothing changed. A nil prev gives the full render. See
// [AppendDiff].
func Diff(prev, next *Node) ([]byte, error) { return AppendDiff(nil, prev, next) }

// AppendDiff appends to dst the diff that turns the client's copy of prev into
// next, and returns dst unextended when nothing changed.
//
// prev must be the tree last encoded for this client (by [Full] or
// AppendDiff). AppendDiff never modifies prev. It completes next in place so
// that next can serve as prev for the following render: every [Unchanged]
// marker is replaced by the previous value, and stream comprehensions are
// cleared once encoded. On error the client state is unknown: send a full
// render.
func AppendDiff(dst []byte, prev, next *Node) ([]byte, error) {
	if next == nil {
		return dst, fmt.Errorf("%w: nil node", ErrShape)
	}
	if prev == next {
		return dst, nil
	}
	var b []byte
	var err error
	if prev == nil || !sameNodeTemplate(prev, next) {
		b, err = appendFullNode(dst, next, true)
	} else {
		b, _, err = appendDynsDiff(dst, prev.Dynamics, next.Dynamics)
	}
	if err != nil || len(b) == len(dst) {
		return dst, err
	}
	return b, nil
}

func sameNodeTemplate(p, n *Node) bool {
	return p.Fingerprint == n.Fingerprint && p.Root == n.Root &&
		len(p.Statics) == len(n.Statics) && len(p.Dynamics) == len(n.Dynamics) &&
		len(n.Dynamics) == len(n.Statics)-1
}

func sameCompTemplate(p, n *Comprehension) bool {
	return p.Fingerprint == n.Fingerprint && len(p.Statics) == len(n.Statics) &&
		(p.Stream == nil) == (n.Stream == nil)
}

// appendFullNode writes n with its statics. top drops the root flag, since
// "r" at the top level means a reply.
func appendFullNode(b []byte, n *Node, top bool) ([]byte, error) {
	if n == nil {
		return b, fmt.Errorf("%w: nil node", ErrShape)
	}
	if len(n.Statics) == 0 || len(n.Dynamics) != len(n.Statics)-1 {
		return b, fmt.Errorf("%w: %d statics, %d dynamics", ErrShape, len(n.Statics), len(n.Dynamics))
	}
	b = append(b, '{')
	var err error
	for i := range n.Dynamics {
		b = appendKey(b, i)
		if b, err = appendFullDyn(b, &n.Dynamics[i]); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	b = append(b, `"s":`...)
	b = appendStatics(b, n.Statics)
	if n.Root && !top {
		b = append(b, `,"r":1`...)
	}
	return append(b, '}'), nil
}

func appendFullDyn(b []byte, d *Dyn) ([]byte, error) {
	switch d.kind {
	case KindText:
		return appendString(b, d.text), nil
	case KindNode:
		return appendFullNode(b, d.node, false)
	case KindComprehension:
		return appendFullComp(b, d.comp)
	case KindComponent:
		return strconv.AppendInt(b, int64(d.cid), 10), nil
	case KindUnchanged:
		return b, ErrUnresolved
	}
	return b, fmt.Errorf("%w: unknown kind %d", ErrShape, d.kind)
}

// appendFullComp writes c with its statics and every entry in full.
func appendFullComp(b []byte, c *Comprehension) ([]byte, error) {
	if c == nil || len(c.Statics) == 0 {
		return b, fmt.Errorf("%w: comprehension without statics", ErrShape)
	}
	b = append(b, `{"s":`...)
	b = appendStatics(b, c.Statics)
	b = append(b, `,"k":`...)
	b, err := appendFullEntries(b, c)
	if err != nil {
		return b, err
	}
	if c.Stream != nil {
		b = appendStream(b, c.Stream)
		consume(c)
	}
	return append(b, '}'), nil
}

// appendFullEntries writes {"0":{…},…,"kc":n} with every entry in full.
func appendFullEntries(b []byte, c *Comprehension) ([]byte, error) {
	b = append(b, '{')
	var err error
	for i := range c.Entries {
		b = appendKey(b, i)
		if b, err = appendFullEntry(b, c, &c.Entries[i]); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	b = append(b, `"kc":`...)
	b = strconv.AppendInt(b, int64(len(c.Entries)), 10)
	return append(b, '}'), nil
}

func appendFullEntry(b []byte, c *Comprehension, e *Entry) ([]byte, error) {
	if len(e.Dynamics) != len(c.Statics)-1 {
		return b, fmt.Errorf("%w: entry %q has %d dynamics for %d statics", ErrShape, e.Key, len(e.Dynamics), len(c.Statics))
	}
	b = append(b, '{')
	var err error
	for i := range e.Dynamics {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, i)
		if b, err = appendFullDyn(b, &e.Dynamics[i]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// appendStream writes ,"stream":[ref,[inserts],[deletes](,true)].
func appendStream(b []byte, s *Stream) []byte {
	b = append(b, `,"stream":[`...)
	b = appendString(b, s.Ref)
	b = append(b, ",["...)
	for i, in := range s.Inserts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendString(b, in.DOMID)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(in.At), 10)
		b = append(b, ',')
		if in.Limit == 0 {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, int64(in.Limit), 10)
		}
		b = append(b, ',')
		b = strconv.AppendBool(b, in.UpdateOnly)
		b = append(b, ']')
	}
	b = append(b, "],["...)
	for i, id := range s.Deletes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, id)
	}
	b = append(b, ']')
	// The client resets on the mere presence of a fourth element.
	if s.Reset {
		b = append(b, ",true"...)
	}
	return append(b, ']')
}

// consume forgets the items and operations of an encoded stream.
func consume(c *Comprehension) {
	c.Entries = nil
	c.Stream.Inserts = nil
	c.Stream.Deletes = nil
	c.Stream.Reset = false
}

// appendDynsDiff writes {"i":diff,…} for the dynamics of next that differ
// from prev (same template, so same length), resolving Unchanged markers in
// next. It writes nothing and reports false when nothing changed.
func appendDynsDiff(b []byte, prev, next []Dyn) ([]byte, bool, error) {
	if len(prev) != len(next) {
		return b, false, fmt.Errorf("%w: %d dynamics after %d", ErrShape, len(next), len(prev))
	}
	start := len(b)
	b = append(b, '{')
	empty := true
	for i := range next {
		nd, pd := &next[i], &prev[i]
		if nd.kind == KindUnchanged {
			if pd.kind == KindUnchanged {
				return b[:start], false, ErrUnresolved
			}
			*nd = *pd
			continue
		}
		if nd.kind == pd.kind {
			switch nd.kind {
			case KindText:
				if nd.text == pd.text {
					continue
				}
			case KindNode:
				if nd.node == pd.node {
					continue
				}
			case KindComprehension:
				if nd.comp == pd.comp {
					continue
				}
			case KindComponent:
				if nd.cid == pd.cid {
					continue
				}
			}
		}
		mark := len(b)
		if !empty {
			b = append(b, ',')
		}
		b = appendKey(b, i)
		var changed bool
		var err error
		if b, changed, err = appendDynDiff(b, pd, nd); err != nil {
			return b[:start], false, err
		}
		if changed {
			empty = false
		} else {
			b = b[:mark]
		}
	}
	if empty {
		return b[:start], false, nil
	}
	return append(b, '}'), true, nil
}

// same reports whether next is cheaply known equal to prev (equal strings,
// shared pointers, markers), resolving markers as it goes. A false answer
// only means a closer look is needed.
func same(prev, next []Dyn) bool {
	for i := range next {
		nd, pd := &next[i], &prev[i]
		if nd.kind == KindUnchanged && pd.kind != KindUnchanged {
			*nd = *pd
			continue
		}
		if nd.kind != pd.kind {
			return false
		}
		switch nd.kind {
		case KindText:
			if nd.text != pd.text {
				return false
			}
		case KindNode:
			if nd.node != pd.node {
				return false
			}
		case KindComprehension:
			if nd.comp != pd.comp {
				return false
			}
		case KindComponent:
			if nd.cid != pd.cid {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// appendDynDiff writes the diff of one dynamic whose key is already written.
func appendDynDiff(b []byte, pd, nd *Dyn) ([]byte, bool, error) {
	var err error
	if nd.kind != pd.kind {
		b, err = appendFullDyn(b, nd)
		return b, err == nil, err
	}
	switch nd.kind {
	case KindNode:
		p, n := pd.node, nd.node
		if n == nil || p == nil || !sameNodeTemplate(p, n) {
			b, err = appendFullNode(b, n, false)
			return b, err == nil, err
		}
		return appendDynsDiff(b, p.Dynamics, n.Dynamics)
	case KindComprehension:
		p, n := pd.comp, nd.comp
		if n == nil || p == nil || !sameCompTemplate(p, n) {
			b, err = appendFullComp(b, n)
			return b, err == nil, err
		}
		if n.Stream != nil {
			return appendStreamDiff(b, n)
		}
		return appendKeyedDiff(b, p, n)
	}
	b, err = appendFullDyn(b, nd)
	return b, err == nil, err
}

// appendStreamDiff writes the new items and operations of a stream whose
// template the client already has. The previous items are never consulted:
// the client forgets them after each render, and so do we.
func appendStreamDiff(b []byte, c *Comprehension) ([]byte, bool, error) {
	s := c.Stream
	if len(c.Entries) == 0 && len(s.Inserts) == 0 && len(s.Deletes) == 0 && !s.Reset {
		return b, false, nil
	}
	b = append(b, `{"k":`...)
	b, err := appendFullEntries(b, c)
	if err != nil {
		return b, false, err
	}
	b = appendStream(b, s)
	consume(c)
	return append(b, '}'), true, nil
}

// appendKeyedDiff writes {"k":{…,"kc":n,"km":true?}} for a keyed
// comprehension whose template the client already has. An entry whose key
// is new is sent in full; a kept entry at the same index sends only its
// changed dynamics (or nothing); a kept entry that moved is sent as its old
// index, or [oldIndex, diff], and sets km.
func appendKeyedDiff(b []byte, p, n *Comprehension) ([]byte, bool, error) {
	start := len(b)
	b = append(b, `{"k":{`...)
	empty, moved := true, false
	m := matcher{prev: p.Entries}
	width := len(n.Statics) - 1
	var err error
	for i := range n.Entries {
		ne := &n.Entries[i]
		j := m.match(i, n.Entries)
		if j >= 0 && len(p.Entries[j].Dynamics) != width {
			j = -1
		}
		if j == i && len(ne.Dynamics) == width && same(p.Entries[j].Dynamics, ne.Dynamics) {
			continue
		}
		mark := len(b)
		if !empty {
			b = append(b, ',')
		}
		b = appendKey(b, i)
		switch {
		case j < 0:
			if b, err = appendFullEntry(b, n, ne); err != nil {
				return b[:start], false, err
			}
		case j == i:
			if len(ne.Dynamics) != width {
				return b[:start], false, fmt.Errorf("%w: entry %q has %d dynamics for %d statics", ErrShape, ne.Key, len(ne.Dynamics), len(n.Statics))
			}
			var changed bool
			if b, changed, err = appendDynsDiff(b, p.Entries[j].Dynamics, ne.Dynamics); err != nil {
				return b[:start], false, err
			}
			if !changed {
				b = b[:mark]
				continue
			}
		default:
			if len(ne.Dynamics) != width {
				return b[:start], false, fmt.Errorf("%w: entry %q has %d dynamics for %d statics", ErrShape, ne.Key, len(ne.Dynamics), len(n.Statics))
			}
			moved = true
			open := len(b)
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(j), 10)
			b = append(b, ',')
			var changed bool
			if b, changed, err = appendDynsDiff(b, p.Entries[j].Dynamics, ne.Dynamics); err != nil {
				return b[:start], false, err
			}
			if changed {
				b = append(b, ']')
			} else {
				b = strconv.AppendInt(b[:open], int64(j), 10)
			}
		}
		empty = false
	}
	if empty && len(n.Entries) == len(p.Entries) {
		return b[:start], false, nil
	}
	if !empty {
		b = append(b, ',')
	}
	b = append(b, `"kc":`...)
	b = strconv.AppendInt(b, int64(len(n.Entries)), 10)
	if moved {
		b = append(b, `,"km":true`...)
	}
	return append(b, "}}"...), true, nil
}

// matcher pairs each new entry with at most one previous entry of the same
// key, preferring the same index, without building an index while the keys
// line up.
type matcher struct {
	prev  []Entry
	used  []bool         // nil while every match so far was positional
	first map[string]int // first unused candidate per key
	chain []int          // next previous index with the same key, or -1
}

func (m *matcher) match(i int, next []Entry) int {
	key := next[i].Key
	if i < len(m.prev) && m.prev[i].Key == key && (m.used == nil || !m.used[i]) {
		if m.used != nil {
			m.used[i] = true
		}
		return i
	}
	if m.used == nil && i >= len(m.prev) {
		// Every previous entry matched in place already.
		return -1
	}
	if m.used == nil {
		m.used = make([]bool, len(m.prev))
		for k := 0; k < i && k < len(m.prev); k++ {
			m.used[k] = m.prev[k].Key == next[k].Key
		}
		m.first = make(map[string]int, len(m.prev))
		m.chain = make([]int, len(m.prev))
		for k := len(m.prev) - 1; k >= 0; k-- {
			if f, ok := m.first[m.prev[k].Key]; ok {
				m.chain[k] = f
			} else {
				m.chain[k] = -1
			}
			m.first[m.prev[k].Key] = k
		}
	}
	j, ok := m.first[key]
	if !ok {
		return -1
	}
	for j >= 0 && m.used[j] {
		j = m.chain[j]
	}
	if j >= 0 {
		m.used[j] = true
	}
	return j
}

// Message holds the top-level extras of a diff or join render, which the
// client strips before merging: the page title ("t"), events dispatched on
// window ("e") and the reply to a pushed event ("r").
type Message struct {
	Title  *string
	Events []Event
	// Reply is a JSON object, sent verbatim when not nil.
	Reply json.RawMessage
}

// Event is one entry of "e": [name, payload] or [name, payload, true].
type Event struct {
	Name string
	// Payload is JSON sent verbatim; nil sends {}.
	Payload json.RawMessage
	// BeforePatch dispatches the event before the DOM patch.
	BeforePatch bool
}

func (m *Message) empty() bool { return m.Title == nil && len(m.Events) == 0 && m.Reply == nil }

// Envelope adds the extras of m to the top level of tree, a render from
// [Full] or [Diff] (nil when nothing changed), keeping the key order numeric
// keys, "s", "e", "r", "t". It returns tree itself when m is empty, so nil
// means nothing to send; otherwise a new slice, leaving tree intact.
func Envelope(tree []byte, m Message) []byte {
	if m.empty() {
		return tree
	}
	var b []byte
	first := true
	if len(tree) < 2 {
		b = append(b, '{')
	} else {
		b = append(make([]byte, 0, len(tree)+64), tree[:len(tree)-1]...)
		first = tree[len(tree)-2] == '{'
	}
	sep := func() {
		if !first {
			b = append(b, ',')
		}
		first = false
	}
	if len(m.Events) > 0 {
		sep()
		b = append(b, `"e":[`...)
		for i, e := range m.Events {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendString(b, e.Name)
			b = append(b, ',')
			if e.Payload == nil {
				b = append(b, "{}"...)
			} else {
				b = append(b, e.Payload...)
			}
			if e.BeforePatch {
				b = append(b, ",true"...)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if m.Reply != nil {
		sep()
		b = append(b, `"r":`...)
		b = append(b, m.Reply...)
	}
	if m.Title != nil {
		sep()
		b = append(b, `"t":`...)
		b = appendString(b, *m.Title)
	}
	return append(b, '}')
}
