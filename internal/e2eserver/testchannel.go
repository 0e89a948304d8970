package main

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/parley-go/parley/channel"
)

// testChannel implements the "test:*" contract of the end-to-end tests.
type testChannel struct {
	userID string
}

type eventPayload struct {
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

func (t *testChannel) Join(c *channel.Context, payload json.RawMessage) (any, error) {
	var p struct {
		Refuse bool `json:"refuse"`
		Crash  bool `json:"crash"`
	}
	_ = json.Unmarshal(payload, &p)
	if p.Refuse {
		return nil, channel.Refuse(map[string]string{"reason": "refused"})
	}
	if p.Crash {
		panic("join crash requested")
	}
	t.userID = c.Assign("user_id")
	return map[string]any{
		"topic": c.Topic(), "user_id": t.userID, "auth_token": c.Assign("auth_token"), "params": payload,
	}, nil
}

func (t *testChannel) HandleIn(c *channel.Context, m channel.Message) (*channel.Reply, error) {
	switch m.Event {
	case "echo":
		return channel.Ok(m.Payload), nil
	case "error":
		return channel.ErrorReply(map[string]string{"reason": "requested"}), nil
	case "noreply":
		return nil, nil
	case "async_reply":
		var p struct {
			Value any `json:"value"`
		}
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		ref := m.Ref()
		c.SendAfter(50*time.Millisecond, asyncReply{ref: ref, value: p.Value})
		return nil, nil
	case "broadcast", "broadcast_from", "push":
		var p eventPayload
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		var err error
		switch m.Event {
		case "broadcast":
			err = c.Broadcast(p.Event, p.Payload)
		case "broadcast_from":
			err = c.BroadcastFrom(p.Event, p.Payload)
		default:
			err = c.Push(p.Event, p.Payload)
		}
		if err != nil {
			return nil, err
		}
		return channel.Ok(nil), nil
	case "kick":
		var p struct {
			UserID string `json:"user_id"`
		}
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		if err := channel.Broadcast(c.Context(), c.PubSub(), "users_socket:"+p.UserID, "disconnect", nil); err != nil {
			return nil, err
		}
		return channel.Ok(nil), nil
	case "stop":
		return channel.Ok(nil), channel.Stop("requested")
	case "crash":
		panic("crash requested")
	case "binary_echo":
		return channel.Ok(channel.Binary(slices.Clone(m.Binary))), nil
	case "info":
		var p struct {
			N int `json:"n"`
		}
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		for i := range min(p.N, 1000) {
			c.Send(infoMsg(i))
		}
		return channel.Ok(nil), nil
	case "slow":
		var p struct {
			MS int `json:"ms"`
		}
		if err := m.Decode(&p); err != nil {
			return nil, err
		}
		select {
		case <-time.After(time.Duration(min(p.MS, 10000)) * time.Millisecond):
		case <-c.Context().Done():
		}
		return channel.Ok(nil), nil
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown event " + m.Event}), nil
}

type asyncReply struct {
	ref   channel.ReplyRef
	value any
}

type infoMsg int

func (t *testChannel) HandleInfo(c *channel.Context, msg any) error {
	switch v := msg.(type) {
	case asyncReply:
		return c.Reply(v.ref, channel.Ok(map[string]any{"value": v.value}))
	case infoMsg:
		return c.Push("info", map[string]int{"i": int(v)})
	}
	return nil
}

func (t *testChannel) Intercepts() []string { return []string{"filtered"} }

func (t *testChannel) HandleOut(c *channel.Context, event string, payload json.RawMessage) error {
	var p struct {
		Body string `json:"body"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	if p.Body == "drop" {
		return nil
	}
	return c.Push(event, map[string]string{"body": strings.ToUpper(p.Body), "intercepted_by": t.userID})
}
