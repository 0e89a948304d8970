package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// liveChannel is the channel of one connected view ("lv:<id>").
type liveChannel struct {
	srv   *Server
	view  View
	sock  *Socket
	route *route
	prev  *diff.Node // the client's tree, as of the last diff sent
	// shared is the template of a SharedView; prevIn the inputs that
	// rendered prev, when they can be compared (fastlane.go).
	shared *render.Template
	prevIn *render.Inputs
}

type joinPayload struct {
	URL      string         `json:"url"`
	Redirect string         `json:"redirect"`
	Params   map[string]any `json:"params"`
	Session  string         `json:"session"`
	Static   *string        `json:"static"`
	Flash    *string        `json:"flash"`
}

func refuse(reason string) error { return channel.Refuse(map[string]string{"reason": reason}) }

// Join refusals. The official client (view.js onJoinError) answers
// "stale" and "unauthorized" alike: it reloads the page, whose dead render
// signs fresh tokens. Each refusal is logged once, at Info, with its cause.
const (
	reasonStale        = "stale"
	reasonUnauthorized = "unauthorized"
)

// refuseJoin logs a refused join with its cause and returns the refusal.
func (lc *liveChannel) refuseJoin(c *channel.Context, reason, cause string, err error) error {
	args := []any{"topic", c.Topic(), "reason", reason, "cause", cause}
	if err != nil {
		args = append(args, "err", err)
	}
	lc.srv.log.Info("live: join refused, the page will reload", args...)
	return refuse(reason)
}

// Join verifies the tokens, routes the URL, mounts the view and replies
// with the full render.
func (lc *liveChannel) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	if cause, _ := c.Assigns()[csrfErrorAssign].(string); cause != "" {
		return nil, lc.refuseJoin(c, reasonStale, cause, nil)
	}
	var p joinPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, lc.refuseJoin(c, reasonStale, "malformed join payload", err)
	}
	var claims sessionClaims
	if err := lc.srv.signer.Verify(purposeSession, p.Session, &claims); err != nil {
		return nil, lc.refuseJoin(c, reasonStale, "session token", err)
	}
	if "lv:"+claims.ID != c.Topic() {
		return nil, lc.refuseJoin(c, reasonStale, "session token of another view", nil)
	}
	var static staticClaims
	if p.Static != nil && *p.Static != "" {
		if err := lc.srv.signer.Verify(purposeStatic, *p.Static, &static); err != nil {
			return nil, lc.refuseJoin(c, reasonStale, "static token", err)
		}
		if static.ID != claims.ID {
			return nil, lc.refuseJoin(c, reasonStale, "static token of another view", nil)
		}
	}
	raw := p.URL
	if raw == "" {
		raw = p.Redirect
	}
	uri, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil, lc.refuseJoin(c, reasonStale, "no or bad url", err)
	}
	rt, pathParams := lc.srv.match(uri.Path)
	switch {
	case rt == nil:
		return nil, lc.refuseJoin(c, reasonStale, "no view at "+uri.Path, nil)
	case rt.group.name != claims.Group:
		return nil, lc.refuseJoin(c, reasonUnauthorized, "url of another live session", nil)
	case p.URL != "" && rt.pattern != claims.View:
		return nil, lc.refuseJoin(c, reasonStale, "session token of another view", nil)
	}
	flash := map[string]string{}
	if mounts, _ := p.Params["_mounts"].(float64); mounts == 0 {
		maps.Copy(flash, static.Flash)
	}
	if p.Flash != nil && *p.Flash != "" {
		var carried map[string]string
		if err := lc.srv.signer.Verify(purposeFlash, *p.Flash, &carried); err == nil {
			maps.Copy(flash, carried)
		}
	}
	lc.route = rt
	lc.sock = &Socket{
		id: claims.ID, srv: lc.srv, ch: c, connected: true, uri: uri, session: claims.Session, ctx: c.Context(),
		assigns: map[string]any{"flash": maps.Clone(flash)}, changed: map[string]bool{}, flash: flash,
	}
	joined := false
	defer func() {
		if !joined {
			// Terminate does not run for a failed join.
			lc.sock.dropComponents()
			lc.sock.stopAsync()
		}
	}()
	lc.view = rt.new()
	if err := lc.srv.mountView(lc.view, lc.sock, mergeParams(pathParams, uri.Query())); err != nil {
		if errors.Is(err, ErrNotFound) {
			// A fresh page load answers the 404.
			lc.srv.log.Info("live: connected mount not found, reloading the page", "topic", c.Topic(), "url", uri.String(), "err", err)
			return nil, channel.Refuse(map[string]any{"redirect": map[string]string{"to": uri.String()}})
		}
		return nil, err
	}
	switch nav := lc.sock.nav; nav.kind {
	case navRedirect:
		return nil, channel.Refuse(map[string]any{"redirect": lc.navTarget(nav)})
	case navNavigate:
		return nil, channel.Refuse(map[string]any{"live_redirect": lc.navTarget(nav)})
	}
	start := time.Now()
	var tree *diff.Node
	if sv, ok := lc.view.(SharedView); ok {
		lc.shared = sv.SharedTemplate()
		tree, err = lc.sock.RenderTemplate(lc.shared)
	} else {
		tree, err = lc.view.Render(lc.sock)
	}
	if err == nil {
		tree, err = lc.sock.withComponents(tree)
	}
	if err != nil {
		return nil, fmt.Errorf("live: render: %w", err)
	}
	full, err := diff.Full(tree)
	if err != nil {
		return nil, fmt.Errorf("live: render: %w", err)
	}
	lc.observe(start, len(full), true)
	lc.prev = tree
	if lc.shared != nil && lc.sock.hasComponents() {
		// Live components are per-view state: no shared lane.
		lc.shared = nil
	}
	if lc.shared != nil {
		lc.prevIn = lc.snapshot()
	}
	lc.sock.rendered = true
	lc.sock.componentsSent()
	full = diff.Envelope(full, lc.takeMessage())
	clear(lc.sock.changed)
	reply := map[string]any{"rendered": json.RawMessage(full), "liveview_version": ClientVersion}
	if nav := lc.sock.nav; nav.kind == navPatch {
		reply["live_patch"] = map[string]string{"to": nav.to, "kind": kindOf(nav)}
		lc.sock.nav = navigation{}
	}
	joined = true
	return reply, nil
}

