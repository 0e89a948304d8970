// Package livetest tests LiveViews without a browser, the way
// Phoenix.LiveViewTest does: it performs the dead render over HTTP, joins
// the view through a real channel socket in-process, sends events as the
// phoenix_live_view client would, and applies every diff the server sends
// to a client-side tree (live/diff.Tree), so assertions see the HTML the
// browser would show.
//
//	v := livetest.Mount(t, server, "/counter")
//	v.Click(t, "inc", nil)
//	if !strings.Contains(v.HTML(t), "Count: 1") { ... }
//
// Entry points: [Mount] returns a [View]; [View.Click], [View.Submit],
// [View.Change], [View.Hook] and [View.Patch] act; [View.WaitFor] applies
// server pushes until a condition holds. Waits are bounded by Timeout.
// The package Example runs a whole test of a counter this way.
package livetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/wire"
)

// Timeout bounds every wait. A wait ends as soon as what it waits for
// arrives; the bound only decides how long a failing test takes, and it
// is generous because tests run with -race, many packages at once, on
// small machines (a hundred views clicking at once took over 3 s there).
const Timeout = 10 * time.Second

// View is a mounted, connected view.
type View struct {
	// DeadHTML is the page of the dead render.
	DeadHTML string
	// ID is the view's container id.
	ID string

	base   string
	client *channeltest.Client
	ch     *channeltest.Channel
	tree   diff.Tree
	dom    streamDOM
	diffs  []json.RawMessage
	html   string // the page after the last diff, streams kept
	title  string
	events []diff.Event
	nav    []Navigation
}

// Navigation is a patch, live redirect or redirect the server asked for.
type Navigation struct {
	Kind string // "live_patch", "live_redirect", "redirect"
	To   string
}

var (
	reContainer = regexp.MustCompile(`<div id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`)
	reCSRF      = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)
)

// DeadRender performs the HTTP GET of path and returns the response.
func DeadRender(t testing.TB, l *live.Server, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "http://parley.test"+path, nil))
	return rec.Result()
}

// Mount dead-renders path, then connects and joins the view.
func Mount(t testing.TB, l *live.Server, path string) *View {
	t.Helper()
	v, reply := Join(t, l, path)
	if reply.Status != "ok" {
		t.Fatalf("livetest: join %s: %s %s", path, reply.Status, reply.Response)
	}
	return v
}

// Join is Mount that returns the join reply instead of failing on an
// error reply (for testing refusals and redirects).
func Join(t testing.TB, l *live.Server, path string) (*View, *channeltest.Reply) {
	t.Helper()
	return JoinWith(t, l, path, nil)
}

// JoinWith is Join with a hook that may change the join payload first
// (tampered tokens, a live navigation's "redirect" instead of "url").
func JoinWith(t testing.TB, l *live.Server, path string, edit func(payload map[string]any)) (*View, *channeltest.Reply) {
	t.Helper()
	resp := DeadRender(t, l, path)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	html := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("livetest: GET %s: %d %s", path, resp.StatusCode, html)
	}
	m := reContainer.FindStringSubmatch(html)
	c := reCSRF.FindStringSubmatch(html)
	if m == nil || c == nil {
		t.Fatalf("livetest: no live container or CSRF meta in the dead render of %s", path)
	}
	router := &channel.Router{}
	l.Register(router)
	srv, err := channel.NewServer(channel.Config{Router: router, Connect: l.Connect, PubSub: l.PubSub()})
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{}
	for _, ck := range resp.Cookies() {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	client, err := channeltest.DialInfo(context.Background(), srv, &channel.ConnectInfo{
		Params: url.Values{"_csrf_token": {c[1]}}, Header: header,
	})
	if err != nil {
		t.Fatalf("livetest: connect: %v", err)
	}
	t.Cleanup(client.Close)
	client.Timeout = Timeout
	v := &View{DeadHTML: html, ID: m[1], base: "http://parley.test", client: client}
	payload := map[string]any{
		"url":     v.base + path,
		"params":  map[string]any{"_csrf_token": c[1], "_mounts": 0},
		"session": m[2],
		"static":  m[3],
	}
	if edit != nil {
		edit(payload)
	}
	j := client.Join(t, "lv:"+m[1], payload)
	v.ch = j.Channel
	if j.Reply.Status == "ok" {
		var r struct {
			Rendered json.RawMessage `json:"rendered"`
			Version  string          `json:"liveview_version"`
		}
		j.Reply.Decode(t, &r)
		if r.Version != live.ClientVersion {
			t.Fatalf("livetest: liveview_version %q", r.Version)
		}
		v.apply(t, r.Rendered)
	}
	return v, j.Reply
}

