// Package js builds the JS commands of the phoenix_live_view client: the
// JSON that a binding such as phx-click holds when its value starts with
// "[", which the client executes without a round trip (show, hide, toggle,
// classes, attributes, focus, transitions) or with one (push, navigate,
// patch).
//
// Entry points: the package functions ([Push], [Show], [Toggle], ...) start a
// [Cmd]; the methods of the same names append to it, so commands chain:
//
//	js.Push("open", js.PushOpts{Value: map[string]any{"id": 7}}).
//		Show(js.ShowOpts{To: "#modal", Transition: js.Transition{Classes: "fade-in"}})
//
// A Cmd prints as its JSON ([Cmd.String]), so it goes straight into a
// template: phx-click="{{.Open}}". html/template escapes it as any other
// attribute value and the browser unescapes it, so the client reads the
// JSON unchanged; nothing is marked safe. A Cmd is also a
// [json.Marshaler], to travel inside pushed events.
//
// The JSON is what upstream's Phoenix.LiveView.JS encodes for the same
// commands: one [kind, args] pair per command, args with sorted keys and
// without unset options.
//
// Concurrency: a Cmd is an immutable value; every method returns a new Cmd
// and leaves its receiver as it was, so a Cmd may be shared between
// goroutines and extended from each.
package js

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors recorded by a Cmd built with an invalid combination of options
// (upstream raises ArgumentError for them); see [Cmd.Err].
var (
	// ErrClickDetail: the browser rewrites a click event's detail.
	ErrClickDetail = errors.New("js: click events cannot be dispatched with a detail")
	// ErrBlockingDone: a blocking dispatch adds its own "done" to detail.
	ErrBlockingDone = errors.New(`js: a blocking dispatch's detail must not hold a "done" key`)
	// ErrScope: a Scope other than Document, Closest and Inner.
	ErrScope = errors.New("js: invalid scope")
)

// Cmd is a list of JS commands. The zero value is the empty list.
type Cmd struct {
	ops []op
	err error
}

type op struct {
	kind string
	args map[string]any
}

// Scope says where a command's To selector is looked up.
type Scope string

const (
	// Document looks the selector up in the whole document (the default).
	Document Scope = ""
	// Closest takes the closest ancestor of the bound element that matches.
	Closest Scope = "closest"
	// Inner looks the selector up inside the bound element.
	Inner Scope = "inner"
)

// Transition is a CSS transition: Classes applied for its duration, Start
// applied at its start and End at its end (each a space-separated class
// list). The zero value is no transition.
type Transition struct {
	Classes, Start, End string
}

func (t Transition) isZero() bool { return t == Transition{} }

func (t Transition) encode() []any {
	return []any{classNames(t.Classes), classNames(t.Start), classNames(t.End)}
}

