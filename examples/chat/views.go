package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/stream"
	"github.com/parley-go/parley/pubsub"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// item is a message as one viewer sees it.
type item struct {
	Message
	Mine    bool // the viewer sent it: edit and delete buttons
	Editing bool // the viewer is editing it
	// EditError is the live validation error of the edit form, shown
	// once the user touched it.
	EditError string
}

// DOMID is the DOM id of a message.
func DOMID(m item) string { return "messages-" + itoa(m.ID) }

func domID(id int64) string { return "messages-" + itoa(id) }

// roomView is /chat/rooms/{id}. It keeps no messages, only the ids of the
// ones in the page (the window), to page from in both directions.
type roomView struct {
	app      *App
	room     Room
	user     string
	messages *stream.Stream[item]
	// win holds the ids of the messages in the page, ascending.
	win []int64
	// present: the window reaches the room's newest message, so new
	// messages are appended; otherwise they wait for a scroll down.
	present bool
	// pinned: the reader is at the bottom of the list (the ChatScroll hook
	// says so when it changes).
	pinned bool
	// unread counts messages that arrived while the reader was not
	// looking at the present ("N new messages ↓").
	unread int
	// beforeFirst is the first message before the last older page was
	// sent, afterLast the last one before the last newer page: a viewport
	// event that still names it was sent before the page reached the
	// browser (see loadOlder).
	beforeFirst, afterLast int64
	sent                   int
	// rooms are the room links with their unread badges; badgesDue: a
	// badge refresh is scheduled (bursts are batched into one).
	rooms     []roomLink
	badgesDue bool
}

// roomLink is a room in the nav, with the viewer's unread count.
type roomLink struct {
	ID     int64
	Name   string
	Unread int
}

// badgeMsg refreshes the unread badges; badgeDelay batches a burst of
// messages into one update ("5 new").
type badgeMsg struct{}

const badgeDelay = 300 * time.Millisecond

// UserTopic is the pubsub topic of one user's read marks: every tab and
// device of the user hears when a room was read in one of them.
func UserTopic(user string) string { return "chat:user:" + user }

func (v *roomView) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (v *roomView) Mount(s *live.Socket, params url.Values) error {
	ctx, cancel := v.ctx()
	defer cancel()
	id, err := strconv.ParseInt(params.Get("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("room %q: %w: %w", params.Get("id"), ErrNotFound, live.ErrNotFound)
	}
	if v.room, err = v.app.store.Room(ctx, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("room %d: %w: %w", id, err, live.ErrNotFound) // a 404 page
		}
		return err
	}
	rooms, err := v.app.store.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, r := range rooms {
		v.rooms = append(v.rooms, roomLink{ID: r.ID, Name: r.Name})
	}
	v.user, _ = s.Session()["user"].(string)
	bad, _ := s.Session()["bad_login"].(bool)
	v.messages = stream.New("messages", DOMID)
	s.Assign("rooms", v.rooms)
	s.Assign("roomID", v.room.ID)
	s.Assign("roomName", v.room.Name)
	s.Assign("user", v.user)
	s.Assign("loginURL", "/chat/login?next="+url.QueryEscape("/chat/rooms/"+itoa(v.room.ID)))
	s.Assign("badLogin", bad)
	s.Assign("messages", v.messages)
	s.Assign("sent", 0)
	s.Assign("draft", "")
	s.Assign("bodyError", "")
	s.Assign("error", "")
	s.SetTitle("#" + v.room.Name)
	if err := s.Subscribe(Topic(v.room.ID)); err != nil {
		return err
	}
	// Every mount, a rejoin too, starts from an empty page at the present.
	v.pinned = true
	if err := v.loadLatest(ctx, s); err != nil {
		return err
	}
	if v.user == "" || !s.Connected() {
		return nil
	}
	// Unread badges: every room's news, and the user's other tabs.
	if err := v.app.store.StartReading(ctx, v.user); err != nil {
		return err
	}
	for _, r := range rooms {
		if r.ID != v.room.ID {
			if err := s.Subscribe(Topic(r.ID)); err != nil {
				return err
			}
		}
	}
	if err := s.Subscribe(UserTopic(v.user)); err != nil {
		return err
	}
	if len(v.win) > 0 {
		if err := v.markRead(ctx, v.win[len(v.win)-1]); err != nil {
			return err
		}
	}
	return v.refreshBadges(ctx, s)
}