func (v *View) apply(t testing.TB, d json.RawMessage) {
	t.Helper()
	v.diffs = append(v.diffs, append(json.RawMessage(nil), d...))
	msg, err := v.tree.Apply(d)
	if err != nil {
		t.Fatalf("livetest: apply diff %s: %v", d, err)
	}
	if msg.Title != nil {
		v.title = *msg.Title
	}
	v.events = append(v.events, msg.Events...)
	// Render once per diff, as the client does: stream items are rendered
	// once, then live on in the (modelled) DOM only.
	h, err := v.tree.HTML()
	if err != nil {
		t.Fatalf("livetest: render tree after %s: %v", d, err)
	}
	v.html = v.dom.patch(h, v.tree.Streams())
}

// HTML returns the view's current HTML, as the browser would show it,
// stream items included (phx-update="stream" containers keep their
// children across diffs, with inserts, deletes, resets and limits applied
// as the client applies them).
func (v *View) HTML(t testing.TB) string {
	t.Helper()
	return v.html
}

// JS sends an event as liveSocket.js().push does, e.g. the viewport events
// of phx-viewport-top / phx-viewport-bottom ({"id": …, "_overran": true}).
func (v *View) JS(t testing.TB, event string, value map[string]any) json.RawMessage {
	t.Helper()
	return v.event(t, "js", event, value, nil)
}

// Diffs returns every rendered tree the view applied, in order: the join's
// rendered, then each diff of a reply or push, as sent.
func (v *View) Diffs() []json.RawMessage { return v.diffs }

// Title returns the last title the server set.
func (v *View) Title() string { return v.title }

// Events returns the push_events received so far.
func (v *View) Events() []diff.Event { return v.events }

// Navigations returns the navigations the server asked for so far.
func (v *View) Navigations() []Navigation { return v.nav }

// Click sends a click event with phx-value-* values.
func (v *View) Click(t testing.TB, event string, values map[string]any) json.RawMessage {
	t.Helper()
	if values == nil {
		values = map[string]any{"value": ""}
	}
	return v.event(t, "click", event, values, nil)
}

// Submit sends a phx-submit form event.
func (v *View) Submit(t testing.TB, event string, form url.Values) json.RawMessage {
	t.Helper()
	return v.event(t, "form", event, form.Encode(), map[string]any{})
}

// Change sends a phx-change form event; target names the field that
// changed ("user[email]").
func (v *View) Change(t testing.TB, event string, form url.Values, target string) json.RawMessage {
	t.Helper()
	return v.event(t, "form", event, form.Encode(), map[string]any{"_target": target})
}

// Hook sends a hook's pushEvent and returns the reply payload (the value
// the hook's promise resolves with), or nil.
func (v *View) Hook(t testing.TB, event string, payload any) json.RawMessage {
	t.Helper()
	resp := v.event(t, "hook", event, payload, nil)
	var r struct {
		Diff struct {
			R json.RawMessage `json:"r"`
		} `json:"diff"`
	}
	_ = json.Unmarshal(resp, &r)
	return r.Diff.R
}

// ClickComponent sends a click to the live component cid, as an element
// with phx-target="<cid>" (or inside the component) does.
func (v *View) ClickComponent(t testing.TB, cid int, event string, values map[string]any) json.RawMessage {
	t.Helper()
	if values == nil {
		values = map[string]any{}
	}
	return v.request(t, "event", map[string]any{"type": "click", "event": event, "value": values, "cid": cid})
}

// SubmitComponent submits a form whose phx-target is the component cid.
func (v *View) SubmitComponent(t testing.TB, cid int, event string, form url.Values) json.RawMessage {
	t.Helper()
	return v.request(t, "event", map[string]any{"type": "form", "event": event, "value": form.Encode(), "meta": map[string]any{}, "cid": cid})
}

// RenderComponent renders the live component name with id and assigns
// alone, outside a view, and returns its HTML.
func RenderComponent(t testing.TB, l *live.Server, name, id string, assigns map[string]any) string {
	t.Helper()
	html, err := l.RenderComponent(name, id, assigns)
	if err != nil {
		t.Fatalf("livetest: render component %q id %q: %v", name, id, err)
	}
	return html
}

// ChangeForm sends a phx-change of form name as the client does after the
// user touched the fields listed in touched: every field of fields is
// sent as name[field], and each untouched one also with its
// name[_unused_field] companion, so live.Form's used tracking sees what a
// browser would make it see. target is the field that changed.
func (v *View) ChangeForm(t testing.TB, event, name string, fields map[string]string, touched ...string) json.RawMessage {
	t.Helper()
	form := url.Values{}
	for f, val := range fields {
		form.Set(name+"["+f+"]", val)
		if !slices.Contains(touched, f) {
			form.Set(name+"[_unused_"+f+"]", "")
		}
	}
	target := "undefined"
	if len(touched) > 0 {
		target = name + "[" + touched[len(touched)-1] + "]"
	}
	return v.Change(t, event, form, target)
}

