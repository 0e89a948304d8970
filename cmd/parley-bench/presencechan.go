package main

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/presence"
)

// presenceChannel serves "presence:*" for the presence churn scenario:
// each join tracks the "user" of its join payload in the topic's presence
// and, once subscribed, pushes presence_state, as a Phoenix app does with
// Phoenix.Presence.
type presenceChannel struct{ tracker *presence.Tracker }

type presenceJoin struct {
	User string `json:"user"`
}

type afterPresenceJoin struct{}

func (p presenceChannel) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	var j presenceJoin
	if err := json.Unmarshal(payload, &j); err != nil || j.User == "" {
		return nil, channel.Refuse(map[string]string{"reason": "user required"})
	}
	if _, err := p.tracker.TrackChannel(c, j.User, map[string]any{"at": time.Now().UnixMilli()}); err != nil {
		return nil, err
	}
	c.Send(afterPresenceJoin{})
	return nil, nil
}

func (p presenceChannel) HandleIn(*channel.Context, channel.Message) (*channel.Reply, error) {
	return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
}

// HandleInfo pushes the presence state once the channel is subscribed.
func (p presenceChannel) HandleInfo(c *channel.Context, msg any) error {
	if _, ok := msg.(afterPresenceJoin); ok {
		return p.tracker.PushState(c)
	}
	return errors.New("presence channel: unexpected message")
}