// markRead moves the viewer's read mark of this room to id and tells the
// user's other tabs.
func (v *roomView) markRead(ctx context.Context, id int64) error {
	moved, err := v.app.store.MarkRead(ctx, v.user, v.room.ID, id)
	if err != nil || !moved {
		return err
	}
	return channel.Broadcast(ctx, v.app.cfg.PubSub, UserTopic(v.user), "read", map[string]int64{"room_id": v.room.ID, "id": id})
}

// refreshBadges reads the unread counts and assigns the room links if a
// count changed.
func (v *roomView) refreshBadges(ctx context.Context, s *live.Socket) error {
	unread, err := v.app.store.Unread(ctx, v.user)
	if err != nil {
		return err
	}
	changed := false
	for i := range v.rooms {
		n := unread[v.rooms[i].ID]
		if v.rooms[i].ID == v.room.ID {
			n = 0 // being read here
		}
		if v.rooms[i].Unread != n {
			v.rooms[i].Unread, changed = n, true
		}
	}
	if changed {
		s.Assign("rooms", slices.Clone(v.rooms))
	}
	return nil
}

// scheduleBadges refreshes the badges badgeDelay from now, once for a
// whole burst.
func (v *roomView) scheduleBadges(s *live.Socket) {
	if !v.badgesDue {
		v.badgesDue = true
		s.SendAfter(badgeDelay, badgeMsg{})
	}
}

// loadLatest shows the last page of the room, pinned to the bottom.
func (v *roomView) loadLatest(ctx context.Context, s *live.Socket) error {
	ms, err := v.app.store.Before(ctx, v.room.ID, 0, PageSize)
	if err != nil {
		return err
	}
	v.messages.Reset()
	v.win = v.win[:0]
	for _, m := range ms {
		v.messages.Insert(v.item(m), stream.Limit(-DOMLimit))
		v.win = append(v.win, m.ID)
	}
	v.beforeFirst, v.afterLast = 0, 0
	v.present, v.unread = true, 0
	return v.assignWindow(ctx, s)
}

// assignWindow assigns what the template needs to know of the window.
func (v *roomView) assignWindow(ctx context.Context, s *live.Socket) error {
	older := false
	if len(v.win) > 0 {
		var err error
		if older, err = v.app.store.HasBefore(ctx, v.room.ID, v.win[0]); err != nil {
			return err
		}
	}
	s.Assign("hasOlder", older)
	s.Assign("present", v.present)
	s.Assign("unread", v.unread)
	return nil
}

func (v *roomView) item(m Message) item {
	return item{Message: m, Mine: v.user != "" && m.Sender == v.user}
}

func (v *roomView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(roomTmpl) }

