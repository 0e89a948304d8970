package live

import (
	"fmt"
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
// per-view state (they cannot see the view anyway).
type SharedView interface {
	View
	SharedTemplate() *render.Template
}

// fastlane holds the recent renders of shared views, by template and the
// hashes of the inputs before and after.
type fastlane struct {
	// mu guards m.
	mu sync.Mutex
	m  map[laneKey]*laneEntry
}

type laneKey struct {
	t          *render.Template
	prev, next uint64
}

// laneEntry is one render: from a tree rendered with prev to tree, the
// diff d. All of it is immutable once stored.
type laneEntry struct {
	prev, next *render.Inputs
	tree       *diff.Node
	d          []byte
}

// laneMax bounds the entries kept; past it the lane starts afresh.
const laneMax = 256

func (f *fastlane) get(k laneKey) *laneEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[k]
}

func (f *fastlane) put(k laneKey, e *laneEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= laneMax {
		f.m = make(map[laneKey]*laneEntry)
	}
	f.m[k] = e
}

// sharedRender renders a SharedView, through the fastlane when another
// view made the same change.
func (lc *liveChannel) sharedRender(start time.Time) ([]byte, error) {
	t := lc.shared
	next, ok := t.Snapshot(lc.sock.assigns)
	lane := ok && lc.prevIn != nil
	var k laneKey
	if lane {
		k = laneKey{t: t, prev: lc.prevIn.Hash(), next: next.Hash()}
		if e := lc.srv.lane.get(k); e != nil && e.prev.Equal(lc.prevIn) && e.next.Equal(next) {
			// The client holds a tree equal to e's previous one: e's diff
			// takes it to e.tree, which this view's assigns render.
			lc.prev, lc.prevIn = e.tree, e.next
			lc.sock.memo = render.Memo{} // it no longer describes lc.prev
			clear(lc.sock.changed)
			lc.observeShared(start, len(e.d))
			return e.d, nil
		}
	}
	tree, err := lc.sock.RenderTemplate(t)
	if err != nil {
		return nil, fmt.Errorf("live: render: %w", err)
	}
	d, err := diff.Diff(lc.prev, tree)
	if err != nil {
		return nil, fmt.Errorf("live: diff: %w", err)
	}
	if lane {
		lc.srv.lane.put(k, &laneEntry{prev: lc.prevIn, next: next, tree: tree, d: d})
	}
	lc.prev, lc.prevIn = tree, next // nil when the assigns cannot be compared
	clear(lc.sock.changed)
	lc.observe(start, len(d), false)
	return d, nil
}
