package render

import (
	"bytes"
	"hash/maphash"
	"reflect"
	"strconv"
	"text/template/parse"
	"unsafe"

	"github.com/parley-go/parley/live/diff"
)

// Memo is what one view's renders of one template remember of each other:
// the items of its tracked comprehensions (see "Per-item change tracking"
// in the package documentation) and their rendered entries, so that the
// next [Template.RenderMemo] evaluates only the items that changed.
//
// The zero Memo is ready to use. A Memo belongs to one sequence of renders
// (one view): it is not safe for concurrent use, and passing it to renders
// of another template resets it. It holds a private copy of each tracked
// list (its items, not what they point to: tracked items hold no pointers)
// and shares the entries of the last render's tree.
type Memo struct {
	c     *compiled
	loops []loopMemo
}

// loopMemo is the memory of one tracked range: a copy of the items of its
// last render and the entries rendered from them.
type loopMemo struct {
	ok      bool         // items and entries are from one successful render
	fresh   int          // items evaluated by the last render (for tests)
	typ     reflect.Type // the item type
	items   reflect.Value
	n       int
	entries []diff.Entry
}

// trackPlan is what the compiler found out about a tracked range.
type trackPlan struct {
	// names are the top-level assigns (indices into compiled.names) that
	// the body reads besides the item: when one changes, every item is
	// evaluated again.
	names []int
	// keyed: the body has a top-level {{key}}; otherwise entries are keyed
	// by index.
	keyed bool
}

// trackRun is the state of one tracked range during one render, kept in
// the executor and reused.
type trackRun struct {
	count int          // executions this render (at most one is tracked)
	src   []int32      // per item: the previous entry reused, or -1
	prev  []diff.Entry // the previous entries src refers to
	keyed bool
	memo  *loopMemo
}

// Builtin functions of text/template whose results depend only on their
// arguments. Everything else a range body calls (a user function, call,
// a method) may read state the analysis cannot see, so the range is not
// tracked.
var pureBuiltins = map[string]bool{
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"print": true, "printf": true, "println": true, "html": true, "js": true, "urlquery": true,
}

// itemName stands for the item in the analysis of a range body.
const itemName = "\x00item"

// trackable reports whether the range n (in the root template, outside
// any range) can be tracked per item, and if so which assigns its body
// reads besides the item.
func (cp *compiler) trackable(e *env, n *parse.RangeNode) ([]string, bool) {
	if n.Pipe.IsAssign || len(n.Pipe.Decl) > 1 || n.ElseList != nil {
		return nil, false
	}
	if !cp.pureList(n.List, map[string]bool{}) {
		return nil, false
	}
	item := val{names: []string{itemName}}
	be := e.with(item)
	for _, d := range n.Pipe.Decl {
		be = be.bind(d.Ident[0], item)
	}
	deps := cp.an.list(be, n.List)
	if deps.all {
		return nil, false
	}
	var names []string
	for _, name := range deps.names {
		if name != itemName {
			names = append(names, name)
		}
	}
	return names, true
}

// pureList reports whether the nodes of l, and the templates they call,
// call only functions that depend on their arguments alone.
func (cp *compiler) pureList(l *parse.ListNode, seen map[string]bool) bool {
	ok := true
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if !ok || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, m := range n.Nodes {
				walk(m)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				for _, a := range c.Args {
					walk(a)
				}
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.IdentifierNode:
			ok = cp.pureFunc(n.Ident)
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			walk(n.Pipe)
			if !seen[n.Name] {
				seen[n.Name] = true
				t := cp.html.Lookup(n.Name)
				if t == nil || t.Tree == nil {
					ok = false
					return
				}
				walk(t.Tree.Root)
			}
		}
	}
	walk(l)
	return ok
}

func (cp *compiler) pureFunc(name string) bool {
	switch {
	case pureBuiltins[name]:
		return true
	case name == userKey:
		return !cp.c.ownKey
	case len(name) > len("_html_template_") && name[:len("_html_template_")] == "_html_template_":
		return true // html/template's escapers
	case name == keyFunc:
		return true
	}
	return false
}

// itemLayout says how to compare two items of one type: the bytes that
// are compared bitwise and the strings compared by content. Only types
// made of booleans, numbers, strings, arrays and structs, none of them
// with methods, have a layout: their value is all that a template can read
// of them, and equal values render equally.
type itemLayout struct {
	ok   bool
	size uintptr
	raw  [][2]uintptr // [from, to) byte ranges
	strs []uintptr    // offsets of strings
}

