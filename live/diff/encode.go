package diff

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Encoder holds encoding options. The zero Encoder is what the package-level
// [Full] and [Diff] use.
type Encoder struct {
	// ShareTemplates sends statics that occur more than once in a message
	// once, in a "p" map, and refers to them by index ("s":0): at the top
	// level for the view's tree, and at the root of each component node for
	// that component's tree (the client renders each component with its own
	// templates). Indices count from 0 in every message, in order of first
	// occurrence; nothing refers to an earlier message. Statics are shared
	// only when that makes the message strictly shorter, so a message
	// without repeats is unchanged. The output then no longer follows
	// write order, so sharing costs one copy of the message.
	ShareTemplates bool
}

// Full returns the full render of n: the "rendered" object of a join reply,
// with the statics of every node and every dynamic key. See [AppendFull].
func Full(n *Node) ([]byte, error) { return Encoder{}.AppendFull(nil, n) }

// AppendFull appends the full render of n to dst. See [Encoder.AppendFull].
func AppendFull(dst []byte, n *Node) ([]byte, error) { return Encoder{}.AppendFull(dst, n) }

// Diff returns the smallest diff that turns the client's copy of prev into
// next, or nil when nothing changed. A nil prev gives the full render. See
// [AppendDiff].
func Diff(prev, next *Node) ([]byte, error) { return Encoder{}.AppendDiff(nil, prev, next) }

// AppendDiff appends to dst the diff from prev to next. See
// [Encoder.AppendDiff].
func AppendDiff(dst []byte, prev, next *Node) ([]byte, error) {
	return Encoder{}.AppendDiff(dst, prev, next)
}

// Full is [Encoder.AppendFull] into a new slice.
func (e Encoder) Full(n *Node) ([]byte, error) { return e.AppendFull(nil, n) }

// Diff is [Encoder.AppendDiff] into a new slice, nil when nothing changed.
func (e Encoder) Diff(prev, next *Node) ([]byte, error) { return e.AppendDiff(nil, prev, next) }

// AppendFull appends the full render of n to dst, with every component of
// n.Components in full under "c". It resolves nothing, so n must hold no
// [Unchanged] marker; it clears the stream comprehensions it encodes (see
// [Comprehension.Stream]). On error it returns dst unextended.
func (e Encoder) AppendFull(dst []byte, n *Node) ([]byte, error) {
	return e.AppendDiff(dst, nil, n)
}

// AppendDiff appends to dst the diff that turns the client's copy of prev into
// next, and returns dst unextended when nothing changed. A nil prev gives the
// full render.
//
// prev must be the tree last encoded for this client (by AppendFull or
// AppendDiff). AppendDiff never modifies prev. It completes next in place so
// that next can serve as prev for the following render: every [Unchanged]
// marker is replaced by the previous value, and stream comprehensions are
// cleared once encoded. On error the client state is unknown: send a full
// render.
//
// Components (see [Node.Components]) are sent under "c": a new component in
// full with "r":1, a changed one as a diff of its dynamics ("c" alone when
// only components changed), an unchanged one (same pointer, or nothing to
// send) not at all. A new component, or one whose template changed, whose
// template is that of a component the client holds from prev and that is
// still in next, reuses its statics as "s":-cid, and otherwise that of a
// component sent in full earlier in the same message as "s":cid; its
// dynamics are then sent in full. A new top-level template makes the client
// drop its component cache, so then every component is sent in full.
func (e Encoder) AppendDiff(dst []byte, prev, next *Node) ([]byte, error) {
	if next == nil {
		return dst, fmt.Errorf("%w: nil node", ErrShape)
	}
	if prev == next {
		return dst, nil
	}
	st := encoder{share: e.ShareTemplates, comps: next.Components}
	b, err := st.appendTop(dst, prev, next)
	if err != nil || len(b) == len(dst) {
		return dst, err
	}
	if st.share {
		b = st.shareTemplates(b, len(dst))
	}
	return b, nil
}

// encoder is the state of one message being written.
type encoder struct {
	comps map[int32]*Node // the components of next, nil when not managed
	share bool
	// With share: every statics array written, in write order, and the
	// template scopes (the top level, then one per component sent).
	emits  []emit
	scopes []scope
	cur    int // current scope
}

// emit is one statics array at b[start:end], in scope.
type emit struct {
	start, end int
	scope      int
}