func (v *roomView) HandleEvent(s *live.Socket, e live.Event) error {
	ctx, cancel := v.ctx()
	defer cancel()
	// Only what changes is assigned: a reply with a diff that reaches the
	// page while a viewport event is in flight patches the locked stream
	// container's clone (see loadOlder), so "pinned" and stale viewport
	// events must answer with no diff at all.
	if s.Get("error") != "" && e.Name != "pinned" {
		s.Assign("error", "")
	}
	switch e.Name {
	case "send":
		if v.user == "" {
			s.Assign("error", "Log in to send messages.")
			return nil
		}
		// a submit counts every field as touched: its errors show
		if msg := bodyError(e.String("body")); msg != "" {
			s.Assign("bodyError", msg)
			return nil
		}
		m, err := v.app.store.Create(ctx, v.room.ID, v.user, strings.TrimSpace(e.String("body")))
		if errors.Is(err, ErrEmpty) || errors.Is(err, ErrTooLong) {
			s.Assign("error", errText(err))
			return nil
		}
		if err != nil {
			return err
		}
		v.sent++
		s.Assign("sent", v.sent) // a new form: the input starts empty
		s.Assign("draft", "")
		// Your own message is never sent off-screen: back to the present.
		if !v.present {
			if err := v.loadLatest(ctx, s); err != nil {
				return err
			}
		}
		v.pinned, v.unread = true, 0
		s.Assign("unread", 0)
		s.PushEvent("chat:bottom", map[string]any{})
		s.Assign("bodyError", "")
		return v.broadcast(ctx, "new", m)
	case "draft":
		// The message box's phx-change. After a reconnect to a restarted
		// server, the client replays it with the text typed before (form
		// recovery), and the new mount shows that text again.
		if len(e.String("body")) <= maxDraft {
			s.Assign("draft", e.String("body"))
		}
		// Live validation, for a message box the user touched only
		// (live.Form's used tracking: an untouched box shows no error).
		if f := live.FormOf(e, ""); f.Used("body") {
			s.Assign("bodyError", bodyError(f.Value("body")))
		} else {
			s.Assign("bodyError", "")
		}
	case "edit", "cancel_edit":
		m, err := v.mine(ctx, e)
		if err != nil {
			s.Assign("error", "Only its author can edit a message.")
			return nil
		}
		it := v.item(m)
		it.Editing = e.Name == "edit"
		v.messages.Insert(it, stream.UpdateOnly())
	case "validate_edit":
		m, err := v.mine(ctx, e)
		if err != nil {
			return nil
		}
		it := v.item(m)
		it.Editing = true
		if f := live.FormOf(e, ""); f.Used("body") {
			it.EditError = bodyError(f.Value("body"))
		}
		v.messages.Insert(it, stream.UpdateOnly())
	case "save":
		if v.user == "" {
			s.Assign("error", "Log in to edit your messages.")
			return nil
		}
		if msg := bodyError(e.String("body")); msg != "" {
			if m, err := v.mine(ctx, e); err == nil {
				it := v.item(m)
				it.Editing, it.EditError = true, msg
				v.messages.Insert(it, stream.UpdateOnly())
				return nil
			}
		}
		id, _ := strconv.ParseInt(e.String("id"), 10, 64)
		m, err := v.app.store.Update(ctx, id, v.user, strings.TrimSpace(e.String("body")))
		if err != nil {
			s.Assign("error", "That message cannot be changed: "+errText(err))
			return nil
		}
		return v.broadcast(ctx, "updated", m)
	case "delete":
		if v.user == "" {
			s.Assign("error", "Log in to delete your messages.")
			return nil
		}
		id, _ := strconv.ParseInt(e.String("id"), 10, 64)
		m, err := v.app.store.Delete(ctx, id, v.user)
		if err != nil {
			s.Assign("error", "That message cannot be deleted: "+errText(err))
			return nil
		}
		return v.broadcast(ctx, "deleted", m)
	case "load_more":
		return v.loadOlder(ctx, s, e)
	case "load_newer":
		return v.loadNewer(ctx, s, e)
	case "pinned":
		v.pinned = e.Params["pinned"] == true
		if v.pinned && v.present && v.unread != 0 {
			v.unread = 0
			s.Assign("unread", 0)
		}
	case "jump":
		if !v.present {
			if err := v.loadLatest(ctx, s); err != nil {
				return err
			}
		}
		v.pinned, v.unread = true, 0
		s.Assign("unread", 0)
		s.PushEvent("chat:bottom", map[string]any{})
	}
	return nil
}

// errText is what the page says about a store error.
func errText(err error) string {
	switch {
	case errors.Is(err, ErrEmpty):
		return "A message needs some text."
	case errors.Is(err, ErrTooLong):
		return "Messages have at most 2000 characters."
	case errors.Is(err, ErrNotYours):
		return "only its author can change it."
	case errors.Is(err, ErrNotFound):
		return "it no longer exists."
	}
	return "something went wrong."
}