func (c *compiled) layout(t reflect.Type) *itemLayout {
	if v, ok := c.layouts.Load(t); ok {
		return v.(*itemLayout)
	}
	l := &itemLayout{size: t.Size()}
	l.ok = l.add(t, 0)
	c.layouts.Store(t, l)
	return l
}

func (l *itemLayout) add(t reflect.Type, off uintptr) bool {
	if t.NumMethod() > 0 || reflect.PointerTo(t).NumMethod() > 0 {
		// A method (declared, or promoted from an embedded field) could
		// read anything; printing may call it.
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		// Bitwise: 0.0 and -0.0 print differently, so == would not do.
		end := off + t.Size()
		if k := len(l.raw); k > 0 && l.raw[k-1][1] == off {
			l.raw[k-1][1] = end
		} else {
			l.raw = append(l.raw, [2]uintptr{off, end})
		}
		return true
	case reflect.String:
		l.strs = append(l.strs, off)
		return true
	case reflect.Array:
		for i := range t.Len() {
			if !l.add(t.Elem(), off+uintptr(i)*t.Elem().Size()) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !l.add(f.Type, off+f.Offset) {
				return false
			}
		}
		return true
	}
	return false // pointers, interfaces, maps, slices, funcs, channels
}

func mem(p unsafe.Pointer, from, to uintptr) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(p, from)), to-from)
}

// equal reports whether the items at a and b have equal layouts' values.
func (l *itemLayout) equal(a, b unsafe.Pointer) bool {
	if l.size == 0 || bytes.Equal(mem(a, 0, l.size), mem(b, 0, l.size)) {
		return true
	}
	for _, r := range l.raw {
		if !bytes.Equal(mem(a, r[0], r[1]), mem(b, r[0], r[1])) {
			return false
		}
	}
	for _, off := range l.strs {
		if *(*string)(unsafe.Add(a, off)) != *(*string)(unsafe.Add(b, off)) {
			return false
		}
	}
	return true
}

// hash hashes the value of the item at p (equal values, equal hashes).
func (l *itemLayout) hash(h *maphash.Hash, p unsafe.Pointer) uint64 {
	h.Reset()
	for _, r := range l.raw {
		_, _ = h.Write(mem(p, r[0], r[1]))
	}
	for _, off := range l.strs {
		_, _ = h.WriteString(*(*string)(unsafe.Add(p, off)))
		_ = h.WriteByte(0)
	}
	return h.Sum64()
}

// track is the last command of the pipeline of tracked range i: it
// compares the items with the memo's, and returns only the items that
// must be evaluated, recording for the assembler where the others come
// from.
func (x *executor) track(i int, v reflect.Value) (reflect.Value, error) {
	if asStream(v) != nil {
		return x.rangeSource(v), nil
	}
	if x.memo == nil || i < 0 || i >= len(x.runs) {
		return v, nil
	}
	run := &x.runs[i]
	lm := &x.memo.loops[i]
	run.count++
	if run.count > 1 {
		// Only possible if the range ran twice in one render: remember
		// nothing of this render.
		lm.ok, lm.fresh = false, -1
		return v, nil
	}
	lv := v
	for lv.IsValid() && lv.Kind() == reflect.Interface && !lv.IsNil() {
		lv = lv.Elem()
	}
	if !lv.IsValid() || lv.Kind() != reflect.Slice {
		lm.ok, lm.fresh = false, -1
		return v, nil
	}
	et := lv.Type().Elem()
	l := x.c.layout(et)
	if !l.ok {
		lm.ok, lm.fresh = false, -1
		return v, nil
	}
	n := lv.Len()
	if cap(run.src) < n {
		run.src = make([]int32, n)
	}
	run.src = run.src[:n]
	run.keyed = x.c.tracks[i].keyed
	run.memo = lm
	reuse := lm.ok && !x.full && lm.typ == et && lm.n > 0
	run.prev = lm.entries
	fresh := 0
	if !reuse {
		for k := range run.src {
			run.src[k] = -1
		}
		fresh = n
	} else {
		fresh = x.match(l, lm, lv, run.src)
	}
	// The source is copied now: the caller may change it in place (and
	// usually does) before the next render. Items equal to the copy's at
	// the same index need no copying (lm.items is kept at its full
	// length; lm.n says how much of it is in use).
	switch {
	case reuse && n == lm.n:
		for k, j := range run.src {
			if int(j) != k {
				lm.items.Index(k).Set(lv.Index(k))
			}
		}
	case lm.items.IsValid() && lm.typ == et && lm.items.Len() >= n:
		reflect.Copy(lm.items, lv)
	default:
		lm.items = reflect.MakeSlice(lv.Type(), n, n)
		reflect.Copy(lm.items, lv)
	}
	lm.typ, lm.n, lm.ok, lm.fresh = et, n, false, fresh // ok again once assembled
	x.sink.ev = append(x.sink.ev, event{id: trackEvent, off: len(x.sink.buf), track: run})
	switch fresh {
	case n:
		return v, nil
	case 0:
		return reflect.Zero(lv.Type()), nil
	}
	sub := reflect.MakeSlice(lv.Type(), fresh, fresh)
	d := 0
	for k, j := range run.src {
		if j < 0 {
			sub.Index(d).Set(lv.Index(k))
			d++
		}
	}
	return sub, nil
}

