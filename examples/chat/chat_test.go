package chat

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/pubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newApp(t *testing.T) (*App, *live.Server) {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(context.Background(), Config{DataDir: t.TempDir(), PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	l, err := live.New(live.Config{PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// The dead render's visitor is ?user= here: livetest requests carry no
	// cookies (the signed login cookie has its own tests).
	app.userOf = func(r *http.Request) (string, bool) { return r.URL.Query().Get("user"), false }
	app.Register(l)
	return app, l
}

var msgRE = regexp.MustCompile(`<div id="messages-(\d+)" class="msg">`)

// ids lists the message ids on the page, in order.
func ids(h string) []string {
	var out []string
	for _, m := range msgRE.FindAllStringSubmatch(h, -1) {
		out = append(out, m[1])
	}
	return out
}

func span(h string) string {
	l := ids(h)
	if len(l) == 0 {
		return "none"
	}
	return fmt.Sprintf("%s..%s (%d)", l[0], l[len(l)-1], len(l))
}

func has(s string) func(string) bool { return func(h string) bool { return strings.Contains(h, s) } }

func TestMountShowsLastTenAndRooms(t *testing.T) {
	_, l := newApp(t)
	v := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	h := v.HTML(t)
	if got := span(h); got != "36..45 (10)" {
		t.Fatalf("messages %s", got)
	}
	for _, want := range []string{"#weekend-plans", "#sre-team", "#general", `phx-viewport-top="load_more"`,
		"delpha@streamchat.io", "2023-03-02 02:12:10", `id="me"`} {
		if !strings.Contains(h, want) {
			t.Errorf("missing %q", want)
		}
	}
	if !strings.Contains(v.DeadHTML, `id="messages-45"`) {
		t.Error("the dead render lacks the messages")
	}
	// A room with fewer than a page: no scroll-back.
	g := livetest.Mount(t, l, "/chat/rooms/3?user=ann")
	if h := g.HTML(t); span(h) != "58..60 (3)" || strings.Contains(h, "phx-viewport-top") {
		t.Fatalf("small room: %s", span(h))
	}
}

func TestMessagesReachEveryViewer(t *testing.T) {
	_, l := newApp(t)
	ann := livetest.Mount(t, l, "/chat/rooms/2?user=ann")
	bob := livetest.Mount(t, l, "/chat/rooms/2?user=bob")
	other := livetest.Mount(t, l, "/chat/rooms/1?user=cy")
	before := len(bob.Diffs())

	ann.Submit(t, "send", url.Values{"body": {"hello <b>all</b>"}})
	for _, v := range []*livetest.View{ann, bob} {
		v.WaitFor(t, "the new message", has(`<p class="body">hello &lt;b&gt;all&lt;/b&gt;</p>`))
	}
	// Bob's page got that one message: one diff, holding only it.
	d := bob.Diffs()[before:]
	if len(d) != 1 {
		t.Fatalf("diffs %s", d)
	}
	for _, id := range regexp.MustCompile(`messages-\d+`).FindAllString(string(d[0]), -1) {
		if id != "messages-61" {
			t.Fatalf("diff for one message names %s: %s", id, d[0])
		}
	}
	if !strings.Contains(string(d[0]), `"stream":["messages",[["messages-61",-1,-30,false]],[]]`) {
		t.Fatalf("diff for one message: %s", d[0])
	}
	if got := span(bob.HTML(t)); got != "48..61 (11)" {
		t.Fatalf("bob: %s", got)
	}
	// Only the sender gets edit buttons; the other room sees nothing.
	if !strings.Contains(ann.HTML(t), `phx-click="edit" phx-value-id="61"`) || strings.Contains(bob.HTML(t), `phx-value-id="61"`) {
		t.Fatal("edit buttons")
	}
	if strings.Contains(other.HTML(t), "hello") {
		t.Fatal("leaked into room 1")
	}

	// Edit in place: the form for ann only, then the new text for both.
	ann.Click(t, "edit", map[string]any{"id": "61"})
	if !strings.Contains(ann.HTML(t), `class="edit-form"`) || strings.Contains(bob.HTML(t), "edit-form") {
		t.Fatal("edit form")
	}
	// the edit form validates live once touched; an empty save is refused
	ann.Change(t, "validate_edit", url.Values{"id": {"61"}, "body": {"hello"}, "_unused_body": {""}}, "undefined")
	if strings.Contains(ann.HTML(t), "edit-error") {
		t.Fatal("error on an untouched edit form")
	}
	ann.Change(t, "validate_edit", url.Values{"id": {"61"}, "body": {""}}, "body")
	if !strings.Contains(ann.HTML(t), `<p class="error edit-error">A message can&#39;t be empty.</p>`) {
		t.Fatalf("no live error on the edit form: %s", ann.HTML(t))
	}
	ann.Submit(t, "save", url.Values{"id": {"61"}, "body": {"  "}})
	if !strings.Contains(ann.HTML(t), "edit-error") || strings.Contains(bob.HTML(t), "(edited)") {
		t.Fatal("an empty edit was saved")
	}
	ann.Submit(t, "save", url.Values{"id": {"61"}, "body": {"hello everyone"}})
	for _, v := range []*livetest.View{ann, bob} {
		v.WaitFor(t, "the edit", func(h string) bool {
			return strings.Contains(h, `<p class="body">hello everyone</p>`) && strings.Contains(h, "(edited)") && !strings.Contains(h, "edit-form")
		})
		if got := span(v.HTML(t)); got != "48..61 (11)" {
			t.Fatalf("edit moved or added: %s", got)
		}
	}
	// Bob cannot edit or delete ann's message.
	bob.Click(t, "delete", map[string]any{"id": "61"})
	if !strings.Contains(bob.HTML(t), "cannot be deleted") {
		t.Fatal("bob deleted ann's message")
	}
	// Delete reaches both.
	ann.Click(t, "delete", map[string]any{"id": "61"})
	for _, v := range []*livetest.View{ann, bob} {
		v.WaitFor(t, "the delete", func(h string) bool { return span(h) == "48..57 (10)" })
	}
}

func TestScrollBackIsBounded(t *testing.T) {
	_, l := newApp(t)
	v := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	steps := []struct {
		first string
		want  string
	}{
		{"36", "26..45 (20)"},
		{"26", "16..45 (30)"},
		{"16", "6..35 (30)"}, // the limit drops the newest
		{"6", "1..30 (30)"},
	}
	for _, s := range steps {
		// One scroll to the top, as the InfiniteScroll hook sends it: the
		// overrun first (nothing to load), then the first child at the
		// top, whose reply carries the page.
		if r := v.JS(t, "load_more", map[string]any{"id": "messages-" + s.first, "_overran": true}); string(r) != "{}" {
			t.Fatalf("overrun reply %s", r)
		}
		r := v.JS(t, "load_more", map[string]any{"id": "messages-" + s.first})
		if !strings.Contains(string(r), `"stream":["messages",[[`) || strings.Contains(string(r), `-1,`) {
			t.Fatalf("the reply lacks the page: %s", r)
		}
		if got := span(v.HTML(t)); got != s.want {
			t.Fatalf("after the page before %s: %s", s.first, got)
		}
	}
	if strings.Contains(v.HTML(t), "phx-viewport-top") {
		t.Fatal("no more pages, but phx-viewport-top stays")
	}
	// More does nothing.
	if r := v.JS(t, "load_more", map[string]any{"id": "messages-1", "_overran": true}); string(r) != "{}" {
		t.Fatalf("after the end: %s", r)
	}
	if got := span(v.HTML(t)); got != "1..30 (30)" {
		t.Fatalf("after the end: %s", got)
	}
	// A new message keeps the page at the limit.
	v.Submit(t, "send", url.Values{"body": {"back to now"}})
	v.WaitFor(t, "the new message", has("back to now"))
	// Sending from the past goes back to the present first.
	if got := span(v.HTML(t)); got != "37..61 (10)" {
		t.Fatalf("after sending from the past: %s", got)
	}
}

// TestScrollBackRepairsALatePage: an event that names the first message
// as it was before the last page (sent while the page was on its way, so
// the page may have been applied to the client's locked clone) gets the
// page again, deleted and re-inserted at the top, in order.
func TestScrollBackRepairsALatePage(t *testing.T) {
	_, l := newApp(t)
	v := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	v.JS(t, "load_more", map[string]any{"id": "messages-36"})
	v.JS(t, "load_more", map[string]any{"id": "messages-26"})
	if got := span(v.HTML(t)); got != "16..45 (30)" {
		t.Fatalf("two pages: %s", got)
	}
	for _, overran := range []bool{true, false} {
		r := string(v.JS(t, "load_more", map[string]any{"id": "messages-26", "_overran": overran}))
		var ins []string
		for i := 25; i >= 16; i-- {
			ins = append(ins, fmt.Sprintf(`["messages-%d",0,30,false]`, i))
		}
		var del []string
		for i := 16; i <= 25; i++ {
			del = append(del, fmt.Sprintf(`"messages-%d"`, i))
		}
		if want := `"stream":["messages",[` + strings.Join(ins, ",") + `],[` + strings.Join(del, ",") + `]]`; !strings.Contains(r, want) {
			t.Fatalf("repair reply %s\nwant %s", r, want)
		}
		if got := span(v.HTML(t)); got != "16..45 (30)" {
			t.Fatalf("after the repair: %s", got)
		}
	}
	// Older stale events do nothing; the current first message loads on.
	if r := v.JS(t, "load_more", map[string]any{"id": "messages-36"}); string(r) != "{}" {
		t.Fatalf("stale reply %s", r)
	}
	v.JS(t, "load_more", map[string]any{"id": "messages-16"})
	if got := span(v.HTML(t)); got != "6..35 (30)" {
		t.Fatalf("third page: %s", got)
	}
}

// TestDraftRecovery: the message box's phx-change keeps the draft on the
// server, so a new mount (a restarted server) that receives the client's
// form-recovery event renders the typed text again; sending clears it.
func TestDraftRecovery(t *testing.T) {
	_, l := newApp(t)
	v := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	if strings.Contains(v.HTML(t), `value="typed before"`) {
		t.Fatal("a fresh mount shows a draft")
	}
	// What phoenix_live_view sends for form recovery: the form's phx-change
	// event with its inputs.
	v.Change(t, "draft", url.Values{"body": {"typed before"}}, "body")
	if !strings.Contains(v.HTML(t), `value="typed before"`) {
		t.Fatalf("the recovered draft is not rendered: %s", v.HTML(t))
	}
	v.Submit(t, "send", url.Values{"body": {"typed before"}})
	if strings.Contains(v.HTML(t), `value="typed before"`) {
		t.Fatalf("the draft survived the send: %s", v.HTML(t))
	}
}

// The message box validates live: no error while untouched, an error once
// the user typed and emptied it or typed too much, and a submit of an
// empty box shows the error instead of sending.
func TestMessageBoxValidatesLive(t *testing.T) {
	_, l := newApp(t)
	v := livetest.Mount(t, l, "/chat/rooms/2?user=ann")
	// the client sends an untouched box with its _unused_ companion
	v.Change(t, "draft", url.Values{"body": {""}, "_unused_body": {""}}, "undefined")
	if strings.Contains(v.HTML(t), `id="body-error"`) {
		t.Fatalf("error on an untouched box: %s", v.HTML(t))
	}
	v.Change(t, "draft", url.Values{"body": {""}}, "body")
	if !strings.Contains(v.HTML(t), `<p id="body-error" class="error">A message can&#39;t be empty.</p>`) {
		t.Fatalf("no error on an emptied box: %s", v.HTML(t))
	}
	v.Change(t, "draft", url.Values{"body": {strings.Repeat("é", 501)}}, "body")
	if !strings.Contains(v.HTML(t), "at most 500 characters (this one has 501)") {
		t.Fatalf("no error on a long message: %s", v.HTML(t))
	}
	v.Submit(t, "send", url.Values{"body": {strings.Repeat("é", 501)}})
	if strings.Contains(v.HTML(t), strings.Repeat("é", 501)+"</p>") {
		t.Fatal("a too-long message was sent")
	}
	v.Change(t, "draft", url.Values{"body": {"hello"}}, "body")
	if strings.Contains(v.HTML(t), `id="body-error"`) {
		t.Fatalf("error on a valid message: %s", v.HTML(t))
	}
	v.Submit(t, "send", url.Values{"body": {"hello"}})
	v.WaitFor(t, "the message sent", func(h string) bool { return strings.Contains(h, `<p class="body">hello</p>`) })
}
