package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// phxReplyEvent is the event name of a Phoenix reply, looked for before a
// frame is parsed: a frame without it is no reply, whatever its shape.
var phxReplyEvent = []byte(`"phx_reply"`)

// joinReply reports whether data, a Phoenix V2 JSON frame
// [join_ref, ref, topic, event, payload], is the reply to the join sent
// with joinRef and ref, and returns an error if that reply refuses the
// join. The frame is parsed, not matched: JSON key order and whitespace are
// not part of the protocol (Phoenix writes {"response":…,"status":"ok"},
// Parley {"status":"ok","response":…}). Frames without "phx_reply" in them,
// the diffs and broadcasts that make up the load, cost one bytes.Contains.
func joinReply(data []byte, joinRef, ref string) (bool, error) {
	if !bytes.Contains(data, phxReplyEvent) {
		return false, nil
	}
	var frame []json.RawMessage
	if err := json.Unmarshal(data, &frame); err != nil || len(frame) != 5 {
		return false, nil
	}
	var jr, r, event *string
	if json.Unmarshal(frame[0], &jr) != nil || json.Unmarshal(frame[1], &r) != nil ||
		json.Unmarshal(frame[3], &event) != nil {
		return false, nil
	}
	if jr == nil || r == nil || event == nil || *jr != joinRef || *r != ref || *event != "phx_reply" {
		return false, nil
	}
	var payload struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(frame[4], &payload); err != nil {
		return false, fmt.Errorf("join reply: bad payload: %w: %.300s", err, data)
	}
	if payload.Status != "ok" {
		return false, fmt.Errorf("join refused (status %q): %.300s", payload.Status, data)
	}
	return true, nil
}