func kindOf(n navigation) string {
	if n.replace {
		return "replace"
	}
	return "push"
}

// navTarget builds {to, kind?, flash?} for a navigation.
func (lc *liveChannel) navTarget(n navigation) map[string]string {
	t := map[string]string{"to": n.to}
	if n.kind != navRedirect {
		t["kind"] = kindOf(n)
	}
	if len(lc.sock.flash) > 0 {
		if tok, err := lc.srv.signer.Sign(purposeFlash, lc.sock.flash); err == nil {
			t["flash"] = tok
		}
	}
	return t
}

// takeMessage returns and clears the pending title, events and reply.
func (lc *liveChannel) takeMessage() diff.Message {
	s := lc.sock
	m := diff.Message{Title: s.title, Events: s.events, Reply: s.reply}
	s.title, s.events, s.reply = nil, nil, nil
	return m
}

// render renders the view and returns the diff against the client's tree
// (nil when nothing changed), with title, events and reply folded in.
func (lc *liveChannel) render() ([]byte, error) {
	var d []byte
	lc.sock.markStreams()
	if len(lc.sock.changed) > 0 && lc.shared != nil && !lc.sock.hasComponents() {
		// The shared lane serves views without live components only:
		// components are per-view state.
		var err error
		if d, err = lc.sharedRender(time.Now()); err != nil {
			return nil, err
		}
	} else if len(lc.sock.changed) > 0 || lc.sock.comps.update {
		start := time.Now()
		var tree *diff.Node
		var err error
		if len(lc.sock.changed) > 0 {
			tree, err = lc.view.Render(lc.sock)
		} else {
			// Only components changed: the view's tree stays.
			t := *lc.prev
			tree = &t
		}
		if err == nil {
			tree, err = lc.sock.withComponents(tree)
		}
		if err != nil {
			return nil, fmt.Errorf("live: render: %w", err)
		}
		d, err = diff.Diff(lc.prev, tree)
		if err != nil {
			return nil, fmt.Errorf("live: diff: %w", err)
		}
		lc.observe(start, len(d), false)
		lc.prev, lc.prevIn = tree, nil
		clear(lc.sock.changed)
		lc.sock.componentsSent()
		if string(d) == "{}" {
			d = nil
		}
	}
	msg := lc.takeMessage()
	if msg.Title == nil && len(msg.Events) == 0 && msg.Reply == nil {
		return d, nil
	}
	if d == nil {
		d = []byte("{}")
	}
	return diff.Envelope(d, msg), nil
}