// scope is where a "p" map may go: at offset at, before the "s" of the
// scope's root node, or before its closing brace.
type scope struct{ at int }

// cut truncates b to n, forgetting the statics written past n.
func (st *encoder) cut(b []byte, n int) []byte {
	for len(st.emits) > 0 && st.emits[len(st.emits)-1].start >= n {
		st.emits = st.emits[:len(st.emits)-1]
	}
	return b[:n]
}

// statics writes a statics array that may be shared.
func (st *encoder) statics(b []byte, statics []string) []byte {
	if !st.share {
		return appendStatics(b, statics)
	}
	start := len(b)
	b = appendStatics(b, statics)
	st.emits = append(st.emits, emit{start: start, end: len(b), scope: st.cur})
	return b
}

// openScope starts the template scope of a component and returns the
// enclosing one.
func (st *encoder) openScope() int {
	outer := st.cur
	if st.share {
		st.cur = len(st.scopes)
		st.scopes = append(st.scopes, scope{at: -1})
	}
	return outer
}

// closeScope records where the scope's "p" goes (-1: nowhere, the scope was
// dropped) and returns to outer.
func (st *encoder) closeScope(at, outer int) {
	if st.share {
		st.scopes[st.cur].at = at
		st.cur = outer
	}
}

// appendTop writes the top-level object: the dynamics of next (in full with
// its statics, or as a diff from prev), then "c", then "s".
func (st *encoder) appendTop(dst []byte, prev, next *Node) ([]byte, error) {
	if st.share {
		st.scopes = append(st.scopes, scope{at: -1})
	}
	full := prev == nil || !sameNodeTemplate(prev, next)
	var b []byte
	var err error
	if full {
		if len(next.Statics) == 0 || len(next.Dynamics) != len(next.Statics)-1 {
			return dst, fmt.Errorf("%w: %d statics, %d dynamics", ErrShape, len(next.Statics), len(next.Dynamics))
		}
		b = append(dst, '{')
		for i := range next.Dynamics {
			b = appendKey(b, i)
			if b, err = st.appendFullDyn(b, &next.Dynamics[i]); err != nil {
				return dst, err
			}
			b = append(b, ',')
		}
	} else {
		var changed bool
		if b, changed, err = st.appendDynsDiff(dst, prev.Dynamics, next.Dynamics); err != nil {
			return dst, err
		}
		if changed {
			b[len(b)-1] = ',' // reopen {…} to add "c"
		} else {
			b = append(b, '{')
		}
	}
	if next.Components != nil {
		var prevComps map[int32]*Node
		if !full {
			prevComps = prev.Components
		}
		if b, err = st.appendComponents(b, prevComps, next.Components); err != nil {
			return dst, err
		}
	}
	if st.share {
		st.scopes[0].at = len(b)
	}
	if full {
		b = append(b, `"s":`...)
		b = st.statics(b, next.Statics)
		return append(b, '}'), nil
	}
	if b[len(b)-1] == '{' {
		// Nothing changed.
		st.emits = st.emits[:0]
		return dst, nil
	}
	b[len(b)-1] = '}'
	if st.share {
		st.scopes[0].at = len(b) - 1
	}
	return b, nil
}