// loadOlder answers phx-viewport-top. The page of older messages travels
// in the reply to the event, as upstream does: the client locks the
// stream container while a viewport event is in flight, and a stream diff
// that reaches it locked is applied to a private clone that is merged
// back, when the last lock goes, without the stream operations: new items
// are appended and limits are lost. The client releases the lock of an
// event before applying the diff of its reply, so a page in the reply to
// the newest event in flight lands in order and bounded.
//
// The hook sends, for one scroll to the top, first {id, _overran: true}
// (the container's top came into view), then {id} (its first child
// reached the top of the viewport). Only the latter loads, so the page
// goes in the reply to the later of the two. An event that names the
// message that was first before the last page (a throttled event fired
// late, or any event in flight when the page arrived) means the page may
// have gone to the clone: its reply sends the page again, deleted and
// re-inserted at 0, which puts it back in order and within the limit.
//
// The page inserted at the top pushes the newest messages out of the
// bottom (the limit): the window then no longer reaches the present.
func (v *roomView) loadOlder(ctx context.Context, s *live.Socket, e live.Event) error {
	id := e.String("id")
	switch {
	case v.beforeFirst != 0 && id == domID(v.beforeFirst):
		ms, err := v.app.store.Before(ctx, v.room.ID, v.beforeFirst, PageSize)
		if err != nil {
			return err
		}
		for _, m := range ms {
			v.messages.DeleteID(domID(m.ID))
		}
		v.prepend(ms)
		return nil
	case len(v.win) == 0 || id != domID(v.win[0]):
		return nil // stale, or nothing loaded
	case e.Params["_overran"] == true:
		return nil // the {id} event of the same scroll follows
	}
	ms, err := v.app.store.Before(ctx, v.room.ID, v.win[0], PageSize)
	if err != nil || len(ms) == 0 {
		return err
	}
	v.prepend(ms)
	v.beforeFirst, v.afterLast = v.win[0], 0
	win := make([]int64, 0, len(ms)+len(v.win))
	for _, m := range ms {
		win = append(win, m.ID)
	}
	v.win = append(win, v.win...)
	if len(v.win) > DOMLimit {
		v.win = v.win[:DOMLimit]
		v.present = false
	}
	return v.assignWindow(ctx, s)
}

// prepend inserts ms (oldest first) at the top, newest first so that they
// end up in order, keeping the first DOMLimit messages.
func (v *roomView) prepend(ms []Message) {
	for i := len(ms) - 1; i >= 0; i-- {
		v.messages.Insert(v.item(ms[i]), stream.At(0), stream.Limit(DOMLimit))
	}
}

// appendPage inserts ms (oldest first) at the bottom, keeping the last
// DOMLimit messages.
func (v *roomView) appendPage(ms []Message) {
	for _, m := range ms {
		v.messages.Insert(v.item(m), stream.At(-1), stream.Limit(-DOMLimit))
	}
}

// loadNewer answers phx-viewport-bottom, bound while the window does not
// reach the present: the next page after the last message in the page, by
// id, so messages that arrived meanwhile come in order, once each. The
// oldest messages leave from the top. A late event naming the message
// that was last before the previous page repairs it, as in loadOlder.
func (v *roomView) loadNewer(ctx context.Context, s *live.Socket, e live.Event) error {
	id := e.String("id")
	switch {
	case v.afterLast != 0 && id == domID(v.afterLast):
		ms, err := v.app.store.After(ctx, v.room.ID, v.afterLast, PageSize)
		if err != nil {
			return err
		}
		ms = slices.DeleteFunc(ms, func(m Message) bool { return !slices.Contains(v.win, m.ID) })
		for _, m := range ms {
			v.messages.DeleteID(domID(m.ID))
		}
		v.appendPage(ms)
		return nil
	case v.present || len(v.win) == 0 || id != domID(v.win[len(v.win)-1]):
		return nil // stale, or nothing to load
	}
	last := v.win[len(v.win)-1]
	ms, err := v.app.store.After(ctx, v.room.ID, last, PageSize)
	if err != nil {
		return err
	}
	v.appendPage(ms)
	v.afterLast, v.beforeFirst = last, 0
	for _, m := range ms {
		v.win = append(v.win, m.ID)
	}
	if len(v.win) > DOMLimit {
		v.win = slices.Clone(v.win[len(v.win)-DOMLimit:])
	}
	more, err := v.app.store.HasAfter(ctx, v.room.ID, v.win[len(v.win)-1])
	if err != nil {
		return err
	}
	v.present = !more
	if v.present && v.pinned {
		v.unread = 0
	}
	return v.assignWindow(ctx, s)
}