// observe reports a render that started at start to Config.OnRender.
func (lc *liveChannel) observe(start time.Time, n int, join bool) {
	if f := lc.srv.onRender(); f != nil {
		f(RenderInfo{View: lc.route.pattern, Duration: time.Since(start), Bytes: n, Join: join})
	}
}

// observeShared reports a diff taken from the fastlane.
func (lc *liveChannel) observeShared(start time.Time, n int) {
	if f := lc.srv.onRender(); f != nil {
		f(RenderInfo{View: lc.route.pattern, Duration: time.Since(start), Bytes: n, Shared: true})
	}
}

type eventPayload struct {
	Type  string          `json:"type"`
	Event string          `json:"event"`
	Value json.RawMessage `json:"value"`
	Meta  map[string]any  `json:"meta"`
	CID   *int            `json:"cid"`
}

// ErrUnknownEvent is returned for "lv:" events Parley does not know.
var ErrUnknownEvent = errors.New("live: unknown event")

// HandleIn handles browser events, live patches and component messages.
func (lc *liveChannel) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	switch m.Event {
	case "event":
		var p eventPayload
		if err := m.Decode(&p); err != nil {
			return channel.ErrorReply(map[string]string{"reason": "bad event"}), nil
		}
		return lc.handleEvent(c, p)
	case "live_patch":
		var p struct {
			URL string `json:"url"`
		}
		if err := m.Decode(&p); err != nil {
			return channel.ErrorReply(map[string]string{"reason": "bad live_patch"}), nil
		}
		return lc.handlePatch(p.URL)
	case "cids_will_destroy", "cids_destroyed":
		var p struct {
			CIDs []int `json:"cids"`
		}
		if err := m.Decode(&p); err != nil {
			return channel.ErrorReply(map[string]string{"reason": "bad " + m.Event}), nil
		}
		if m.Event == "cids_will_destroy" {
			lc.sock.markForDeletion(p.CIDs)
			return channel.Ok(map[string]any{}), nil
		}
		return channel.Ok(map[string]any{"cids": lc.sock.deleteComponents(p.CIDs)}), nil
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown message " + m.Event}), nil
}

func (lc *liveChannel) handleEvent(c *channel.Context, p eventPayload) (*channel.Reply, error) {
	if name, ok := strings.CutPrefix(p.Event, "lv:"); ok {
		if name != "clear-flash" {
			return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, p.Event)
		}
		var v map[string]any
		_ = json.Unmarshal(p.Value, &v)
		key, _ := v["key"].(string)
		lc.sock.ClearFlash(key)
		return lc.afterCallback(c, true)
	}
	e, err := decodeEvent(p)
	if err != nil {
		return channel.ErrorReply(map[string]string{"reason": err.Error()}), nil
	}
	if p.CID != nil {
		return lc.componentEvent(c, *p.CID, e)
	}
	h, ok := lc.view.(EventHandler)
	if !ok {
		return nil, fmt.Errorf("live: view at %s handles no events (got %q)", lc.route.pattern, p.Event)
	}
	if err := h.HandleEvent(lc.sock, e); err != nil {
		return nil, err
	}
	return lc.afterCallback(c, true)
}

// decodeEvent turns the client's event payload into an Event.
func decodeEvent(p eventPayload) (Event, error) {
	e := Event{Name: p.Event, Type: p.Type, Raw: p.Value}
	if p.Type == "form" {
		var encoded string
		if err := json.Unmarshal(p.Value, &encoded); err != nil {
			return e, fmt.Errorf("%w: form value is not a string", ErrBadForm)
		}
		form, err := DecodeForm(encoded)
		if err != nil {
			return e, err
		}
		for k, v := range p.Meta {
			if k == "_target" {
				t, _ := v.(string)
				e.Target = targetPath(t)
				continue
			}
			form[k] = v
		}
		e.Params = form
		return e, nil
	}
	var obj map[string]any
	if len(p.Value) > 0 && json.Unmarshal(p.Value, &obj) == nil && obj != nil {
		e.Params = obj
	} else {
		e.Params = map[string]any{}
	}
	return e, nil
}

func (lc *liveChannel) handlePatch(raw string) (*channel.Reply, error) {
	uri, err := url.Parse(raw)
	if err != nil {
		return channel.ErrorReply(map[string]string{"reason": "bad url"}), nil
	}
	rt, pathParams := lc.srv.match(uri.Path)
	if rt != lc.route {
		return channel.Ok(map[string]any{"link_redirect": true}), nil
	}
	lc.sock.uri = uri
	if ph, ok := lc.view.(ParamsHandler); ok {
		if err := ph.HandleParams(lc.sock, mergeParams(pathParams, uri.Query()), uri); err != nil {
			return nil, err
		}
	}
	return lc.afterCallback(nil, true)
}