// appendComponents writes "c":{…}, after the keys already in b (b ends with
// '{' or ','), followed by a ',' when anything was written.
func (st *encoder) appendComponents(b []byte, prev, next map[int32]*Node) ([]byte, error) {
	cids := make([]int32, 0, len(next))
	for cid, n := range next {
		if cid <= 0 || n == nil {
			return b, fmt.Errorf("%w: component %d: bad id or nil node", ErrShape, cid)
		}
		if prev[cid] != n {
			cids = append(cids, cid)
		}
	}
	if len(cids) == 0 {
		return b, nil
	}
	slices.Sort(cids)
	start := len(b)
	b = append(b, `"c":{`...)
	empty := true
	var cached, sent map[uint64]int32 // template fingerprint → cid
	for _, cid := range cids {
		n := next[cid]
		p := prev[cid]
		mark := len(b)
		if !empty {
			b = append(b, ',')
		}
		b = appendKey(b, int(cid))
		outer := st.openScope()
		if p != nil && sameComponentTemplate(p, n) {
			var changed bool
			var err error
			if b, changed, err = st.appendDynsDiff(b, p.Dynamics, n.Dynamics); err != nil {
				return b, fmt.Errorf("component %d: %w", cid, err)
			}
			if !changed {
				st.closeScope(-1, outer)
				b = st.cut(b, mark)
				continue
			}
			st.closeScope(len(b)-1, outer)
			empty = false
			continue
		}
		// New, or a new template: look for a component the client holds
		// with the same template, then for one sent in full above.
		if cached == nil && prev != nil {
			cached = map[uint64]int32{}
			for c, pn := range prev {
				if pn == nil || next[c] == nil {
					continue
				}
				if o, ok := cached[pn.Fingerprint]; !ok || c < o {
					cached[pn.Fingerprint] = c
				}
			}
		}
		ref := int32(0)
		if c, ok := cached[n.Fingerprint]; ok && sameComponentTemplate(prev[c], n) {
			ref = -c
		} else if c, ok := sent[n.Fingerprint]; ok && sameComponentTemplate(next[c], n) {
			ref = c
		}
		var err error
		var at int
		if b, at, err = st.appendComponentNode(b, n, ref); err != nil {
			return b, fmt.Errorf("component %d: %w", cid, err)
		}
		empty = false
		if ref == 0 {
			if sent == nil {
				sent = map[uint64]int32{}
			}
			if _, ok := sent[n.Fingerprint]; !ok {
				sent[n.Fingerprint] = cid
			}
		}
		st.closeScope(at, outer)
	}
	if empty {
		return st.cut(b, start), nil
	}
	return append(b, "},"...), nil
}

// sameComponentTemplate is sameNodeTemplate without the root flag, which
// component nodes always have.
func sameComponentTemplate(p, n *Node) bool {
	return p.Fingerprint == n.Fingerprint && len(p.Statics) == len(n.Statics) &&
		len(p.Dynamics) == len(n.Dynamics) && len(n.Dynamics) == len(n.Statics)-1
}

