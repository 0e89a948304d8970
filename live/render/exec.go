package render

import (
	"fmt"
	"strconv"

	"github.com/parley-go/parley/live/diff"
)

// Events that are not markers have negative ids.
const (
	keyEvent    = -1 // {{key X}}: key holds fmt.Sprint(X)
	streamEvent = -2 // a range source was a Stream: stream holds its operations
	trackEvent  = -3 // a tracked range source: track says which items ran
	compEvent   = -4 // {{live_component ...}}: cid holds the component id
)

// event is a marker met during execution: id is the marker (or keyEvent,
// streamEvent), off the length of the output at that moment.
type event struct {
	id     int
	off    int
	key    string
	stream *diff.Stream
	track  *trackRun
	cid    int32
}

// sink is the writer of an executor. text/template writes a text node by
// passing its Text slice to Write unchanged, and everything it prints from a
// fmt buffer of its own; the marker nodes' slices are one byte each of the
// arena, so a Write is a marker exactly when its slice is the arena byte
// that its capacity designates. No output can forge that: it is a pointer
// comparison, not a look at the bytes.
type sink struct {
	arena []byte
	buf   []byte
	ev    []event
}

func (s *sink) Write(p []byte) (int, error) {
	if len(p) == 1 && cap(p) <= len(s.arena) {
		id := len(s.arena) - cap(p)
		if &s.arena[id] == &p[0] {
			s.ev = append(s.ev, event{id: id, off: len(s.buf)})
			return 1, nil
		}
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *sink) reset() {
	if cap(s.buf) > 1<<20 {
		s.buf = nil // do not keep a huge buffer in the pool
	}
	s.buf = s.buf[:0]
	if cap(s.ev) > 1<<16 {
		s.ev = nil
	}
	clear(s.ev)
	s.ev = s.ev[:0]
}

// render executes x and assembles the tree.
func (x *executor) render(c *compiled, data any, changed Changes) (*diff.Node, error) {
	x.sink.reset()
	defer x.sink.reset()
	x.full = changed == nil
	for i := range x.runs {
		x.runs[i] = trackRun{src: x.runs[i].src[:0]}
	}
	n, err := x.renderTracked(c, data, changed)
	if err != nil && x.memo != nil {
		// A failed render may have half-updated the memo.
		for i := range x.memo.loops {
			x.memo.loops[i].ok = false
		}
	}
	for i := range x.runs {
		x.runs[i].prev, x.runs[i].memo = nil, nil
	}
	return n, err
}

func (x *executor) renderTracked(c *compiled, data any, changed Changes) (*diff.Node, error) {
	if changed != nil && x.memo != nil && len(c.tracks) > 0 {
		// A tracked range whose body reads a changed assign (besides its
		// items) evaluates every item.
		methods := c.methodNames(data)
		for i, tp := range c.tracks {
			for _, n := range tp.names {
				if _, ok := changed[c.names[n]]; ok || methods[n] {
					x.memo.loops[i].ok = false
					break
				}
			}
		}
	}
	if changed == nil {
		for i := range x.eval {
			x.eval[i] = true
		}
	} else if len(c.guards) > 0 {
		methods := c.methodNames(data)
		for i, g := range c.guards {
			ev := false
			for _, n := range g.names {
				if _, ok := changed[c.names[n]]; ok || methods[n] {
					ev = true
					break
				}
			}
			x.eval[i] = ev
		}
	}
	if err := x.root.Execute(&x.sink, data); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	out := string(x.sink.buf)
	if c.root == nil {
		return &diff.Node{Fingerprint: opaqueFP, Statics: opaqueStatics, Dynamics: []diff.Dyn{diff.Text(out)}}, nil
	}
	a := assembler{ev: x.sink.ev, out: out, eval: x.eval}
	n, _, err := a.node(c.root)
	if err != nil {
		return nil, err
	}
	if _, ok := a.next(); ok {
		return nil, fmt.Errorf("%w: output left after the plan", ErrInternal)
	}
	return n, nil
}

func errInternalf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInternal}, args...)...)
}

var (
	opaqueStatics = []string{"", ""}
	opaqueFP      = diff.Fingerprint(opaqueStatics)
)

// assembler walks a plan along the events of one execution.
type assembler struct {
	ev   []event
	pos  int
	out  string
	eval []bool
	key  *entryKey // the iteration that a key event names
	// stream holds the operations of the last stream event, track the
	// last tracked range source: the range whose first marker follows
	// takes them.
	stream *diff.Stream
	track  *trackRun
}

type entryKey struct {
	key string
	set bool
}

// next returns the next marker, recording key events on the way.
func (a *assembler) next() (event, bool) {
	for a.pos < len(a.ev) {
		e := a.ev[a.pos]
		a.pos++
		switch e.id {
		case keyEvent:
			if a.key != nil {
				a.key.key, a.key.set = e.key, true
			}
		case streamEvent:
			a.stream = e.stream
		case trackEvent:
			a.track = e.track
		case compEvent:
			// read by the leaf that printed it (component)
		default:
			return e, true
		}
	}
	return event{}, false
}

