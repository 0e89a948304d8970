package render

import (
	"errors"
	"fmt"

	"github.com/parley-go/parley/live/diff"
)

// ErrNoComponents is returned by live_component in a render without a
// component resolver (plain [Template.Render], or html/template itself).
var ErrNoComponents = errors.New("render: live_component outside a live view")

// Options configures [Template.RenderWith].
type Options struct {
	// Component resolves {{live_component ARGS...}}: it is called with the
	// action's arguments during the render and returns the id of the live
	// component they name (creating or updating it). The action then
	// renders as a component reference ([diff.Component]) instead of text.
	// An error stops the render.
	Component func(args []any) (int32, error)
	// Memo, if set, enables per-item change tracking as in
	// [Template.RenderMemo].
	Memo *Memo
}

// RenderWith is [Template.RenderMemo] with options: live components.
//
// A {{live_component ...}} action must stand alone in element content
// (between tags, not inside an attribute or text mixed into the same
// action); what it prints is the component's id, which the client
// replaces with the component's tree.
func (t *Template) RenderWith(data any, changed Changes, opts Options) (*diff.Node, error) {
	return t.render(data, changed, opts.Memo, opts.Component)
}

// componentStub is live_component outside a live render.
func componentStub(...any) (string, error) { return "", ErrNoComponents }

// component is live_component during a render: it resolves the component
// and records its id for the leaf being printed.
func (x *executor) component(args ...any) (string, error) {
	if x.resolve == nil {
		return "", ErrNoComponents
	}
	cid, err := x.resolve(args)
	if err != nil {
		return "", err
	}
	if cid <= 0 {
		return "", fmt.Errorf("render: live_component: bad component id %d", cid)
	}
	x.sink.ev = append(x.sink.ev, event{id: compEvent, off: len(x.sink.buf), cid: cid})
	return "", nil
}

// component reports the component id recorded by the leaf just opened:
// a compEvent before the next marker.
func (a *assembler) component() (int32, bool) {
	for i := a.pos; i < len(a.ev) && a.ev[i].id < 0; i++ {
		if a.ev[i].id == compEvent {
			return a.ev[i].cid, true
		}
	}
	return 0, false
}