// match fills src: for each item of lv, the index of an equal item of the
// memo (the same index when it is equal, else any equal one), or -1. It
// returns the number of items without an equal one.
func (x *executor) match(l *itemLayout, lm *loopMemo, lv reflect.Value, src []int32) int {
	n, pn := lv.Len(), lm.n
	size := l.size
	base, pbase := lv.UnsafePointer(), lm.items.UnsafePointer()
	at := func(p unsafe.Pointer, k int) unsafe.Pointer { return unsafe.Add(p, uintptr(k)*size) }
	fresh, misses := 0, 0
	var byHash map[uint64]int32
	var chain []int32
	var h maphash.Hash
	// off is the shift of the last match: after an insert or a delete,
	// item k is the previous item k+off.
	off := 0
	try := func(k, j int) bool {
		if j < 0 || j >= pn || !l.equal(at(base, k), at(pbase, j)) {
			return false
		}
		src[k], off = int32(j), j-k
		return true
	}
	for k := range n {
		if try(k, k+off) || try(k, k+off+1) || try(k, k+off-1) || (off != 0 && try(k, k)) {
			continue
		}
		src[k] = -1
		misses++
		if byHash == nil && misses <= 2 {
			// An edited item, or the first of a few moved: evaluate it.
			fresh++
			continue
		}
		if byHash == nil {
			// Moved items: look for an equal item anywhere.
			h.SetSeed(x.c.seed)
			byHash = make(map[uint64]int32, pn)
			chain = make([]int32, pn)
			for j := pn - 1; j >= 0; j-- {
				hv := l.hash(&h, at(pbase, j))
				if f, ok := byHash[hv]; ok {
					chain[j] = f
				} else {
					chain[j] = -1
				}
				byHash[hv] = int32(j)
			}
		}
		if j, ok := byHash[l.hash(&h, at(base, k))]; ok {
			for ; j >= 0; j = chain[j] {
				if l.equal(at(base, k), at(pbase, int(j))) {
					src[k], off = j, int(j)-k
					break
				}
			}
		}
		if src[k] < 0 {
			fresh++
		}
	}
	return fresh
}

// trackedEntries assembles the entries of a tracked range: the reused ones from
// the previous render, the others from the iterations executed, in order.
func (a *assembler) trackedEntries(h *hole, comp *diff.Comprehension, run *trackRun, e event, ok bool, k *entryKey) (event, bool, error) {
	src := run.src
	comp.Entries = make([]diff.Entry, len(src))
	for i := 0; i < len(src); i++ {
		if j := int(src[i]); j >= 0 {
			// A run of consecutive reused entries is copied at once; an
			// index-keyed entry keeps its key only at the same index.
			end := i + 1
			for end < len(src) && int(src[end]) == j+end-i && (run.keyed || j == i) {
				end++
			}
			if j+end-i > len(run.prev) {
				return e, ok, errInternalf("items %d-%d reuse entries %d-%d of %d", i, end, j, j+end-i, len(run.prev))
			}
			copy(comp.Entries[i:end], run.prev[j:j+end-i])
			if !run.keyed && j != i {
				comp.Entries[i].Key = strconv.Itoa(i)
			}
			i = end - 1
			continue
		}
		if !ok || e.id != h.mark {
			return e, ok, errInternalf("marker %d where item %d of range %d was due", e.id, i, h.mark)
		}
		*k = entryKey{}
		n, _, err := a.node(h.body)
		if err != nil {
			return e, ok, err
		}
		e, ok = a.next()
		key := k.key
		if !k.set {
			key = strconv.Itoa(i)
		}
		comp.Entries[i] = diff.Entry{Key: key, Dynamics: n.Dynamics}
	}
	if ok && e.id == h.mark {
		return e, ok, errInternalf("more iterations than items in range %d", h.mark)
	}
	if run.count == 1 && run.memo != nil {
		run.memo.entries, run.memo.ok = comp.Entries, true
	}
	return e, ok, nil
}