// mine returns the message an event names, if the viewer sent it.
func (v *roomView) mine(ctx context.Context, e live.Event) (Message, error) {
	id, _ := strconv.ParseInt(e.String("id"), 10, 64)
	m, err := v.app.store.Message(ctx, id)
	if err != nil {
		return m, err
	}
	if v.user == "" || m.Sender != v.user || m.RoomID != v.room.ID {
		return m, ErrNotYours
	}
	return m, nil
}

func (v *roomView) broadcast(ctx context.Context, event string, m Message) error {
	return channel.Broadcast(ctx, v.app.cfg.PubSub, Topic(m.RoomID), event, m)
}

// HandleInfo applies the room's changes: each one travels to the page as
// the one message it is about.
func (v *roomView) HandleInfo(s *live.Socket, msg any) error {
	if _, ok := msg.(badgeMsg); ok {
		v.badgesDue = false
		ctx, cancel := v.ctx()
		defer cancel()
		return v.refreshBadges(ctx, s)
	}
	pm, ok := msg.(*pubsub.Message)
	if !ok {
		return nil
	}
	if pm.Topic != Topic(v.room.ID) {
		v.scheduleBadges(s) // another room's news, or a read in another tab
		return nil
	}
	raw, err := channel.BroadcastPayload(pm)
	if err != nil {
		return err
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	switch pm.Event {
	case "new":
		if slices.Contains(v.win, m.ID) {
			return nil
		}
		// Appended while the window is at the present and either the
		// reader is at the bottom or the page has room (nothing leaves
		// the top under a reader who scrolled up); otherwise it waits
		// for the scroll down (phx-viewport-bottom) or the jump.
		if v.present && (v.pinned || len(v.win) < DOMLimit) {
			v.messages.Insert(v.item(m), stream.Limit(-DOMLimit))
			v.win = append(v.win, m.ID)
			if len(v.win) > DOMLimit {
				v.win = slices.Clone(v.win[len(v.win)-DOMLimit:])
				s.Assign("hasOlder", true)
			}
		} else {
			v.present = false
			s.Assign("present", false)
		}
		if !v.pinned || !v.present {
			v.unread++
			s.Assign("unread", v.unread)
		}
		if v.user != "" {
			ctx, cancel := v.ctx()
			defer cancel()
			return v.markRead(ctx, m.ID)
		}
	case "updated":
		// Only where the page still holds it.
		if slices.Contains(v.win, m.ID) {
			v.messages.Insert(v.item(m), stream.UpdateOnly())
		}
	case "deleted":
		if i := slices.Index(v.win, m.ID); i >= 0 {
			v.win = slices.Delete(v.win, i, i+1)
			v.messages.DeleteID(domID(m.ID))
		}
	}
	return nil
}

// maxBody bounds a message's length, in characters.
const maxBody = 500

// bodyError validates a message's text: "" when it may be sent.
func bodyError(body string) string {
	body = strings.TrimSpace(body)
	switch {
	case body == "":
		return "A message can't be empty."
	case utf8.RuneCountInString(body) > maxBody:
		return fmt.Sprintf("A message is at most %d characters (this one has %d).", maxBody, utf8.RuneCountInString(body))
	}
	return ""
}

// maxDraft bounds the draft text kept for form recovery, in bytes.
const maxDraft = 4000