// SubmitForm submits form name with fields (name[field]=value), as the
// client does: no _unused_ companions, every field counts as used.
func (v *View) SubmitForm(t testing.TB, event, name string, fields map[string]string) json.RawMessage {
	t.Helper()
	form := url.Values{}
	for f, val := range fields {
		form.Set(name+"["+f+"]", val)
	}
	return v.Submit(t, event, form)
}

// Request sends a raw message on the view's channel (an event name such as
// "cids_will_destroy" and its payload), applies every frame up to the
// reply, and returns the reply's response.
func (v *View) Request(t testing.TB, event string, payload any) json.RawMessage {
	t.Helper()
	return v.request(t, event, payload)
}

// DestroyComponents runs the client's exchange for components that left
// the page: cids_will_destroy, then cids_destroyed. It returns the cids the
// server deleted, which it forgets from the client tree.
func (v *View) DestroyComponents(t testing.TB, cids ...int) []int {
	t.Helper()
	if cids == nil {
		cids = []int{}
	}
	v.request(t, "cids_will_destroy", map[string]any{"cids": cids})
	resp := v.request(t, "cids_destroyed", map[string]any{"cids": cids})
	var r struct {
		CIDs []int `json:"cids"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.CIDs == nil {
		t.Fatalf("livetest: cids_destroyed reply %s: no cids", resp)
	}
	v.tree.PruneComponents(r.CIDs...)
	return r.CIDs
}

// Patch follows a live patch link to path.
func (v *View) Patch(t testing.TB, path string) json.RawMessage {
	t.Helper()
	return v.request(t, "live_patch", map[string]string{"url": v.base + path})
}

func (v *View) event(t testing.TB, typ, event string, value, meta any) json.RawMessage {
	t.Helper()
	p := map[string]any{"type": typ, "event": event, "value": value}
	if meta != nil {
		p["meta"] = meta
	}
	return v.request(t, "event", p)
}

// request pushes and applies, in arrival order, every frame until the reply.
func (v *View) request(t testing.TB, event string, payload any) json.RawMessage {
	t.Helper()
	ref := v.ch.PushAsync(t, event, payload)
	deadline := time.Now().Add(Timeout)
	for time.Now().Before(deadline) {
		f, ok := v.ch.NextFrame(time.Until(deadline))
		if !ok {
			break
		}
		if f.Event == wire.EventReply && f.Ref == ref {
			var r struct {
				Status   string          `json:"status"`
				Response json.RawMessage `json:"response"`
			}
			if err := json.Unmarshal(f.Payload, &r); err != nil {
				t.Fatal(err)
			}
			if r.Status != "ok" {
				t.Fatalf("livetest: %s %s: %s %s", event, payload, r.Status, r.Response)
			}
			v.applyResponse(t, r.Response)
			return r.Response
		}
		v.handlePush(t, f)
	}
	t.Fatalf("livetest: no reply to %s within %v", event, Timeout)
	return nil
}

func (v *View) applyResponse(t testing.TB, resp json.RawMessage) {
	t.Helper()
	var r struct {
		Diff         json.RawMessage   `json:"diff"`
		Redirect     map[string]string `json:"redirect"`
		LiveRedirect map[string]string `json:"live_redirect"`
	}
	_ = json.Unmarshal(resp, &r)
	if r.Diff != nil {
		v.apply(t, r.Diff)
	}
	if r.Redirect != nil {
		v.nav = append(v.nav, Navigation{"redirect", r.Redirect["to"]})
	}
	if r.LiveRedirect != nil {
		v.nav = append(v.nav, Navigation{"live_redirect", r.LiveRedirect["to"]})
	}
}

func (v *View) handlePush(t testing.TB, f channeltest.Frame) {
	t.Helper()
	switch f.Event {
	case "diff":
		v.apply(t, f.Payload)
	case "live_patch", "live_redirect", "redirect":
		var p map[string]string
		_ = json.Unmarshal(f.Payload, &p)
		v.nav = append(v.nav, Navigation{f.Event, p["to"]})
	case wire.EventError:
		t.Fatalf("livetest: the view crashed (phx_error)")
	}
}

// WaitFor applies server pushes until cond holds for the HTML.
func (v *View) WaitFor(t testing.TB, what string, cond func(html string) bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		if cond(v.HTML(t)) {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("livetest: %s: not true within %v; HTML:\n%s", what, Timeout, v.HTML(t))
		}
		if f, ok := v.ch.NextFrame(time.Until(deadline)); ok {
			v.handlePush(t, f)
		}
	}
}

// Leave leaves the view's channel.
func (v *View) Leave(t testing.TB) { v.ch.Leave(t) }

// Channel returns the underlying test channel, for frame-level asserts.
func (v *View) Channel() *channeltest.Channel { return v.ch }
