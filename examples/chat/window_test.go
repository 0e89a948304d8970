package chat

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-go/parley/livetest"
)

// TestWindowSlidesBackToThePresent: after three pages back, messages sent
// meanwhile are not appended below the old window (no hole); scrolling
// down loads by id, so the window slides to the present with every
// message once, including those sent between two pages.
func TestWindowSlidesBackToThePresent(t *testing.T) {
	_, l := newApp(t)
	reader := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	writer := livetest.Mount(t, l, "/chat/rooms/1?user=bob")
	for _, f := range []string{"36", "26", "16"} {
		reader.JS(t, "load_more", map[string]any{"id": "messages-" + f})
	}
	reader.Hook(t, "pinned", map[string]any{"pinned": false})
	h := reader.HTML(t)
	if span(h) != "6..35 (30)" || !strings.Contains(h, `phx-viewport-bottom="load_newer"`) || !strings.Contains(h, `data-present="false"`) {
		t.Fatalf("three pages back: %s", span(h))
	}
	writer.Submit(t, "send", url.Values{"body": {"while away 1"}}) // 61
	reader.WaitFor(t, "the unread count", has(`1 new message ↓`))
	if strings.Contains(reader.HTML(t), "while away 1") {
		t.Fatal("a new message was appended under an old window")
	}
	want := []string{"16..45 (30)", "18..62 (30)"}
	for i, w := range want {
		last := ids(reader.HTML(t))
		reader.JS(t, "load_newer", map[string]any{"id": "messages-" + last[len(last)-1]})
		if i == 0 {
			// Sent between two pages: it comes with the next one.
			writer.Submit(t, "send", url.Values{"body": {"while away 2"}}) // 62
			reader.WaitFor(t, "the second unread", has(`2 new messages ↓`))
		}
		if got := span(reader.HTML(t)); got != w {
			t.Fatalf("page %d down: %s, want %s", i+1, got, w)
		}
	}
	got := ids(reader.HTML(t))
	seen := map[string]bool{}
	for k, id := range got {
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		if k > 0 && id != "61" && id != "62" && atoi(id) != atoi(got[k-1])+1 {
			t.Fatalf("hole before %s: %v", id, got)
		}
	}
	h = reader.HTML(t)
	if strings.Contains(h, "phx-viewport-bottom") || !strings.Contains(h, `data-present="true"`) {
		t.Fatal("at the present, the bottom binding stays")
	}
	// Back at the bottom: the count clears; a new message is appended.
	reader.Hook(t, "pinned", map[string]any{"pinned": true})
	if strings.Contains(reader.HTML(t), `id="new-messages"`) {
		t.Fatal("the count stays at the bottom of the present")
	}
	writer.Submit(t, "send", url.Values{"body": {"now"}})
	reader.WaitFor(t, "the live message", has("<p class=\"body\">now</p>"))
	if strings.Contains(reader.HTML(t), `id="new-messages"`) {
		t.Fatal("a message seen at the bottom counts as unread")
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestJumpToPresent: the "N new messages" button resets the window to the
// latest page and asks the hook to scroll down.
func TestJumpToPresent(t *testing.T) {
	_, l := newApp(t)
	reader := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	writer := livetest.Mount(t, l, "/chat/rooms/1?user=bob")
	for _, f := range []string{"36", "26", "16"} {
		reader.JS(t, "load_more", map[string]any{"id": "messages-" + f})
	}
	reader.Hook(t, "pinned", map[string]any{"pinned": false})
	writer.Submit(t, "send", url.Values{"body": {"look"}})
	reader.WaitFor(t, "the count", has("1 new message ↓"))
	reader.Click(t, "jump", nil)
	h := reader.HTML(t)
	if span(h) != "37..61 (10)" || strings.Contains(h, `id="new-messages"`) {
		t.Fatalf("after the jump: %s", span(h))
	}
	ev := reader.Events()
	if len(ev) == 0 || ev[len(ev)-1].Name != "chat:bottom" {
		t.Fatalf("events %v", ev)
	}
}

// TestBeginningMarker: a room whose first message is in the page says so.
func TestBeginningMarker(t *testing.T) {
	_, l := newApp(t)
	if h := livetest.Mount(t, l, "/chat/rooms/3?user=ann").HTML(t); !strings.Contains(h, `id="beginning"`) {
		t.Fatal("small room: no beginning marker")
	}
	v := livetest.Mount(t, l, "/chat/rooms/1?user=ann")
	if h := v.HTML(t); strings.Contains(h, `id="beginning"`) || !strings.Contains(h, `id="loading-older"`) {
		t.Fatal("a room with older messages shows the beginning")
	}
	for _, f := range []string{"36", "26", "16", "6"} {
		v.JS(t, "load_more", map[string]any{"id": "messages-" + f})
	}
	if h := v.HTML(t); !strings.Contains(h, `id="beginning"`) {
		t.Fatal("scrolled to the first message: no beginning marker")
	}
}

// TestAuthorOnly: the server refuses anonymous writes and changes to
// another user's message, with a message on the page; nothing changes.
func TestAuthorOnly(t *testing.T) {
	app, l := newApp(t)
	anon := livetest.Mount(t, l, "/chat/rooms/3")
	if h := anon.HTML(t); strings.Contains(h, "send-form") || !strings.Contains(h, `id="login"`) {
		t.Fatal("anonymous page offers a send form")
	}
	anon.Submit(t, "send", url.Values{"body": {"forged"}})
	if !strings.Contains(anon.HTML(t), "Log in to send") {
		t.Fatal("anonymous send: no error")
	}
	bob := livetest.Mount(t, l, "/chat/rooms/3?user=bob")
	for _, ev := range []struct {
		name string
		vals url.Values
		want string
	}{
		{"save", url.Values{"id": {"58"}, "body": {"bob was here"}}, "only its author"},
		{"delete", url.Values{"id": {"58"}}, "only its author"},
		{"edit", url.Values{"id": {"58"}}, "Only its author"},
		{"delete", url.Values{"id": {"9999"}}, "no longer exists"},
	} {
		bob.Submit(t, ev.name, ev.vals)
		if h := bob.HTML(t); !strings.Contains(h, ev.want) || strings.Contains(h, "edit-form") {
			t.Fatalf("%s %v: %s", ev.name, ev.vals, h)
		}
	}
	anon.Click(t, "delete", map[string]any{"id": "58"})
	m, err := app.Store().Message(t.Context(), 58)
	if err != nil || strings.Contains(m.Body, "bob") {
		t.Fatalf("message 58 changed: %+v %v", m, err)
	}
}

// TestLogin: the form signs the name into a cookie that the room reads;
// a tampered cookie, a missing form token or a bad name changes nothing.
func TestLogin(t *testing.T) {
	app, _ := newApp(t)
	h := app.Handler()
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest("GET", "/chat/login?next=/chat/rooms/2", nil))
	if get.Code != 200 || !strings.Contains(get.Body.String(), `value="/chat/rooms/2"`) {
		t.Fatalf("form: %d %s", get.Code, get.Body)
	}
	var csrf *http.Cookie
	for _, c := range get.Result().Cookies() {
		if c.Name == loginCSRF {
			csrf = c
		}
	}
	if csrf == nil {
		t.Fatal("no form token")
	}
	post := func(form url.Values, cookie bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/chat/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie {
			r.AddCookie(csrf)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, bad := range []struct {
		form   url.Values
		cookie bool
		code   int
		want   string
	}{
		{url.Values{"user": {"ann"}, "csrf": {csrf.Value}}, false, 403, "expired"},
		{url.Values{"user": {"ann"}, "csrf": {"x"}}, true, 403, "expired"},
		{url.Values{"user": {"  "}, "csrf": {csrf.Value}}, true, 400, "Choose a name"},
		{url.Values{"user": {strings.Repeat("a", 41)}, "csrf": {csrf.Value}}, true, 400, "at most 40"},
		{url.Values{"user": {"a\x07b"}, "csrf": {csrf.Value}}, true, 400, "control"},
	} {
		w := post(bad.form, bad.cookie)
		if w.Code != bad.code || !strings.Contains(w.Body.String(), bad.want) {
			t.Fatalf("%v: %d %s", bad.form, w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == loginCookie {
				t.Fatalf("%v set a login cookie", bad.form)
			}
		}
	}
	w := post(url.Values{"user": {"ann"}, "csrf": {csrf.Value}, "next": {"https://evil.example/"}}, true)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/chat/rooms/1" {
		t.Fatalf("login: %d %s", w.Code, w.Header().Get("Location"))
	}
	var login *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == loginCookie {
			login = c
		}
	}
	if login == nil || !login.HttpOnly {
		t.Fatal("no HttpOnly login cookie")
	}
	read := func(value string) (string, bool) {
		r := httptest.NewRequest("GET", "/chat/rooms/1", nil)
		r.AddCookie(&http.Cookie{Name: loginCookie, Value: value})
		return app.cookieUser(r)
	}
	if u, bad := read(login.Value); u != "ann" || bad {
		t.Fatalf("cookie reads %q %v", u, bad)
	}
	// Forged: the payload of another name with ann's signature.
	enc, sig, _ := strings.Cut(login.Value, ".")
	forged := strings.Replace(enc, enc[len(enc)-4:], "AAAA", 1) + "." + sig
	for _, v := range []string{forged, "bob", login.Value + "x"} {
		if u, bad := read(v); u != "" || !bad {
			t.Fatalf("forged cookie %q reads %q %v", v, u, bad)
		}
	}
}

// TestUnreadBadges: a user's first visit starts their read marks at the
// present; others' messages in another room show as a badge once the
// batch delay passed; reading the room in any tab clears it in all.
func TestUnreadBadges(t *testing.T) {
	_, l := newApp(t)
	tab1 := livetest.Mount(t, l, "/chat/rooms/3?user=ann")
	tab2 := livetest.Mount(t, l, "/chat/rooms/3?user=ann")
	bob := livetest.Mount(t, l, "/chat/rooms/2?user=bob")
	if strings.Contains(tab1.HTML(t), `class="badge"`) {
		t.Fatal("a first visit shows old messages as unread")
	}
	for i := range 5 {
		bob.Submit(t, "send", url.Values{"body": {"burst " + strconv.Itoa(i)}})
	}
	for _, tab := range []*livetest.View{tab1, tab2} {
		tab.WaitFor(t, "the batched badge", has(`<span class="badge" id="unread-2">5 new</span>`))
	}
	// Ann's own messages never count; reading room 2 in a third tab
	// clears the badge in the others.
	livetest.Mount(t, l, "/chat/rooms/2?user=ann")
	for _, tab := range []*livetest.View{tab1, tab2} {
		tab.WaitFor(t, "the badge cleared", func(h string) bool { return !strings.Contains(h, `id="unread-2"`) })
	}
}