// afterCallback renders and answers: for an event, the reply carries the
// diff and any navigation; for a server message, the diff is pushed.
func (lc *liveChannel) afterCallback(c *channel.Context, reply bool) (*channel.Reply, error) {
	if err := lc.reportCancelled(); err != nil {
		return nil, err
	}
	nav := lc.sock.nav
	lc.sock.nav = navigation{}
	if nav.kind == navPatch {
		// Phoenix order: the URL change, then the params handler, then
		// the diff for the new params.
		if err := lc.sock.ch.Push("live_patch", map[string]string{"to": nav.to, "kind": kindOf(nav)}); err != nil {
			return nil, err
		}
		if u, err := url.Parse(nav.to); err == nil {
			abs := lc.sock.uri.ResolveReference(u)
			lc.sock.uri = abs
			if ph, ok := lc.view.(ParamsHandler); ok {
				_, pathParams := lc.srv.match(abs.Path)
				if err := ph.HandleParams(lc.sock, mergeParams(pathParams, abs.Query()), abs); err != nil {
					return nil, err
				}
			}
		}
	}
	d, err := lc.render()
	if err != nil {
		return nil, err
	}
	if reply {
		resp := map[string]any{}
		if d != nil {
			resp["diff"] = json.RawMessage(d)
		}
		switch nav.kind {
		case navRedirect:
			resp["redirect"] = lc.navTarget(nav)
		case navNavigate:
			resp["live_redirect"] = lc.navTarget(nav)
		}
		return channel.Ok(resp), nil
	}
	if d != nil {
		if err := lc.sock.ch.Push("diff", json.RawMessage(d)); err != nil {
			return nil, err
		}
	}
	switch nav.kind {
	case navRedirect:
		return nil, lc.sock.ch.Push("redirect", lc.navTarget(nav))
	case navNavigate:
		return nil, lc.sock.ch.Push("live_redirect", lc.navTarget(nav))
	}
	return nil, nil
}

// componentEvent passes an event to the component cid. An event for a
// component that does not exist (any more) is ignored with an empty reply,
// as Phoenix does: the browser may send it while the component leaves.
func (lc *liveChannel) componentEvent(c *channel.Context, cid int, e Event) (*channel.Reply, error) {
	comp := lc.sock.component(cid)
	if comp == nil {
		lc.srv.log.Debug("live: event for an unknown component ignored", "topic", c.Topic(), "cid", cid, "event", e.Name)
		return channel.Ok(map[string]any{}), nil
	}
	h, ok := comp.comp.(ComponentEventHandler)
	if !ok {
		return nil, fmt.Errorf("live: component %q handles no events (got %q)", comp.name, e.Name)
	}
	if err := h.HandleEvent(comp, e); err != nil {
		return nil, fmt.Errorf("live: component %q id %q: %w", comp.name, comp.id, err)
	}
	return lc.afterCallback(c, true)
}

// HandleInfo passes server messages to the view and pushes the diff.
func (lc *liveChannel) HandleInfo(c *channel.Context, msg any) error {
	if d, ok := msg.(asyncDone); ok {
		if err := lc.handleAsyncDone(d); err != nil {
			return err
		}
		_, err := lc.afterCallback(c, false)
		return err
	}
	if u, ok := msg.(componentUpdate); ok {
		if err := lc.sock.SendUpdate(u.name, u.id, u.assigns); err != nil {
			if !errors.Is(err, ErrUnknownComponent) {
				return err
			}
			lc.srv.log.Debug("live: update for an unknown component dropped", "topic", c.Topic(), "name", u.name, "id", u.id)
			return nil
		}
		_, err := lc.afterCallback(c, false)
		return err
	}
	h, ok := lc.view.(InfoHandler)
	if !ok {
		return nil
	}
	if err := h.HandleInfo(lc.sock, msg); err != nil {
		return err
	}
	_, err := lc.afterCallback(c, false)
	return err
}

// Terminate tells the view.
func (lc *liveChannel) Terminate(c *channel.Context, reason error) {
	if t, ok := lc.view.(Terminator); ok && lc.sock != nil {
		t.Terminate(lc.sock, reason)
	}
	if lc.sock != nil {
		lc.sock.stopAsync()
		lc.sock.dropComponents()
	}
}