// appendComponentNode writes component n in full: its statics, or ref (a
// cid whose statics the client reuses, negative for its cache) instead.
// Component statics are never shared: an integer "s" there names a cid.
// It also returns where the component's "p" map would go.
func (st *encoder) appendComponentNode(b []byte, n *Node, ref int32) ([]byte, int, error) {
	if len(n.Statics) == 0 || len(n.Dynamics) != len(n.Statics)-1 {
		return b, 0, fmt.Errorf("%w: %d statics, %d dynamics", ErrShape, len(n.Statics), len(n.Dynamics))
	}
	b = append(b, '{')
	var err error
	for i := range n.Dynamics {
		b = appendKey(b, i)
		if b, err = st.appendFullDyn(b, &n.Dynamics[i]); err != nil {
			return b, 0, err
		}
		b = append(b, ',')
	}
	at := len(b)
	b = append(b, `"s":`...)
	if ref != 0 {
		// The referenced node brings its "r":1 along.
		b = strconv.AppendInt(b, int64(ref), 10)
	} else {
		b = appendStatics(b, n.Statics)
		b = append(b, `,"r":1`...)
	}
	return append(b, '}'), at, nil
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

// appendFullNode writes nested node n with its statics.
func (st *encoder) appendFullNode(b []byte, n *Node) ([]byte, error) {
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
		if b, err = st.appendFullDyn(b, &n.Dynamics[i]); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	b = append(b, `"s":`...)
	b = st.statics(b, n.Statics)
	if n.Root {
		b = append(b, `,"r":1`...)
	}
	return append(b, '}'), nil
}

func (st *encoder) appendFullDyn(b []byte, d *Dyn) ([]byte, error) {
	switch d.kind {
	case KindText:
		return appendString(b, d.text), nil
	case KindNode:
		return st.appendFullNode(b, d.node)
	case KindComprehension:
		return st.appendFullComp(b, d.comp)
	case KindComponent:
		if st.comps != nil && st.comps[d.cid] == nil {
			return b, fmt.Errorf("%w: cid %d", ErrComponent, d.cid)
		}
		return strconv.AppendInt(b, int64(d.cid), 10), nil
	case KindUnchanged:
		return b, ErrUnresolved
	}
	return b, fmt.Errorf("%w: unknown kind %d", ErrShape, d.kind)
}

// appendFullComp writes c with its statics and every entry in full.
func (st *encoder) appendFullComp(b []byte, c *Comprehension) ([]byte, error) {
	if c == nil || len(c.Statics) == 0 {
		return b, fmt.Errorf("%w: comprehension without statics", ErrShape)
	}
	b = append(b, `{"s":`...)
	b = st.statics(b, c.Statics)
	b = append(b, `,"k":`...)
	b, err := st.appendFullEntries(b, c)
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
func (st *encoder) appendFullEntries(b []byte, c *Comprehension) ([]byte, error) {
	b = append(b, '{')
	var err error
	for i := range c.Entries {
		b = appendKey(b, i)
		if b, err = st.appendFullEntry(b, c, &c.Entries[i]); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	b = append(b, `"kc":`...)
	b = strconv.AppendInt(b, int64(len(c.Entries)), 10)
	return append(b, '}'), nil
}

func (st *encoder) appendFullEntry(b []byte, c *Comprehension, e *Entry) ([]byte, error) {
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
		if b, err = st.appendFullDyn(b, &e.Dynamics[i]); err != nil {
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
func (st *encoder) appendDynsDiff(b []byte, prev, next []Dyn) ([]byte, bool, error) {
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
		if b, changed, err = st.appendDynDiff(b, pd, nd); err != nil {
			return b[:start], false, err
		}
		if changed {
			empty = false
		} else {
			b = st.cut(b, mark)
		}
	}
	if empty {
		return st.cut(b, start), false, nil
	}
	return append(b, '}'), true, nil
}

// same reports whether next is cheaply known equal to prev (equal strings,
// shared pointers, markers), resolving markers as it goes. A false answer
// only means a closer look is needed.
func same(prev, next []Dyn) bool {
	if len(next) > 0 && len(prev) == len(next) && &prev[0] == &next[0] {
		return true // one slice, shared by two renders
	}
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
func (st *encoder) appendDynDiff(b []byte, pd, nd *Dyn) ([]byte, bool, error) {
	var err error
	if nd.kind != pd.kind {
		b, err = st.appendFullDyn(b, nd)
		return b, err == nil, err
	}
	switch nd.kind {
	case KindNode:
		p, n := pd.node, nd.node
		if n == nil || p == nil || !sameNodeTemplate(p, n) {
			b, err = st.appendFullNode(b, n)
			return b, err == nil, err
		}
		return st.appendDynsDiff(b, p.Dynamics, n.Dynamics)
	case KindComprehension:
		p, n := pd.comp, nd.comp
		if n == nil || p == nil || !sameCompTemplate(p, n) {
			b, err = st.appendFullComp(b, n)
			return b, err == nil, err
		}
		if n.Stream != nil {
			return st.appendStreamDiff(b, n)
		}
		return st.appendKeyedDiff(b, p, n)
	}
	b, err = st.appendFullDyn(b, nd)
	return b, err == nil, err
}

// appendStreamDiff writes the new items and operations of a stream whose
// template the client already has. The previous items are never consulted:
// the client forgets them after each render, and so do we.
func (st *encoder) appendStreamDiff(b []byte, c *Comprehension) ([]byte, bool, error) {
	s := c.Stream
	if len(c.Entries) == 0 && len(s.Inserts) == 0 && len(s.Deletes) == 0 && !s.Reset {
		return b, false, nil
	}
	b = append(b, `{"k":`...)
	b, err := st.appendFullEntries(b, c)
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
func (st *encoder) appendKeyedDiff(b []byte, p, n *Comprehension) ([]byte, bool, error) {
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
			if b, err = st.appendFullEntry(b, n, ne); err != nil {
				return b[:start], false, err
			}
		case j == i:
			if len(ne.Dynamics) != width {
				return b[:start], false, fmt.Errorf("%w: entry %q has %d dynamics for %d statics", ErrShape, ne.Key, len(ne.Dynamics), len(n.Statics))
			}
			var changed bool
			if b, changed, err = st.appendDynsDiff(b, p.Entries[j].Dynamics, ne.Dynamics); err != nil {
				return b[:start], false, err
			}
			if !changed {
				b = st.cut(b, mark)
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
			if b, changed, err = st.appendDynsDiff(b, p.Entries[j].Dynamics, ne.Dynamics); err != nil {
				return b[:start], false, err
			}
			if changed {
				b = append(b, ']')
			} else {
				b = strconv.AppendInt(st.cut(b, open), int64(j), 10)
			}
		}
		empty = false
	}
	if empty && len(n.Entries) == len(p.Entries) {
		return st.cut(b, start), false, nil
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

// shareTemplates rewrites b[base:], the message just written, so that each
// statics array written more than once within a template scope goes once
// into that scope's "p" map and is replaced by its index, for the groups
// and scopes where this shortens the message.
func (st *encoder) shareTemplates(b []byte, base int) []byte {
	if len(st.emits) < 2 {
		return b
	}
	type group struct {
		start, end int // the first occurrence
		scope      int
		count      int
		index      int // in the scope's "p", or -1
	}
	var groups []group
	gid := make([]int, len(st.emits))
	seen := make([]map[string]int, len(st.scopes))
	for i, e := range st.emits {
		m := seen[e.scope]
		if m == nil {
			m = map[string]int{}
			seen[e.scope] = m
		}
		g, ok := m[string(b[e.start:e.end])]
		if !ok {
			g = len(groups)
			m[string(b[e.start:e.end])] = g
			groups = append(groups, group{start: e.start, end: e.end, scope: e.scope, index: -1})
		}
		groups[g].count++
		gid[i] = g
	}
	// Decide per scope, in order of first occurrence. Sharing a group of n
	// arrays of length l under index i (d digits) costs n*d for the
	// references plus `"i":` and the array once, and a comma after the
	// first; the scope pays `"p":{}` and a comma once.
	const wrapper = len(`"p":{}`) + 1
	shared := make([][]int, len(st.scopes)) // scope → groups in index order
	gain := make([]int, len(st.scopes))
	for g := range groups {
		gr := &groups[g]
		if gr.count < 2 {
			continue
		}
		sc := gr.scope
		if st.scopes[sc].at < 0 {
			continue
		}
		idx := len(shared[sc])
		d := digits(idx)
		l := gr.end - gr.start
		cost := gr.count*d + d + 3 + l
		if idx > 0 {
			cost++
		}
		if cost >= gr.count*l {
			continue
		}
		gr.index = idx
		shared[sc] = append(shared[sc], g)
		gain[sc] += gr.count*l - cost
	}
	found := false
	for sc := range shared {
		if len(shared[sc]) > 0 && gain[sc] <= wrapper {
			for _, g := range shared[sc] {
				groups[g].index = -1
			}
			shared[sc] = nil
		}
		found = found || len(shared[sc]) > 0
	}
	if !found {
		return b
	}
	// Insertion points of the "p" maps, in offset order.
	var inserts []int // scope ids
	for sc := range shared {
		if len(shared[sc]) > 0 {
			inserts = append(inserts, sc)
		}
	}
	slices.SortFunc(inserts, func(x, y int) int { return st.scopes[x].at - st.scopes[y].at })

	out := make([]byte, 0, len(b)-base)
	pos := base
	ei := 0
	for _, sc := range inserts {
		at := st.scopes[sc].at
		for ; ei < len(st.emits) && st.emits[ei].start < at; ei++ {
			out, pos = st.replace(out, b, pos, ei, groups[gid[ei]].index)
		}
		out = append(out, b[pos:at]...)
		pos = at
		if c := b[at-1]; c != '{' && c != ',' {
			out = append(out, ',')
		}
		out = append(out, `"p":{`...)
		for i, g := range shared[sc] {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendKey(out, i)
			out = append(out, b[groups[g].start:groups[g].end]...)
		}
		out = append(out, '}')
		if b[at] != '}' {
			out = append(out, ',')
		}
	}
	for ; ei < len(st.emits); ei++ {
		out, pos = st.replace(out, b, pos, ei, groups[gid[ei]].index)
	}
	out = append(out, b[pos:]...)
	return append(b[:base], out...)
}

// replace copies b[pos:] up to emission ei into out, then the emission
// itself or its index when shared, and returns the new read position.
func (st *encoder) replace(out, b []byte, pos, ei, index int) ([]byte, int) {
	e := st.emits[ei]
	if index < 0 {
		return append(out, b[pos:e.end]...), e.end
	}
	out = append(out, b[pos:e.start]...)
	return strconv.AppendInt(out, int64(index), 10), e.end
}

func digits(i int) int {
	n := 1
	for ; i >= 10; i /= 10 {
		n++
	}
	return n
}
