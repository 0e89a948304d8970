package live

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

// ClientVersion is the phoenix_live_view client version Parley speaks;
// it is sent as liveview_version in join replies.
const ClientVersion = "1.2.12"

// View is a LiveView. A new value serves each mount.
type View interface {
	// Mount sets up the view's state. It runs for the dead render
	// (s.Connected() is false) and again when the browser connects.
	Mount(s *Socket, params url.Values) error
	// Render returns the page for the current state. Its statics must come
	// from a compiled template (live/render) so they are shared between
	// renders and travel once.
	Render(s *Socket) (*Rendered, error)
}

// EventHandler handles browser events (phx-click, forms, hooks, keys).
type EventHandler interface {
	HandleEvent(s *Socket, e Event) error
}

// InfoHandler handles server messages: values given to [Socket.Send] or
// [Socket.SendAfter], and *pubsub.Message of topics subscribed with
// [Socket.Subscribe].
type InfoHandler interface {
	HandleInfo(s *Socket, msg any) error
}

// ParamsHandler is told the URL after mount and on every live patch.
type ParamsHandler interface {
	HandleParams(s *Socket, params url.Values, uri *url.URL) error
}

// Terminator is told why a connected view ended.
type Terminator interface {
	Terminate(s *Socket, reason error)
}

// Event is a browser event.
type Event struct {
	// Name is the event name (the phx-click value, the hook's event...).
	Name string
	// Type is "click", "form", "keyup", "hook", "js"... Only "form" is
	// decoded differently.
	Type string
	// Params holds the event's values: phx-value-* and value for clicks,
	// the decoded form (Plug-style nesting) for forms, the object pushed by
	// a hook.
	Params map[string]any
	// Target is the path of the form field that changed (from _target),
	// nil when unknown.
	Target []string
	// Raw is the value as sent, for hooks that push non-object payloads.
	Raw json.RawMessage
}

// String returns a parameter as a string ("" when missing); numbers and
// booleans are formatted.
func (e Event) String(key string) string { return stringOf(lookup(e.Params, key)) }

// Int returns a parameter as an int.
func (e Event) Int(key string) (int, error) {
	v := lookup(e.Params, key)
	if f, ok := v.(float64); ok {
		return int(f), nil
	}
	n, err := strconv.Atoi(stringOf(v))
	if err != nil {
		return 0, fmt.Errorf("live: event %q param %q: %w", e.Name, key, err)
	}
	return n, nil
}

// Map returns a nested parameter map (a form's "user" fields), or nil.
func (e Event) Map(key string) map[string]any {
	m, _ := e.Params[key].(map[string]any)
	return m
}

func lookup(m map[string]any, key string) any {
	if m == nil {
		return nil
	}
	return m[key]
}

func stringOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// navKind is a pending navigation.
type navKind uint8

const (
	navNone navKind = iota
	navPatch
	navNavigate
	navRedirect
)

type navigation struct {
	kind    navKind
	to      string
	replace bool
}

// Socket is one view's connection to its page: assigns with change
// tracking, and the ways a view talks to the browser. Use it only from the
// view's callbacks.
type Socket struct {
	id        string
	srv       *Server
	ch        *channel.Context // nil during the dead render
	connected bool
	uri       *url.URL
	session   map[string]any

	assigns map[string]any
	changed map[string]bool
	// rendered is false until the first render of this mount was sent:
	// that render must be complete.
	rendered bool
	// memo carries the per-item change tracking of RenderTemplate from one
	// render to the next.
	memo render.Memo

	title  *string
	events []diff.Event
	reply  json.RawMessage
	flash  map[string]string
	nav    navigation
	ctx    context.Context

	// comps are the view's live components.
	comps components
	// async is the view's running async work; cancelled lists the
	// StartAsync names CancelAsync stopped, to report.
	async     asyncState
	cancelled []string
}

// ID returns the view's id (the container's DOM id).
func (s *Socket) ID() string { return s.id }

// Connected reports whether the browser is connected (false in the dead
// render).
func (s *Socket) Connected() bool { return s.connected }

// URL returns the page's current URL.
func (s *Socket) URL() *url.URL { return s.uri }

// Session returns the claims of the live session (what the group's
// Authorize returned at the dead render).
func (s *Socket) Session() map[string]any { return s.session }

// Context is cancelled when the view ends.
func (s *Socket) Context() context.Context { return s.ctx }

// Assign sets an assign and marks it changed.
func (s *Socket) Assign(key string, v any) {
	s.assigns[key] = v
	s.changed[key] = true
}

// Get returns an assign.
func (s *Socket) Get(key string) any { return s.assigns[key] }

