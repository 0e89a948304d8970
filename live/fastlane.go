package live

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// SharedView is a [View] whose connected page is exactly its template
// rendered with its assigns: Parley renders it with
// [Socket.RenderTemplate] of SharedTemplate and does not call Render
// (which still serves the dead render, and should return the same).
//
// Views that declare it take the fastlane: when a view's assigns before
// and after an update equal another view's (compared exactly: see
// [render.Template.Snapshot]), it takes that view's tree and encoded diff
// instead of rendering, as many views fed by one broadcast do. A view
// whose assigns include anything else than plain data, slices of it and
// the flash is rendered on its own, as are views without the interface.
// Only the assigns are compared, so the template's functions must not read
// per-view state (they cannot see the view anyway). A view whose template
// names live components (per-view state) leaves the lane at the render
// that first names one and is rendered on its own from then on.
type SharedView interface {
	View
	SharedTemplate() *render.Template
}

// fastlane holds the recent renders of shared views, by template and the
// snapshot of the inputs before. Snapshots are interned (equal snapshots
// are one pointer), so views in step share their previous inputs and find
// each other's renders by pointer, comparing only the new assigns.
type fastlane struct {
	// mu guards renders and interned.
	mu       sync.Mutex
	renders  map[laneKey][]*laneEntry
	interned map[internKey][]*render.Inputs
}

type laneKey struct {
	t    *render.Template
	prev *render.Inputs
}

type internKey struct {
	t    *render.Template
	hash uint64
}

// laneEntry is one render from the inputs of its key: the inputs next, the
// tree they render and the diff to it. All of it is immutable once stored.
type laneEntry struct {
	next *render.Inputs
	tree *diff.Node
	d    []byte
}

// laneMax bounds the keys kept, laneWidth the entries per key; past them
// the lane starts afresh.
const (
	laneMax   = 256
	laneWidth = 4
)

func (f *fastlane) get(k laneKey) []*laneEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.renders[k]
}

func (f *fastlane) put(k laneKey, e *laneEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.renders == nil || len(f.renders) >= laneMax {
		f.renders = make(map[laneKey][]*laneEntry)
	}
	l := f.renders[k]
	if len(l) >= laneWidth {
		l = l[1:]
	}
	f.renders[k] = append(slices.Clip(l), e)
}

// intern returns the snapshot equal to in that the lane holds, or holds in.
func (f *fastlane) intern(t *render.Template, in *render.Inputs) *render.Inputs {
	k := internKey{t, in.Hash()}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.interned[k] {
		if c.Equal(in) {
			return c
		}
	}
	if f.interned == nil || len(f.interned) >= laneMax {
		f.interned = make(map[internKey][]*render.Inputs)
	}
	l := f.interned[k]
	if len(l) >= laneWidth {
		l = l[1:]
	}
	f.interned[k] = append(slices.Clip(l), in)
	return in
}

// snapshot returns the interned snapshot of the view's assigns, or nil
// when they cannot be compared.
func (lc *liveChannel) snapshot() *render.Inputs {
	in, ok := lc.shared.Snapshot(lc.sock.assigns)
	if !ok {
		return nil
	}
	return lc.srv.lane.intern(lc.shared, in)
}

// sharedRender renders a SharedView, through the fastlane when another
// view made the same change.
func (lc *liveChannel) sharedRender(start time.Time) ([]byte, error) {
	t := lc.shared
	k := laneKey{t: t, prev: lc.prevIn}
	if lc.prevIn != nil {
		for _, e := range lc.srv.lane.get(k) {
			if e.next.Matches(lc.sock.assigns) {
				// The client holds the tree of lc.prevIn, e's previous
				// one: e's diff takes it to e.tree, which this view's
				// assigns render.
				lc.prev, lc.prevIn = e.tree, e.next
				lc.sock.memo = render.Memo{} // it no longer describes lc.prev
				clear(lc.sock.changed)
				lc.observeShared(start, len(e.d))
				return e.d, nil
			}
		}
	}
	next := lc.snapshot()
	tree, err := lc.sock.RenderTemplate(t)
	if err == nil && lc.sock.hasComponents() {
		// The template named live components, per-view state: this view
		// leaves the lane, and its diff is its own.
		lc.shared, next = nil, nil
		tree, err = lc.sock.withComponents(tree)
	}
	if err != nil {
		return nil, fmt.Errorf("live: render: %w", err)
	}
	d, err := diff.Diff(lc.prev, tree)
	if err != nil {
		return nil, fmt.Errorf("live: diff: %w", err)
	}
	lc.sock.componentsSent()
	if lc.prevIn != nil && next != nil {
		lc.srv.lane.put(k, &laneEntry{next: next, tree: tree, d: d})
	}
	lc.prev, lc.prevIn = tree, next // nil when the assigns cannot be compared
	clear(lc.sock.changed)
	lc.observe(start, len(d), false)
	return d, nil
}
