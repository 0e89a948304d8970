package channel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-go/parley/wire"
)

// Channel is implemented by application channels. A new value serves each
// join of a topic on a connection; its methods are never called
// concurrently. It may also implement [InfoHandler], [Interceptor] and
// [Terminator].
type Channel interface {
	// Join accepts or refuses a join. The returned reply (may be nil) is
	// the join reply's response. Return [Refuse] to refuse with a
	// response; any other error refuses with {"reason":"join crashed"}.
	Join(c *Context, payload json.RawMessage) (reply any, err error)
	// HandleIn handles an event pushed by the client. A nil *Reply sends
	// no reply (the client may be answered later with [Context.Reply]).
	// Return [Stop] to close the channel normally (phx_close); any other
	// error crashes it (phx_error).
	HandleIn(c *Context, m Message) (*Reply, error)
}

// InfoHandler receives messages sent with [Context.Send], timers from
// [Context.SendAfter], and pubsub messages of topics subscribed with
// [Context.Subscribe] (as *pubsub.Message).
type InfoHandler interface {
	HandleInfo(c *Context, msg any) error
}

// Interceptor sees the broadcasts of the listed events before they reach
// the client; HandleOut may Push a changed payload, or nothing.
type Interceptor interface {
	Intercepts() []string
	HandleOut(c *Context, event string, payload json.RawMessage) error
}

// Terminator is told why a channel ended: [ErrLeft], [ErrClosed],
// [ErrDuplicateJoin], a *[StopError], or the handler's error.
type Terminator interface {
	Terminate(c *Context, reason error)
}

// Reasons a channel ends.
var (
	ErrLeft          = errors.New("channel: left")
	ErrClosed        = errors.New("channel: connection closed")
	ErrDuplicateJoin = errors.New("channel: replaced by a duplicate join")
	ErrNotJoined     = errors.New("channel: not joined")
	ErrOverflow      = errors.New("channel: mailbox overflow")
)

// StopError stops a channel normally: the client gets phx_close.
type StopError struct{ Reason string }

func (e *StopError) Error() string { return "channel: stop: " + e.Reason }

// Stop returns a *StopError.
func Stop(reason string) error { return &StopError{Reason: reason} }

// JoinError refuses a join with Response as the error reply.
type JoinError struct{ Response any }

func (e *JoinError) Error() string { return fmt.Sprintf("channel: join refused: %v", e.Response) }

// Refuse returns a *JoinError.
func Refuse(response any) error { return &JoinError{Response: response} }

// PanicError is the reason of a channel whose handler panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("channel: handler panicked: %v", e.Value) }

// Binary is a payload sent as a binary frame.
type Binary []byte

// Reply is the answer to a pushed event.
type Reply struct {
	Status   string
	Response any
}

// Ok returns an "ok" reply.
func Ok(response any) *Reply { return &Reply{Status: "ok", Response: response} }

// ErrorReply returns an "error" reply.
func ErrorReply(response any) *Reply { return &Reply{Status: "error", Response: response} }

// Message is an event pushed by the client.
type Message struct {
	Event string
	// Payload is the JSON payload of a text frame.
	Payload json.RawMessage
	// Binary is the payload of a binary frame (then Payload is nil).
	Binary []byte
	ref    ReplyRef
}

// Decode unmarshals the JSON payload into v.
func (m Message) Decode(v any) error {
	if m.Payload == nil {
		return fmt.Errorf("channel: %q has a binary payload", m.Event)
	}
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return fmt.Errorf("channel: decode %q payload: %w", m.Event, err)
	}
	return nil
}

// Ref returns the reference to answer this message later with
// [Context.Reply].
func (m Message) Ref() ReplyRef { return m.ref }

// ReplyRef identifies a pushed message for a later reply.
type ReplyRef struct {
	joinRef wire.Ref
	ref     wire.Ref
}

// encodePayload turns a payload into frame bytes: Binary as is,
// json.RawMessage as is, nil as {}, anything else through encoding/json
// without HTML escaping.
func encodePayload(v any) (data []byte, binary bool, err error) {
	switch p := v.(type) {
	case nil:
		return []byte("{}"), false, nil
	case Binary:
		return p, true, nil
	case json.RawMessage:
		if len(p) == 0 {
			return []byte("{}"), false, nil
		}
		return p, false, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false, fmt.Errorf("channel: encode payload: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), false, nil
}
