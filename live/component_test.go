package live_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// card is a live component: a title from its view, a counter of its own.
type card struct{ bumps int }

var cardTemplate = render.Must(render.New("card").Parse(
	`<div class="card">{{.Title}} {{.Bumps}}</div>`))

func (c *card) Mount(cs *live.ComponentSocket) error {
	cs.Assign("Bumps", 0)
	return nil
}

func (c *card) Render(cs *live.ComponentSocket) (*diff.Node, error) {
	return cs.RenderTemplate(cardTemplate)
}

func (c *card) HandleEvent(cs *live.ComponentSocket, e live.Event) error {
	switch e.Name {
	case "bump":
		c.bumps++
		cs.Assign("Bumps", c.bumps)
	case "boom":
		panic("component boom")
	case "fail":
		return errors.New("component failed on purpose")
	}
	return nil
}

// deck is a view of cards: a fixed pair (A, B) and a list (Items), each
// item a card keyed by its id.
type deck struct{}

type item struct{ ID, Title string }

var deckTemplate = render.Must(render.New("deck").Parse(
	`<main>{{if .Pair}}{{live_component "card" "a" "Title" .A}}{{live_component "card" "b" "Title" .B}}{{end}}` +
		`<ul>{{range .Items}}<li>{{live_component "card" .ID "Title" .Title}}</li>{{end}}</ul><p>{{.Note}}</p></main>`))

func (d *deck) Mount(s *live.Socket, p url.Values) error {
	s.Assign("Pair", p.Get("pair") != "no")
	s.Assign("A", "Alpha")
	s.Assign("B", "Beta")
	s.Assign("Items", []item{})
	s.Assign("Note", "")
	return nil
}

func (d *deck) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(deckTemplate) }

func (d *deck) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "rename-a":
		s.Assign("A", e.String("to"))
	case "note":
		s.Assign("Note", e.String("to"))
	case "drop-pair":
		s.Assign("Pair", false)
	case "items":
		var items []item
		for _, id := range strings.Split(e.String("ids"), ",") {
			if id != "" {
				items = append(items, item{ID: id, Title: strings.ToUpper(id)})
			}
		}
		s.Assign("Items", items)
	case "update-b":
		return s.SendUpdate("card", "b", map[string]any{"Title": e.String("to")})
	case "update-later":
		// from another goroutine, through the view's handle
		h, to, id := s.Handle(), e.String("to"), e.String("id")
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.SendUpdate("card", id, map[string]any{"Title": to})
		}()
		<-done
	}
	return nil
}

func (d *deck) HandleInfo(s *live.Socket, msg any) error { return nil }

func deckServer(t *testing.T) *live.Server {
	t.Helper()
	l := newServer(t)
	l.Handle("/deck", func() live.View { return &deck{} })
	l.Component("card", func() live.Component { return &card{} })
	return l
}

