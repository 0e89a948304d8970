package party

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/parley-go/parley/channel"
)

// room is one user's channel in one room.
type room struct {
	app  *App
	user string
	// card is the card being estimated as this channel last saw it; a
	// vote carries it, so a vote left over from the previous card (not yet
	// cleared by that user's own channel) is never tallied with new ones.
	card int
	// voted is whether this channel's meta holds a vote to clear.
	voted bool
}

type afterJoin struct{}

// Join tracks the user in the room's presence and replies with the room's
// current card and driver.
func (r *room) Join(c *channel.Context, _ json.RawMessage) (any, error) {
	r.user = strings.TrimSpace(c.Assign("username"))
	if r.user == "" {
		return nil, channel.Refuse(map[string]string{"reason": "username required"})
	}
	if _, err := r.app.tracker.TrackChannel(c, r.user, map[string]any{"points": nil}); err != nil {
		return nil, err
	}
	// presence_state after the join reply, once the channel is subscribed
	// (so no diff can fall between the state and the subscription).
	c.Send(afterJoin{})
	st, err := r.app.state(c.Context(), roomName(c.Topic()))
	if err != nil {
		return nil, err
	}
	if st.card != nil {
		r.card = st.card.ID
	}
	return map[string]any{"card": st.card, "driver": st.driver}, nil
}

// HandleInfo pushes the presence state after the join.
func (r *room) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterJoin); ok {
		return r.app.tracker.PushState(c)
	}
	return nil
}

type pointsPayload struct {
	Points *int `json:"points"`
}

func (p pointsPayload) valid() bool { return p.Points != nil && *p.Points >= 0 && *p.Points <= 100 }

// HandleIn handles the room's events.
func (r *room) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	ctx := c.Context()
	switch m.Event {
	case "start_pointing":
		card, err := r.app.start(ctx, roomName(c.Topic()), r.user)
		if err != nil {
			return nil, err
		}
		if card == nil {
			return channel.Ok(nil), c.Broadcast("cards_done", map[string]any{})
		}
		return channel.Ok(nil), c.Broadcast("new_card", map[string]any{"card": card, "driver": r.user})
	case "user_estimated":
		var p pointsPayload
		if err := m.Decode(&p); err != nil || !p.valid() {
			return channel.ErrorReply(map[string]string{"reason": "points must be a number from 0 to 100"}), nil
		}
		if _, err := r.app.tracker.Update(c.ID(), c.Topic(), r.user, map[string]any{"points": *p.Points, "card": r.card}); err != nil {
			return nil, err
		}
		r.voted = true
		return channel.Ok(nil), r.maybeTally(c)
	case "next_card":
		var p pointsPayload
		if err := m.Decode(&p); err != nil || !p.valid() {
			return channel.ErrorReply(map[string]string{"reason": "points must be a number from 0 to 100"}), nil
		}
		card, err := r.app.next(ctx, roomName(c.Topic()), r.user, *p.Points)
		if errors.Is(err, errNotDriver) {
			return channel.ErrorReply(map[string]string{"reason": "only the driver can deal the next card"}), nil
		}
		if err != nil {
			return nil, err
		}
		if card == nil {
			return channel.Ok(nil), c.Broadcast("cards_done", map[string]any{})
		}
		return channel.Ok(nil), c.Broadcast("new_card", map[string]any{"card": card, "driver": r.user})
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown event " + m.Event}), nil
}

// maybeTally broadcasts the result once every present user has voted on
// the current card.
func (r *room) maybeTally(c *channel.Context) error {
	var votes []int
	for _, p := range r.app.tracker.List(c.Topic()) {
		voted := false
		for _, meta := range p.Metas {
			var v struct {
				Points *int `json:"points"`
				Card   int  `json:"card"`
			}
			if err := meta.Decode(&v); err == nil && v.Points != nil && v.Card == r.card {
				votes = append(votes, *v.Points)
				voted = true
				break
			}
		}
		if !voted {
			return nil
		}
	}
	winner, tie := Tally(votes)
	if tie != nil {
		return c.Broadcast("tie", map[string]any{"points": tie})
	}
	return c.Broadcast("winner", map[string]any{"points": winner})
}

// Intercepts: every channel sees "new_card" before its client.
func (r *room) Intercepts() []string { return []string{"new_card"} }

// HandleOut notes the new card and clears this user's vote (if any), then
// passes the card on.
func (r *room) HandleOut(c *channel.Context, event string, payload json.RawMessage) error {
	var nc struct {
		Card Card `json:"card"`
	}
	if err := json.Unmarshal(payload, &nc); err != nil {
		return err
	}
	r.card = nc.Card.ID
	if r.voted {
		if _, err := r.app.tracker.Update(c.ID(), c.Topic(), r.user, map[string]any{"points": nil}); err != nil {
			return err
		}
		r.voted = false
	}
	return c.Push(event, payload)
}
