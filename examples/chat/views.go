package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	loading  bool // a loadOlder is queued
	sent     int
}

func (v *roomView) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func (v *roomView) Mount(s *live.Socket, params url.Values) error {
	ctx, cancel := v.ctx()
	defer cancel()
	id, err := strconv.ParseInt(params.Get("id"), 10, 64)
	if err != nil {
		return ErrNotFound
	}
	if v.room, err = v.app.store.Room(ctx, id); err != nil {
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
	v.oldest = 0
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
		m, err := v.app.store.Create(ctx, v.room.ID, v.user, strings.TrimSpace(e.String("body")))
		if errors.Is(err, ErrEmpty) {
			return nil
		}
		if err != nil {
			return err
		}
		v.sent++
		s.Assign("sent", v.sent) // a new form: the input starts empty
		return v.broadcast(ctx, "new", m)
	case "edit", "cancel_edit":
		m, err := v.mine(ctx, e)
		if err != nil {
			return nil
		}
		it := v.item(m)
		it.Editing = e.Name == "edit"
		v.messages.Insert(it, stream.UpdateOnly())
	case "save":
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
		// phx-viewport-top: the first message reached the top (or the page
		// overran it, "_overran"). The client locks the container until
		// this reply, and a stream patched while locked goes to a clone
		// that loses its order and limits when merged back: so reply
		// empty, and send the page as a push right after.
		// The hook may send two events for one scroll (first child at
		// the top, and the overrun): load once per oldest message shown.
		// Send queues the load after the events already received, so its
		// push reaches the page after their replies unlocked it.
		if v.loading || e.String("id") != "messages-"+itoa(v.oldest) {
			return nil
		}
		v.loading = true
		s.Send(loadOlder{})
	}
	return nil
}

// loadOlder asks the view for the page before the oldest message shown.
type loadOlder struct{}

// older prepends the page before the oldest message loaded, newest first
// so that it ends up in order, keeping the first DOMLimit.
func (v *roomView) older(ctx context.Context, s *live.Socket) error {
	v.loading = false
	if v.oldest == 0 {
		return nil
	}
	ms, err := v.app.store.Before(ctx, v.room.ID, v.oldest, PageSize)
	if err != nil {
		return err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		v.messages.Insert(v.item(ms[i]), stream.At(0), stream.Limit(DOMLimit))
	}
	if len(ms) > 0 {
		v.oldest = ms[0].ID
	}
	return v.setHasMore(ctx, s, len(ms) == PageSize)
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
	if _, ok := msg.(loadOlder); ok {
		ctx, cancel := v.ctx()
		defer cancel()
		return v.older(ctx, s)
	}
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