// Assigns returns the assigns (the data for the template). Do not keep it
// past the callback.
func (s *Socket) Assigns() map[string]any { return s.assigns }

// Changed returns the assigns changed since the last render; nil means
// "everything" (the first render of a mount).
func (s *Socket) Changed() map[string]bool { return s.changed }

// RenderTemplate renders t with the assigns. After the first render of a
// mount, only the dynamics that read a changed assign, or a stream assign
// with queued operations (live/stream), are evaluated; the others are sent
// as unchanged. Inside a changed list, only the items that changed are
// evaluated (see "Per-item change tracking" in package live/render).
func (s *Socket) RenderTemplate(t *render.Template) (*Rendered, error) {
	var changes render.Changes
	if s.rendered {
		changes = make(render.Changes, len(s.changed))
		for k := range s.changed {
			changes[k] = struct{}{}
		}
	}
	return t.RenderWith(s.assigns, changes, render.Options{Component: s.resolveComponent, Memo: &s.memo})
}

// pendingStream is a stream assign that has operations to send.
type pendingStream interface{ Pending() bool }

// markStreams marks changed the stream assigns (live/stream) that have
// queued operations: they are rendered without being assigned again.
func (s *Socket) markStreams() {
	for k, v := range s.assigns {
		if p, ok := v.(pendingStream); ok && p.Pending() {
			s.changed[k] = true
		}
	}
}

// SetTitle changes the page title.
func (s *Socket) SetTitle(title string) { s.title = &title }

// PushEvent sends an event to the page's JS hooks (handleEvent) with the
// next diff.
func (s *Socket) PushEvent(name string, payload any) {
	raw, err := json.Marshal(payload)
	if err != nil {
		raw = []byte("null")
	}
	s.events = append(s.events, diff.Event{Name: name, Payload: raw})
}

// Reply sets the reply to the hook event being handled: the hook's
// pushEvent promise resolves with payload.
func (s *Socket) Reply(payload any) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return
	}
	s.reply = raw
}

// PutFlash sets a flash message ("info", "error"...).
func (s *Socket) PutFlash(kind, msg string) {
	if s.flash == nil {
		s.flash = map[string]string{}
	}
	s.flash[kind] = msg
	s.changed["flash"] = true
	s.assigns["flash"] = maps.Clone(s.flash)
}

// Flash returns the flash messages.
func (s *Socket) Flash() map[string]string { return s.flash }

// ClearFlash removes one flash message, or all when kind is "".
func (s *Socket) ClearFlash(kind string) {
	if kind == "" {
		s.flash = nil
	} else {
		delete(s.flash, kind)
	}
	s.changed["flash"] = true
	s.assigns["flash"] = maps.Clone(s.flash)
}

// PushPatch changes the URL without a new mount: HandleParams runs with the
// new URL. replace uses history.replaceState.
func (s *Socket) PushPatch(to string, replace bool) {
	s.nav = navigation{kind: navPatch, to: to, replace: replace}
}

// PushNavigate moves to another live view of the same live session without
// a page load.
func (s *Socket) PushNavigate(to string, replace bool) {
	s.nav = navigation{kind: navNavigate, to: to, replace: replace}
}

// Redirect sends the browser to another page with a full page load.
func (s *Socket) Redirect(to string) { s.nav = navigation{kind: navRedirect, to: to} }

// PubSub returns the PubSub views subscribe on.
func (s *Socket) PubSub() *pubsub.PubSub { return s.srv.PubSub() }

// Subscribe delivers the messages of topic to HandleInfo as
// *pubsub.Message. It does nothing in the dead render.
func (s *Socket) Subscribe(topic string) error {
	if s.ch == nil {
		return nil
	}
	return s.ch.Subscribe(topic)
}

// Send delivers msg to the view's HandleInfo, after what is pending.
func (s *Socket) Send(msg any) {
	if s.ch != nil {
		s.ch.Send(msg)
	}
}

// SendAfter delivers msg to HandleInfo after d, unless the view ends
// first.
func (s *Socket) SendAfter(d time.Duration, msg any) (cancel func()) {
	if s.ch == nil {
		return func() {}
	}
	return s.ch.SendAfter(d, msg)
}

// Handle returns a handle that other goroutines may use to send messages
// to this view, or nil in the dead render.
func (s *Socket) Handle() *Handle {
	if s.ch == nil {
		return nil
	}
	return &Handle{ch: s.ch}
}

// Handle lets other goroutines message a connected view.
type Handle struct{ ch *channel.Context }

// Send delivers msg to the view's HandleInfo. It reports false when the
// view has ended.
func (h *Handle) Send(msg any) bool { return h.ch.Send(msg) }