// jsonEqual compares two JSON texts as values (key order aside).
func jsonEqual(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func diffOf(t *testing.T, resp json.RawMessage) json.RawMessage {
	t.Helper()
	var r struct {
		Diff json.RawMessage `json:"diff"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatal(err)
	}
	return r.Diff
}

// The expected diffs are worked out from upstream's
// lib/phoenix_live_view/diff.ex (v1.2.10) for the same tree:
//
//   - render/3 sends the view's root with "s" and every dynamic; a
//     component slot is its cid (an integer), cids counting from 1 in the
//     order the components are first rendered (render_pending_components).
//   - The components go under "c"; each new component is a full node with
//     "r":1. A new component whose template fingerprint equals that of a
//     component already rendered in the same diff gets "s": <that cid>
//     (maybe_reuse_static / find_same_component_print, positive: "in this
//     diff"), or "s": -<cid> for one the client already holds; its
//     dynamics are sent in full.
//   - A changed component is sent as a diff of its dynamics only, with no
//     "s" and no "r"; the view's own tree is absent when it did not change
//     (a component-only diff is {"c":{...}}).
//   - A removed component is not announced by the server: the view's
//     slot changes, and the client later runs cids_will_destroy /
//     cids_destroyed (channel.ex), answered {} and {"cids":[deleted]}.
//   - Inside a comprehension, each entry holds the cid in its slot.
//
// Like upstream, a component whose statics come from "s":<cid> carries no
// "r" (the client copies it from that cid). One choice may differ without
// changing what the client builds (rendered.js resolves both alike): among
// several components with the same template, upstream names any earlier
// one (its map iteration order), Parley the lowest cid.
func TestComponentGoldenDiffs(t *testing.T) {
	l := deckServer(t)
	v, reply := livetest.Join(t, l, "/deck")
	var r struct {
		Rendered json.RawMessage `json:"rendered"`
	}
	reply.Decode(t, &r)
	const cardS = `["<div class=\"card\">"," ","</div>"]`
	// first render: the pair, cids 1 and 2; cid 2 reuses cid 1's statics
	jsonEqual(t, "first render", r.Rendered, `{
		"0":{"0":1,"1":2,"s":["","",""]},
		"1":{"k":{"kc":0},"s":["<li>","</li>"]},
		"2":"",
		"s":["<main>","<ul>","</ul><p>","</p></main>"],
		"c":{"1":{"0":"Alpha","1":"0","r":1,"s":`+cardS+`},
		     "2":{"0":"Beta","1":"0","s":1}}}`)
	if got := v.HTML(t); !strings.Contains(got, `<div data-phx-component="1" class="card">Alpha 0</div><div data-phx-component="2" class="card">Beta 0</div>`) {
		t.Fatalf("html: %s", got)
	}

	// one component's assigns changed (from the view's template): only
	// its diff, under "c"; the view's slot keeps its cid
	d := diffOf(t, v.Click(t, "rename-a", map[string]any{"to": "Apex"}))
	jsonEqual(t, "one changed", d, `{"c":{"1":{"0":"Apex"}}}`)

	// an event in component 2 changes only component 2
	d = diffOf(t, v.ClickComponent(t, 2, "bump", nil))
	jsonEqual(t, "component event", d, `{"c":{"2":{"1":"1"}}}`)

	// the view changes, no component does: no "c"
	d = diffOf(t, v.Click(t, "note", map[string]any{"to": "hi"}))
	jsonEqual(t, "view only", d, `{"2":"hi"}`)

	// components added inside a comprehension: new cids 3 and 4, both
	// reusing the statics of cid 1, which the client holds ("s":-1)
	d = diffOf(t, v.Click(t, "items", map[string]any{"ids": "x,y"}))
	jsonEqual(t, "added in a comprehension", d, `{
		"1":{"k":{"0":{"0":3},"1":{"0":4},"kc":2}},
		"c":{"3":{"0":"X","1":"0","s":-1},"4":{"0":"Y","1":"0","s":-1}}}`)
	if got := v.HTML(t); !strings.Contains(got, `<li><div data-phx-component="3" class="card">X 0</div></li><li><div data-phx-component="4" class="card">Y 0</div></li>`) {
		t.Fatalf("html: %s", got)
	}

	// one removed from the comprehension: only the view's list changes
	d = diffOf(t, v.Click(t, "items", map[string]any{"ids": "y"}))
	jsonEqual(t, "removed", d, `{"1":{"k":{"0":{"0":4},"kc":1}}}`)
	if n := l.LiveComponents(); n != 4 {
		t.Fatalf("live components before the client's destroy = %d, want 4", n)
	}
	// the client's exchange frees it on the server
	if got := v.DestroyComponents(t, 3); !slices.Equal(got, []int{3}) {
		t.Fatalf("destroyed %v", got)
	}
	if n := l.LiveComponents(); n != 3 {
		t.Fatalf("live components after destroy = %d, want 3", n)
	}

	// an update by id from the view re-renders that component only
	d = diffOf(t, v.Click(t, "update-b", map[string]any{"to": "Bravo"}))
	jsonEqual(t, "send update", d, `{"c":{"2":{"0":"Bravo"}}}`)

	// the same assigns again: nothing re-rendered, nothing sent
	resp := v.Click(t, "update-b", map[string]any{"to": "Bravo"})
	jsonEqual(t, "same assigns", resp, `{}`)

	// re-adding id x makes a new component (cid 5): x was destroyed
	d = diffOf(t, v.Click(t, "items", map[string]any{"ids": "x,y"}))
	jsonEqual(t, "re-added", d, `{"1":{"k":{"0":{"0":5},"1":{"0":4},"kc":2}},"c":{"5":{"0":"X","1":"0","s":-1}}}`)
	v.Leave(t)
	waitFor(t, "components freed when the view ends", func() bool { return l.LiveComponents() == 0 })
}

// A component's id is a JS push target as upstream's @myself is.
func TestCIDAsJSTarget(t *testing.T) {
	if got := js.Push("bump", js.PushOpts{Target: live.CID(3)}).String(); got != `[["push",{"event":"bump","target":3}]]` {
		t.Fatalf("push to a cid: %s", got)
	}
	if got := live.CID(12).String(); got != "12" {
		t.Fatalf("CID prints %q", got)
	}
}

func TestComponentUpdateFromGoroutine(t *testing.T) {
	l := deckServer(t)
	v := livetest.Mount(t, l, "/deck")
	v.Click(t, "update-later", map[string]any{"id": "b", "to": "Later"})
	v.WaitFor(t, "component b updated", func(html string) bool {
		return strings.Contains(html, `<div data-phx-component="2" class="card">Later 0</div>`)
	})
	jsonEqual(t, "pushed diff", v.Diffs()[len(v.Diffs())-1], `{"c":{"2":{"0":"Later"}}}`)
	// an update for an id that does not exist is dropped; the view lives
	v.Click(t, "update-later", map[string]any{"id": "nobody", "to": "x"})
	v.Click(t, "note", map[string]any{"to": "still"})
	if !strings.Contains(v.HTML(t), "<p>still</p>") {
		t.Fatalf("html: %s", v.HTML(t))
	}
}

func TestComponentBadInput(t *testing.T) {
	l := deckServer(t)
	v := livetest.Mount(t, l, "/deck")
	before := v.HTML(t)
	// an event for a cid that never existed is ignored: empty reply
	jsonEqual(t, "unknown cid", v.ClickComponent(t, 99, "bump", nil), `{}`)
	// cids_destroyed without cids_will_destroy deletes nothing
	jsonEqual(t, "destroyed unmarked", v.Request(t, "cids_destroyed", map[string]any{"cids": []int{1}}), `{"cids":[]}`)
	// a component used again between will_destroy and destroyed is kept
	v.Request(t, "cids_will_destroy", map[string]any{"cids": []int{1, 42}})
	v.Click(t, "rename-a", map[string]any{"to": "Again"})
	jsonEqual(t, "used meanwhile", v.Request(t, "cids_destroyed", map[string]any{"cids": []int{1, 42}}), `{"cids":[]}`)
	// a destroyed cid's events are ignored too
	v.Click(t, "drop-pair", nil)
	if got := v.DestroyComponents(t, 1, 2); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("destroyed %v", got)
	}
	jsonEqual(t, "destroyed cid", v.ClickComponent(t, 1, "bump", nil), `{}`)
	// a cid that is not a number is a bad event; a negative one unknown
	ref0 := v.Channel().PushAsync(t, "event", map[string]any{"type": "click", "event": "bump", "value": map[string]any{}, "cid": "abc"})
	if rep := v.Channel().AwaitReply(t, ref0); rep.Status != "error" {
		t.Fatalf("string cid: %s %s", rep.Status, rep.Response)
	}
	jsonEqual(t, "negative cid", v.ClickComponent(t, -1, "bump", nil), `{}`)
	// malformed cids payloads get an error reply, the view lives on
	ref := v.Channel().PushAsync(t, "cids_destroyed", map[string]any{"cids": "all"})
	if rep := v.Channel().AwaitReply(t, ref); rep.Status != "error" {
		t.Fatalf("bad cids: %s %s", rep.Status, rep.Response)
	}
	v.Click(t, "note", map[string]any{"to": "alive"})
	if got := v.HTML(t); got == before || !strings.Contains(got, "<p>alive</p>") {
		t.Fatalf("view not working after bad input: %s", got)
	}
	if n := l.LiveComponents(); n != 0 {
		t.Fatalf("live components = %d, want 0", n)
	}
}

func TestComponentPanicEndsView(t *testing.T) {
	l := deckServer(t)
	v := livetest.Mount(t, l, "/deck")
	ref := v.Channel().PushAsync(t, "event", map[string]any{"type": "click", "event": "boom", "value": map[string]any{}, "cid": 1})
	_ = ref
	// the view crashes as for a panic in its own handler: phx_error
	if got := string(v.Channel().ExpectPush(t, "phx_error")); got != `{"reason":"channel_crash"}` {
		t.Fatalf("phx_error %s", got)
	}
	waitFor(t, "components freed after the crash", func() bool { return l.LiveComponents() == 0 })
}

func TestComponentErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{{live_component "nope" "1"}}`, "unknown component"},
		{`{{live_component "card"}}`, "bad live_component arguments"},
		{`{{live_component "card" "1" "Title" 1 "X"}}`, "odd number"},
		{`{{live_component "card" "1" 7}}`, "not a map"},
		{`{{live_component "card" "1"}}{{live_component "card" "1"}}`, "rendered twice"},
	} {
		var logs strings.Builder
		l2, err := live.New(live.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		l2.Component("card", func() live.Component { return &card{} })
		tmpl := render.Must(render.New("bad").Parse(`<div>` + tc.src + `</div>`))
		l2.Handle("/bad", func() live.View { return &badComponents{t: tmpl} })
		resp := livetest.DeadRender(t, l2, "/bad")
		if resp.StatusCode != 500 {
			t.Errorf("%s: status %d", tc.src, resp.StatusCode)
		}
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%s: log %q lacks %q", tc.src, logs.String(), tc.want)
		}
	}
	// live_component outside a live render
	tmpl := render.Must(render.New("x").Parse(`<div>{{live_component "card" "1"}}</div>`))
	if _, err := tmpl.Render(nil, nil); !errors.Is(err, render.ErrNoComponents) {
		t.Errorf("plain render: %v", err)
	}
}

type badComponents struct{ t *render.Template }

func (b *badComponents) Mount(s *live.Socket, _ url.Values) error { return nil }
func (b *badComponents) Render(s *live.Socket) (*diff.Node, error) {
	if b.t == nil {
		return nil, fmt.Errorf("no template")
	}
	return s.RenderTemplate(b.t)
}

// waitFor polls cond until it holds, failing after livetest.Timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(livetest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %s", livetest.Timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
