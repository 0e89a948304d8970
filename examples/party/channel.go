package party

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
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
		// A room whose driver is gone (a restart, a crash of their node)
		// gets the joiner as its driver.
		if _, here := r.app.tracker.List(c.Topic())[st.driver]; !here && st.driver != r.user {
			if err := r.app.setDriver(c.Context(), roomName(c.Topic()), r.user); err != nil {
				return nil, err
			}
			st.driver = r.user
			if err := c.Broadcast("driver", map[string]string{"driver": r.user}); err != nil {
				return nil, err
			}
		}
	}
	return map[string]any{"card": st.card, "driver": st.driver, "closed": st.card != nil && r.app.roundClosed(roomName(c.Topic()), st.card.ID)}, nil
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
	// Card, if set, is the card the vote is for: it must be the current one.
	Card *int `json:"card"`
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
		r.app.openRound(roomName(c.Topic()))
		if card == nil {
			return channel.Ok(nil), c.Broadcast("cards_done", map[string]any{})
		}
		return channel.Ok(nil), c.Broadcast("new_card", map[string]any{"card": card, "driver": r.user})
	case "user_estimated":
		var p pointsPayload
		if err := m.Decode(&p); err != nil || !p.valid() {
			return channel.ErrorReply(map[string]string{"reason": "points must be a number from 0 to 100"}), nil
		}
		st, err := r.app.state(ctx, roomName(c.Topic()))
		if err != nil {
			return nil, err
		}
		// Before the first card, a vote only shows in presence (card 0,
		// never tallied).
		current := 0
		if st.card != nil {
			current = st.card.ID
		}
		switch {
		case p.Card != nil && *p.Card != current:
			return channel.ErrorReply(map[string]string{"reason": fmt.Sprintf("card %d is not being estimated (card %d is)", *p.Card, current)}), nil
		case current != 0 && r.app.roundClosed(roomName(c.Topic()), current):
			return channel.ErrorReply(map[string]string{"reason": "the round is closed: wait for the next card"}), nil
		}
		r.card = current
		if _, err := r.app.tracker.Update(c.ID(), c.Topic(), r.user, map[string]any{"points": *p.Points, "card": r.card}); err != nil {
			return nil, err
		}
		r.voted = true
		return channel.Ok(nil), r.app.tally(ctx, c.PubSub(), c.Topic(), r.card)
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
		r.app.openRound(roomName(c.Topic()))
		if card == nil {
			return channel.Ok(nil), c.Broadcast("cards_done", map[string]any{})
		}
		return channel.Ok(nil), c.Broadcast("new_card", map[string]any{"card": card, "driver": r.user})
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown event " + m.Event}), nil
}

// tally closes the round and broadcasts its result once every present
// user has voted on card; it does nothing otherwise, or when the round is
// already closed.
func (a *App) tally(ctx context.Context, ps *pubsub.PubSub, topic string, card int) error {
	present := a.tracker.List(topic)
	if card == 0 || len(present) == 0 {
		return nil
	}
	votes := map[string]int{}
	var all []int
	for user, p := range present {
		v, ok := voteOn(p, card)
		if !ok {
			return nil
		}
		votes[user] = v
		all = append(all, v)
	}
	if !a.closeRound(roomName(topic), card) {
		return nil
	}
	winner, tie := Tally(all)
	if tie != nil {
		return channel.Broadcast(ctx, ps, topic, "tie", map[string]any{"points": tie, "votes": votes})
	}
	return channel.Broadcast(ctx, ps, topic, "winner", map[string]any{"points": winner, "votes": votes})
}

// voteOn returns the points of a user's vote on card (in any of their
// tabs' metas).
func voteOn(p presence.Presence, card int) (int, bool) {
	for _, meta := range p.Metas {
		var v struct {
			Points *int `json:"points"`
			Card   int  `json:"card"`
		}
		if err := meta.Decode(&v); err == nil && v.Points != nil && v.Card == card {
			return *v.Points, true
		}
	}
	return 0, false
}

// Terminate runs when the user's channel ends, however it ends. Once the
// user has no tab left in the room, a driver hands the role to the first
// remaining user by name, and the round is tallied if the remaining users
// have all voted (the one who left no longer holds it up).
func (r *room) Terminate(c *channel.Context, _ error) {
	if r.user == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.app.tracker.UntrackAll(c.ID()); err != nil {
		return // the tracker is closing: the server is shutting down
	}
	present := r.app.tracker.List(c.Topic())
	if _, still := present[r.user]; still {
		return // another tab of the same user
	}
	name := roomName(c.Topic())
	st, err := r.app.state(ctx, name)
	if err != nil {
		r.app.log.Error("party: room state on leave", "room", name, "err", err)
		return
	}
	if st.driver == r.user && len(present) > 0 {
		users := make([]string, 0, len(present))
		for u := range present {
			users = append(users, u)
		}
		slices.Sort(users)
		if err := r.app.setDriver(ctx, name, users[0]); err != nil {
			r.app.log.Error("party: hand on the driver role", "room", name, "err", err)
			return
		}
		if err := channel.Broadcast(ctx, c.PubSub(), c.Topic(), "driver", map[string]string{"driver": users[0]}); err != nil {
			r.app.log.Error("party: broadcast the driver", "room", name, "err", err)
		}
	}
	if st.card != nil {
		if err := r.app.tally(ctx, c.PubSub(), c.Topic(), st.card.ID); err != nil {
			r.app.log.Error("party: tally on leave", "room", name, "err", err)
		}
	}
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