// end is where the output of the current leaf ends: at the next marker.
func (a *assembler) end() int {
	for i := a.pos; i < len(a.ev); i++ {
		if a.ev[i].id >= 0 {
			return a.ev[i].off
		}
	}
	return len(a.out)
}

// node assembles a node of plan p; broke reports an iteration ended inside.
func (a *assembler) node(p *plan) (*diff.Node, bool, error) {
	dyns := make([]diff.Dyn, len(p.holes))
	for i, h := range p.holes {
		broke, err := a.hole(h, &dyns[i])
		if err != nil {
			return nil, false, err
		}
		if broke {
			v := p.cut[i]
			return &diff.Node{Fingerprint: v.fp, Statics: v.statics, Dynamics: dyns[:i+1]}, true, nil
		}
	}
	return &diff.Node{Fingerprint: p.fp, Statics: p.statics, Dynamics: dyns}, p.breaks, nil
}

func (a *assembler) hole(h *hole, dst *diff.Dyn) (bool, error) {
	if h.guard >= 0 && !a.eval[h.guard] {
		*dst = diff.Unchanged()
		return false, nil
	}
	switch h.kind {
	case leafHole:
		e, ok := a.next()
		if !ok || e.id != h.mark {
			return false, fmt.Errorf("%w: marker %d where leaf %d was due", ErrInternal, e.id, h.mark)
		}
		if cid, ok := a.component(); ok {
			*dst = diff.Component(cid)
			return false, nil
		}
		*dst = diff.Text(a.out[e.off:a.end()])
		return false, nil
	case condHole:
		e, ok := a.next()
		b := e.id - h.mark
		if !ok || b < 0 || b >= len(h.branches) {
			return false, fmt.Errorf("%w: marker %d where a branch of %d was due", ErrInternal, e.id, h.mark)
		}
		bp := h.branches[b]
		if bp == nil {
			*dst = diff.Text("")
			return false, nil
		}
		n, broke, err := a.node(bp)
		if err != nil {
			return false, err
		}
		*dst = diff.Nested(n)
		return broke, nil
	case callHole:
		n, _, err := a.node(h.target)
		if err != nil {
			return false, err
		}
		*dst = diff.Nested(n)
		return false, nil
	case loopHole:
		return a.loop(h, dst)
	}
	return false, fmt.Errorf("%w: hole kind %d", ErrInternal, h.kind)
}

func (a *assembler) loop(h *hole, dst *diff.Dyn) (bool, error) {
	body := h.body
	comp := &diff.Comprehension{Fingerprint: body.fp, Statics: body.statics}
	if body.mayBreak {
		// Entries cut short have statics of their own: wrap each entry.
		comp.Fingerprint, comp.Statics = opaqueFP, opaqueStatics
	}
	outer := a.key
	defer func() { a.key = outer }()
	var k entryKey
	a.key = &k
	a.stream, a.track = nil, nil
	e, ok := a.next()
	// The range's source was evaluated just before its first marker: a
	// stream or track event met on the way is this range's.
	st, tr := a.stream, a.track
	a.stream, a.track = nil, nil
	if tr != nil {
		var err error
		if e, ok, err = a.trackedEntries(h, comp, tr, e, ok, &k); err != nil {
			return false, err
		}
	}
	for ok && e.id == h.mark {
		k = entryKey{}
		n, _, err := a.node(body)
		if err != nil {
			return false, err
		}
		e, ok = a.next() // a trailing {{key}} is recorded here
		key := k.key
		if !k.set {
			key = strconv.Itoa(len(comp.Entries))
		}
		entry := diff.Entry{Key: key, Dynamics: n.Dynamics}
		if body.mayBreak {
			entry.Dynamics = []diff.Dyn{diff.Nested(n)}
		}
		comp.Entries = append(comp.Entries, entry)
	}
	a.key = outer
	if st != nil {
		// One insert per rendered entry, keyed by DOM id; a {{break}}
		// that cut the range short drops the inserts of the rest.
		if len(st.Inserts) > len(comp.Entries) {
			st.Inserts = st.Inserts[:len(comp.Entries)]
		}
		for i := range comp.Entries {
			comp.Entries[i].Key = st.Inserts[i].DOMID
		}
		comp.Stream = st
	}
	broke := false
	if ok && e.id == h.mark+1 {
		n, b, err := a.node(h.els)
		if err != nil {
			return false, err
		}
		*dst = diff.Nested(n)
		broke = b
		if broke {
			// The else branch ended an outer iteration: the range's end
			// marker was never reached.
			return true, nil
		}
		e, ok = a.next()
	} else {
		*dst = diff.List(comp)
	}
	if !ok || e.id != h.mark+2 {
		return false, fmt.Errorf("%w: marker %d where the end of range %d was due", ErrInternal, e.id, h.mark)
	}
	return false, nil
}