// classNames splits a class list on spaces, as upstream does.
func classNames(s string) []string {
	out := []string{}
	for _, f := range strings.Split(s, " ") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Target names the elements a command acts on: a CSS selector To, looked
// up according to Scope. A zero Target is the element the command is bound
// to.
type Target struct {
	To    string
	Scope Scope
}

// PushOpts are the options of [Push].
type PushOpts struct {
	// Target sends the event to a live component: its id (a live.CID, or
	// any integer), or a selector of an element inside it. nil sends it to
	// the view.
	Target any
	// Loading is a selector of elements that get the loading classes while
	// the event is in flight.
	Loading string
	// PageLoading shows the page loading bar while the event is in flight.
	PageLoading bool
	// Value holds values sent with the event, merged over the element's
	// phx-value-* ones.
	Value map[string]any
}

// ShowOpts are the options of [Show].
type ShowOpts struct {
	To    string
	Scope Scope
	// Display is the CSS display value when shown; default "block".
	Display    string
	Transition Transition
	// Time is the transition's duration; zero is the client's default
	// (200 ms).
	Time time.Duration
	// Blocking makes the client wait for the transition before the next
	// command of the same element.
	Blocking bool
}

// HideOpts are the options of [Hide].
type HideOpts struct {
	To         string
	Scope      Scope
	Transition Transition
	Time       time.Duration
	Blocking   bool
}

// ToggleOpts are the options of [Toggle]: In is the transition when
// shown, Out when hidden.
type ToggleOpts struct {
	To       string
	Scope    Scope
	Display  string
	In, Out  Transition
	Time     time.Duration
	Blocking bool
}

// ClassOpts are the options of [AddClass], [RemoveClass], [ToggleClass]
// and [Cmd.Transition].
type ClassOpts struct {
	To         string
	Scope      Scope
	Transition Transition
	Time       time.Duration
	Blocking   bool
}

// DispatchOpts are the options of [Dispatch].
type DispatchOpts struct {
	To    string
	Scope Scope
	// Detail is the CustomEvent's detail. A "click" cannot carry one.
	Detail map[string]any
	// NoBubble dispatches an event that does not bubble.
	NoBubble bool
	// Blocking makes the client wait until a listener calls
	// event.detail.done().
	Blocking bool
}

// NavOpts are the options of [Navigate] and [Patch].
type NavOpts struct {
	// Replace replaces the history entry instead of pushing one.
	Replace bool
}

// first returns the first of opts, or the zero value.
func first[T any](opts []T) T {
	var z T
	if len(opts) > 0 {
		return opts[0]
	}
	return z
}

// args collects a command's arguments, dropping unset ones.
type args map[string]any

func (a args) to(sel string, scope Scope) {
	if sel == "" {
		return
	}
	if scope == Document {
		a["to"] = sel
		return
	}
	a["to"] = map[string]string{string(scope): sel}
}

func (a args) str(k, v string) {
	if v != "" {
		a[k] = v
	}
}

func (a args) transition(k string, t Transition) {
	if !t.isZero() {
		a[k] = t.encode()
	}
}

func (a args) time(d time.Duration) {
	if d > 0 {
		a["time"] = d.Milliseconds()
	}
}

func (a args) flag(k string, v bool) {
	if v {
		a[k] = true
	}
}

func validScope(s Scope) bool { return s == Document || s == Closest || s == Inner }

// add returns c with one more command; c itself is unchanged.
func (c Cmd) add(kind string, a args, scope Scope) Cmd {
	out := Cmd{ops: append(slices.Clip(c.ops), op{kind: kind, args: a}), err: c.err}
	if out.err == nil && !validScope(scope) {
		out.err = fmt.Errorf("%w %q in %s", ErrScope, scope, kind)
	}
	return out
}

// Push sends event to the server, as phx-click="event" would.
func Push(event string, opts ...PushOpts) Cmd { return Cmd{}.Push(event, opts...) }

// Push appends a push of event; see [Push].
func (c Cmd) Push(event string, opts ...PushOpts) Cmd {
	o := first(opts)
	a := args{"event": event}
	if o.Target != nil && o.Target != "" {
		a["target"] = o.Target
	}
	a.str("loading", o.Loading)
	a.flag("page_loading", o.PageLoading)
	if o.Value != nil {
		a["value"] = o.Value
	}
	return c.add("push", a, Document)
}

// Navigate moves to another live view of the same live session (as
// live.Socket.PushNavigate does from the server).
func Navigate(href string, opts ...NavOpts) Cmd { return Cmd{}.Navigate(href, opts...) }

// Navigate appends a navigation; see [Navigate].
func (c Cmd) Navigate(href string, opts ...NavOpts) Cmd {
	return c.add("navigate", args{"href": href, "replace": first(opts).Replace}, Document)
}

// Patch changes the URL of the current view, which handles the new params.
func Patch(href string, opts ...NavOpts) Cmd { return Cmd{}.Patch(href, opts...) }

// Patch appends a patch; see [Patch].
func (c Cmd) Patch(href string, opts ...NavOpts) Cmd {
	return c.add("patch", args{"href": href, "replace": first(opts).Replace}, Document)
}

// Show shows elements.
func Show(opts ...ShowOpts) Cmd { return Cmd{}.Show(opts...) }

// Show appends a show; see [Show].
func (c Cmd) Show(opts ...ShowOpts) Cmd {
	o := first(opts)
	a := args{}
	a.to(o.To, o.Scope)
	a.str("display", o.Display)
	a.transition("transition", o.Transition)
	a.time(o.Time)
	a.flag("blocking", o.Blocking)
	return c.add("show", a, o.Scope)
}

// Hide hides elements.
func Hide(opts ...HideOpts) Cmd { return Cmd{}.Hide(opts...) }

// Hide appends a hide; see [Hide].
func (c Cmd) Hide(opts ...HideOpts) Cmd {
	o := first(opts)
	a := args{}
	a.to(o.To, o.Scope)
	a.transition("transition", o.Transition)
	a.time(o.Time)
	a.flag("blocking", o.Blocking)
	return c.add("hide", a, o.Scope)
}

// Toggle shows hidden elements and hides shown ones.
func Toggle(opts ...ToggleOpts) Cmd { return Cmd{}.Toggle(opts...) }

// Toggle appends a toggle; see [Toggle].
func (c Cmd) Toggle(opts ...ToggleOpts) Cmd {
	o := first(opts)
	a := args{}
	a.to(o.To, o.Scope)
	a.str("display", o.Display)
	a.transition("ins", o.In)
	a.transition("outs", o.Out)
	a.time(o.Time)
	a.flag("blocking", o.Blocking)
	return c.add("toggle", a, o.Scope)
}

func (c Cmd) class(kind, names string, o ClassOpts) Cmd {
	a := args{"names": classNames(names)}
	a.to(o.To, o.Scope)
	a.transition("transition", o.Transition)
	a.time(o.Time)
	a.flag("blocking", o.Blocking)
	return c.add(kind, a, o.Scope)
}

// AddClass adds the space-separated classes names.
func AddClass(names string, opts ...ClassOpts) Cmd { return Cmd{}.AddClass(names, opts...) }

// AddClass appends an add_class; see [AddClass].
func (c Cmd) AddClass(names string, opts ...ClassOpts) Cmd {
	return c.class("add_class", names, first(opts))
}

// RemoveClass removes the space-separated classes names.
func RemoveClass(names string, opts ...ClassOpts) Cmd { return Cmd{}.RemoveClass(names, opts...) }

// RemoveClass appends a remove_class; see [RemoveClass].
func (c Cmd) RemoveClass(names string, opts ...ClassOpts) Cmd {
	return c.class("remove_class", names, first(opts))
}

// ToggleClass adds or removes each of the space-separated classes names.
func ToggleClass(names string, opts ...ClassOpts) Cmd { return Cmd{}.ToggleClass(names, opts...) }

// ToggleClass appends a toggle_class; see [ToggleClass].
func (c Cmd) ToggleClass(names string, opts ...ClassOpts) Cmd {
	return c.class("toggle_class", names, first(opts))
}

// TransitionTo applies transition t; opts' own Transition is ignored.
func TransitionTo(t Transition, opts ...ClassOpts) Cmd { return Cmd{}.Transition(t, opts...) }

// Transition appends a transition; see [TransitionTo].
func (c Cmd) Transition(t Transition, opts ...ClassOpts) Cmd {
	o := first(opts)
	a := args{"transition": t.encode()}
	a.to(o.To, o.Scope)
	a.time(o.Time)
	a.flag("blocking", o.Blocking)
	return c.add("transition", a, o.Scope)
}

// SetAttribute sets attribute name to value.
func SetAttribute(name, value string, to ...Target) Cmd {
	return Cmd{}.SetAttribute(name, value, to...)
}

// SetAttribute appends a set_attr; see [SetAttribute].
func (c Cmd) SetAttribute(name, value string, to ...Target) Cmd {
	t := first(to)
	a := args{"attr": []string{name, value}}
	a.to(t.To, t.Scope)
	return c.add("set_attr", a, t.Scope)
}

// RemoveAttribute removes attribute name.
func RemoveAttribute(name string, to ...Target) Cmd { return Cmd{}.RemoveAttribute(name, to...) }

// RemoveAttribute appends a remove_attr; see [RemoveAttribute].
func (c Cmd) RemoveAttribute(name string, to ...Target) Cmd {
	t := first(to)
	a := args{"attr": name}
	a.to(t.To, t.Scope)
	return c.add("remove_attr", a, t.Scope)
}

// ToggleAttribute sets attribute name to value, or removes it when it
// already has that value.
func ToggleAttribute(name, value string, to ...Target) Cmd {
	return Cmd{}.ToggleAttribute(name, value, to...)
}

// ToggleAttribute appends a toggle_attr; see [ToggleAttribute].
func (c Cmd) ToggleAttribute(name, value string, to ...Target) Cmd {
	t := first(to)
	a := args{"attr": []string{name, value}}
	a.to(t.To, t.Scope)
	return c.add("toggle_attr", a, t.Scope)
}

// ToggleAttributeBetween sets attribute name to on when it is off (or
// unset), and to off when it is on.
func ToggleAttributeBetween(name, on, off string, to ...Target) Cmd {
	return Cmd{}.ToggleAttributeBetween(name, on, off, to...)
}

// ToggleAttributeBetween appends a toggle_attr between two values; see
// [ToggleAttributeBetween].
func (c Cmd) ToggleAttributeBetween(name, on, off string, to ...Target) Cmd {
	t := first(to)
	a := args{"attr": []string{name, on, off}}
	a.to(t.To, t.Scope)
	return c.add("toggle_attr", a, t.Scope)
}

// IgnoreAttributes keeps the client-side values of the named attributes
// (wildcards such as "data-*" allowed) when the server patches the element.
func IgnoreAttributes(names []string, to ...Target) Cmd {
	return Cmd{}.IgnoreAttributes(names, to...)
}

// IgnoreAttributes appends an ignore_attrs; see [IgnoreAttributes].
func (c Cmd) IgnoreAttributes(names []string, to ...Target) Cmd {
	t := first(to)
	a := args{"attrs": slices.Clone(names)}
	a.to(t.To, t.Scope)
	return c.add("ignore_attrs", a, t.Scope)
}

// Dispatch dispatches a DOM CustomEvent named event.
func Dispatch(event string, opts ...DispatchOpts) Cmd { return Cmd{}.Dispatch(event, opts...) }

// Dispatch appends a dispatch; see [Dispatch].
func (c Cmd) Dispatch(event string, opts ...DispatchOpts) Cmd {
	o := first(opts)
	a := args{"event": event}
	a.to(o.To, o.Scope)
	if o.NoBubble {
		a["bubbles"] = false
	}
	var err error
	if o.Detail != nil {
		if event == "click" {
			err = ErrClickDetail
		}
		if _, ok := o.Detail["done"]; ok && o.Blocking {
			err = ErrBlockingDone
		}
		a["detail"] = o.Detail
	}
	a.flag("blocking", o.Blocking)
	out := c.add("dispatch", a, o.Scope)
	if out.err == nil && err != nil {
		out.err = err
	}
	return out
}

// Focus focuses an element.
func Focus(to ...Target) Cmd { return Cmd{}.Focus(to...) }

// Focus appends a focus; see [Focus].
func (c Cmd) Focus(to ...Target) Cmd { return c.focus("focus", to) }

// FocusFirst focuses the first focusable child.
func FocusFirst(to ...Target) Cmd { return Cmd{}.FocusFirst(to...) }

// FocusFirst appends a focus_first; see [FocusFirst].
func (c Cmd) FocusFirst(to ...Target) Cmd { return c.focus("focus_first", to) }

// PushFocus remembers the focused element (or the target) for [PopFocus].
func PushFocus(to ...Target) Cmd { return Cmd{}.PushFocus(to...) }

// PushFocus appends a push_focus; see [PushFocus].
func (c Cmd) PushFocus(to ...Target) Cmd { return c.focus("push_focus", to) }

// PopFocus focuses the element last remembered by [PushFocus].
func PopFocus() Cmd { return Cmd{}.PopFocus() }

// PopFocus appends a pop_focus; see [PopFocus].
func (c Cmd) PopFocus() Cmd { return c.add("pop_focus", args{}, Document) }

func (c Cmd) focus(kind string, to []Target) Cmd {
	t := first(to)
	a := args{}
	a.to(t.To, t.Scope)
	return c.add(kind, a, t.Scope)
}

// Exec runs the JS commands held in attribute attr of the bound element,
// or of the To elements.
func Exec(attr string, to ...Target) Cmd { return Cmd{}.Exec(attr, to...) }

// Exec appends an exec; see [Exec].
func (c Cmd) Exec(attr string, to ...Target) Cmd {
	t := first(to)
	a := args{"attr": attr}
	a.to(t.To, t.Scope)
	return c.add("exec", a, t.Scope)
}

// Concat returns the commands of c followed by those of more.
func (c Cmd) Concat(more ...Cmd) Cmd {
	out := Cmd{ops: slices.Clip(c.ops), err: c.err}
	for _, m := range more {
		out.ops = append(out.ops, m.ops...)
		if out.err == nil {
			out.err = m.err
		}
	}
	return out
}

// Len returns the number of commands.
func (c Cmd) Len() int { return len(c.ops) }

// Err returns the first invalid option combination met while building c
// (ErrClickDetail, ErrBlockingDone, ErrScope), or nil. Such a command is
// still encoded as given; the client ignores what it cannot use.
func (c Cmd) Err() error { return c.err }

// MarshalJSON encodes the commands as the client reads them:
// [["kind",{args}],...].
func (c Cmd) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	list := make([]any, len(c.ops))
	for i, o := range c.ops {
		list[i] = []any{o.kind, map[string]any(o.args)}
	}
	if err := enc.Encode(list); err != nil {
		return nil, fmt.Errorf("js: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// String returns the JSON, for templates (phx-click="{{.Cmd}}"). A value
// that does not encode (in a Value or Detail map) gives "[]".
func (c Cmd) String() string {
	b, err := c.MarshalJSON()
	if err != nil {
		return "[]"
	}
	return string(b)
}
