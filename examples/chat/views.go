package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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

// roomView is /chat/rooms/{id}. It keeps no messages: only the id of the
// oldest one loaded, to page back from.
type roomView struct {
	app      *App
	room     Room
	user     string
	messages *stream.Stream[item]
	oldest   int64
	// before is the oldest message before the last scroll-back page was
	// sent: a viewport event that still names it was sent before the page
	// reached the browser (see loadMore).
	before int64
	sent   int
}

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
	v.user = strings.TrimSpace(params.Get("user"))
	v.messages = stream.New("messages", DOMID)
	s.Assign("rooms", rooms)
	s.Assign("roomID", v.room.ID)
	s.Assign("roomName", v.room.Name)
	s.Assign("user", v.user)
	s.Assign("messages", v.messages)
	s.Assign("sent", 0)
	s.Assign("draft", "")
	s.Assign("bodyError", "")
	s.Assign("error", "")
	s.SetTitle("#" + v.room.Name)
	if err := s.Subscribe(Topic(v.room.ID)); err != nil {
		return err
	}
	// Every mount, a rejoin too, starts from an empty page.
	return v.loadLatest(ctx, s)
}

// loadLatest shows the last page of the room.
func (v *roomView) loadLatest(ctx context.Context, s *live.Socket) error {
	ms, err := v.app.store.Before(ctx, v.room.ID, 0, PageSize)
	if err != nil {
		return err
	}
	for _, m := range ms {
		v.messages.Insert(v.item(m), stream.Limit(-DOMLimit))
	}
	v.oldest, v.before = 0, 0
	if len(ms) > 0 {
		v.oldest = ms[0].ID
	}
	return v.setHasMore(ctx, s, len(ms) == PageSize)
}

func (v *roomView) setHasMore(ctx context.Context, s *live.Socket, full bool) error {
	more := false
	if full {
		var err error
		if more, err = v.app.store.HasBefore(ctx, v.room.ID, v.oldest); err != nil {
			return err
		}
	}
	s.Assign("hasMore", more)
	return nil
}

func (v *roomView) item(m Message) item {
	return item{Message: m, Mine: v.user != "" && m.Sender == v.user}
}

func (v *roomView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(roomTmpl) }

func (v *roomView) HandleParams(s *live.Socket, params url.Values, _ *url.URL) error {
	if u := strings.TrimSpace(params.Get("user")); u != v.user {
		return v.setUser(s, u)
	}
	return nil
}

// setUser changes who the viewer is, and redraws the page for them (the
// edit buttons follow the sender).
func (v *roomView) setUser(s *live.Socket, user string) error {
	v.user = user
	s.Assign("user", user)
	v.messages.Reset()
	ctx, cancel := v.ctx()
	defer cancel()
	return v.loadLatest(ctx, s)
}

func (v *roomView) HandleEvent(s *live.Socket, e live.Event) error {
	ctx, cancel := v.ctx()
	defer cancel()
	s.Assign("error", "")
	switch e.Name {
	case "set_name":
		u := strings.TrimSpace(e.String("user"))
		if u == "" {
			return nil
		}
		if err := v.setUser(s, u); err != nil {
			return err
		}
		s.PushPatch("/chat/rooms/"+itoa(v.room.ID)+"?user="+url.QueryEscape(u), true)
	case "send":
		if v.user == "" {
			return nil
		}
		// a submit counts every field as touched: its errors show
		if msg := bodyError(e.String("body")); msg != "" {
			s.Assign("bodyError", msg)
			return nil
		}
		m, err := v.app.store.Create(ctx, v.room.ID, v.user, strings.TrimSpace(e.String("body")))
		if errors.Is(err, ErrEmpty) {
			return nil
		}
		if err != nil {
			return err
		}
		v.sent++
		s.Assign("sent", v.sent) // a new form: the input starts empty
		s.Assign("draft", "")
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
			s.Assign("error", "That message cannot be changed.")
			return nil
		}
		return v.broadcast(ctx, "updated", m)
	case "delete":
		id, _ := strconv.ParseInt(e.String("id"), 10, 64)
		m, err := v.app.store.Delete(ctx, id, v.user)
		if err != nil {
			s.Assign("error", "That message cannot be deleted.")
			return nil
		}
		return v.broadcast(ctx, "deleted", m)
	case "load_more":
		return v.loadMore(ctx, s, e)
	}
	return nil
}

// loadMore answers phx-viewport-top. The page of older messages travels
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
func (v *roomView) loadMore(ctx context.Context, s *live.Socket, e live.Event) error {
	id := e.String("id")
	switch {
	case v.before != 0 && id == DOMID(item{Message: Message{ID: v.before}}):
		return v.repair(ctx)
	case v.oldest == 0 || id != DOMID(item{Message: Message{ID: v.oldest}}):
		return nil // stale, or nothing loaded
	case e.Params["_overran"] == true:
		return nil // the {id} event of the same scroll follows
	}
	ms, err := v.app.store.Before(ctx, v.room.ID, v.oldest, PageSize)
	if err != nil {
		return err
	}
	v.prepend(ms)
	if len(ms) > 0 {
		v.before, v.oldest = v.oldest, ms[0].ID
	}
	return v.setHasMore(ctx, s, len(ms) == PageSize)
}

// prepend inserts ms (oldest first) at the top, newest first so that they
// end up in order, keeping the first DOMLimit messages.
func (v *roomView) prepend(ms []Message) {
	for i := len(ms) - 1; i >= 0; i-- {
		v.messages.Insert(v.item(ms[i]), stream.At(0), stream.Limit(DOMLimit))
	}
}

// repair sends the last scroll-back page again: deleted, then inserted at
// 0, so the client moves it back to the top, in order, and applies the
// limit again.
func (v *roomView) repair(ctx context.Context) error {
	ms, err := v.app.store.Before(ctx, v.room.ID, v.before, PageSize)
	if err != nil {
		return err
	}
	for _, m := range ms {
		v.messages.DeleteID(DOMID(v.item(m)))
	}
	v.prepend(ms)
	return nil
}

// mine returns the message an event names, if the viewer sent it.
func (v *roomView) mine(ctx context.Context, e live.Event) (Message, error) {
	id, _ := strconv.ParseInt(e.String("id"), 10, 64)
	m, err := v.app.store.Message(ctx, id)
	if err != nil {
		return m, err
	}
	if m.Sender != v.user || m.RoomID != v.room.ID {
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
	pm, ok := msg.(*pubsub.Message)
	if !ok {
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
		v.messages.Insert(v.item(m), stream.Limit(-DOMLimit))
		if v.oldest == 0 {
			v.oldest = m.ID
		}
	case "updated":
		// Only where the page still holds it: the limits may have dropped it.
		v.messages.Insert(v.item(m), stream.UpdateOnly())
	case "deleted":
		v.messages.DeleteID(DOMID(item{Message: m}))
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
