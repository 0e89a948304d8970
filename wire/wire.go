package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/parley-go/parley/internal/jsonstr"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("wire: malformed frame")

// Reserved event names of the protocol.
const (
	EventJoin      = "phx_join"
	EventLeave     = "phx_leave"
	EventReply     = "phx_reply"
	EventError     = "phx_error"
	EventClose     = "phx_close"
	EventHeartbeat = "heartbeat"
	// TopicPhoenix is the topic of heartbeats.
	TopicPhoenix = "phoenix"
)

// Binary frame kinds (the first byte of a binary frame).
const (
	KindPush      byte = 0
	KindReply     byte = 1
	KindBroadcast byte = 2
)

// Ref is a message reference: a string or null. The zero value is null.
type Ref struct {
	Value string
	Valid bool
}

// StringRef returns a non-null Ref.
func StringRef(s string) Ref { return Ref{Value: s, Valid: true} }

// String returns the value, or "null" for a null Ref.
func (r Ref) String() string {
	if !r.Valid {
		return "null"
	}
	return r.Value
}

// Message is one decoded client frame.
type Message struct {
	JoinRef Ref
	Ref     Ref
	Topic   string
	Event   string
	// Payload is the JSON text of the payload of a text frame, or the raw
	// bytes of the payload of a binary frame (then Binary is true).
	Payload []byte
	Binary  bool
}

// Frame is one encoded frame ready for a transport: JSON text or binary.
// Its Data is never modified once built, so one Frame may be written to many
// connections.
type Frame struct {
	Data   []byte
	Binary bool
}

// Decode decodes a client frame received as text or binary.
func Decode(data []byte, binary bool) (Message, error) {
	if binary {
		return DecodeBinary(data)
	}
	return DecodeText(data)
}

// DecodeText decodes a V2 JSON text frame. Elements after the fifth are
// ignored, as Phoenix does.
func DecodeText(data []byte) (Message, error) {
	var m Message
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return m, fmt.Errorf("%w: not a JSON array: %v", ErrMalformed, err)
	}
	if len(parts) < 5 {
		return m, fmt.Errorf("%w: %d elements, want 5", ErrMalformed, len(parts))
	}
	var err error
	if m.JoinRef, err = decodeRef(parts[0]); err != nil {
		return m, fmt.Errorf("%w: join_ref: %v", ErrMalformed, err)
	}
	if m.Ref, err = decodeRef(parts[1]); err != nil {
		return m, fmt.Errorf("%w: ref: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(parts[2], &m.Topic); err != nil {
		return m, fmt.Errorf("%w: topic is not a string", ErrMalformed)
	}
	if err := json.Unmarshal(parts[3], &m.Event); err != nil {
		return m, fmt.Errorf("%w: event is not a string", ErrMalformed)
	}
	if m.Topic == "" || m.Event == "" {
		return m, fmt.Errorf("%w: empty topic or event", ErrMalformed)
	}
	m.Payload = parts[4]
	return m, nil
}

func decodeRef(raw json.RawMessage) (Ref, error) {
	if string(raw) == "null" {
		return Ref{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return Ref{}, errors.New("not a string or null")
	}
	return StringRef(s), nil
}

// DecodeBinary decodes a client binary push: kind 0, then the lengths of
// join_ref, ref, topic and event (one byte each), those fields, then the raw
// payload.
func DecodeBinary(data []byte) (Message, error) {
	var m Message
	if len(data) < 5 {
		return m, fmt.Errorf("%w: binary frame of %d bytes", ErrMalformed, len(data))
	}
	if data[0] != KindPush {
		return m, fmt.Errorf("%w: binary kind %d from a client", ErrMalformed, data[0])
	}
	fields := [4]string{}
	off := 5
	for i := range fields {
		n := int(data[1+i])
		if off+n > len(data) {
			return m, fmt.Errorf("%w: binary field %d overruns the frame", ErrMalformed, i)
		}
		if !utf8.Valid(data[off : off+n]) {
			return m, fmt.Errorf("%w: binary field %d is not UTF-8", ErrMalformed, i)
		}
		fields[i] = string(data[off : off+n])
		off += n
	}
	// The client always sends refs in binary frames; an empty one stands
	// for null.
	if fields[0] != "" {
		m.JoinRef = StringRef(fields[0])
	}
	if fields[1] != "" {
		m.Ref = StringRef(fields[1])
	}
	m.Topic, m.Event = fields[2], fields[3]
	if m.Topic == "" || m.Event == "" {
		return m, fmt.Errorf("%w: empty topic or event", ErrMalformed)
	}
	m.Payload = data[off:]
	m.Binary = true
	return m, nil
}

// AppendText appends the V2 JSON frame [joinRef, ref, topic, event, payload]
// to dst. payload must be valid JSON text; it is copied as is.
func AppendText(dst []byte, joinRef, ref Ref, topic, event string, payload []byte) []byte {
	dst = append(dst, '[')
	dst = appendRef(dst, joinRef)
	dst = append(dst, ',')
	dst = appendRef(dst, ref)
	dst = append(dst, ',')
	dst = AppendString(dst, topic)
	dst = append(dst, ',')
	dst = AppendString(dst, event)
	dst = append(dst, ',')
	if len(payload) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, payload...)
	}
	return append(dst, ']')
}

// AppendReply appends the phx_reply frame
// [joinRef, ref, topic, "phx_reply", {"status": status, "response": response}].
// response must be JSON text; empty means {}.
func AppendReply(dst []byte, joinRef, ref Ref, topic, status string, response []byte) []byte {
	dst = append(dst, '[')
	dst = appendRef(dst, joinRef)
	dst = append(dst, ',')
	dst = appendRef(dst, ref)
	dst = append(dst, ',')
	dst = AppendString(dst, topic)
	dst = append(dst, `,"phx_reply",{"status":`...)
	dst = AppendString(dst, status)
	dst = append(dst, `,"response":`...)
	if len(response) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, response...)
	}
	return append(dst, "}]"...)
}

func appendRef(dst []byte, r Ref) []byte {
	if !r.Valid {
		return append(dst, "null"...)
	}
	return AppendString(dst, r.Value)
}

// ErrFieldTooLong is returned when a binary frame field exceeds 255 bytes.
var ErrFieldTooLong = errors.New("wire: binary frame field longer than 255 bytes")

// AppendBinaryPush appends a server push in binary form: kind 0, lengths of
// join_ref, topic and event (no ref), the fields, then data.
func AppendBinaryPush(dst []byte, joinRef Ref, topic, event string, data []byte) ([]byte, error) {
	return appendBinary(dst, KindPush, data, joinRef.Value, topic, event)
}

// AppendBinaryReply appends a reply in binary form: kind 1, lengths of
// join_ref, ref, topic and status, the fields, then data.
func AppendBinaryReply(dst []byte, joinRef, ref Ref, topic, status string, data []byte) ([]byte, error) {
	return appendBinary(dst, KindReply, data, joinRef.Value, ref.Value, topic, status)
}

// AppendBinaryBroadcast appends a broadcast in binary form: kind 2, lengths
// of topic and event, the fields, then data.
func AppendBinaryBroadcast(dst []byte, topic, event string, data []byte) ([]byte, error) {
	return appendBinary(dst, KindBroadcast, data, topic, event)
}

func appendBinary(dst []byte, kind byte, data []byte, fields ...string) ([]byte, error) {
	dst = append(dst, kind)
	for _, f := range fields {
		if len(f) > 255 {
			return dst, fmt.Errorf("%w: %q", ErrFieldTooLong, f[:32])
		}
		dst = append(dst, byte(len(f)))
	}
	for _, f := range fields {
		dst = append(dst, f...)
	}
	return append(dst, data...), nil
}

// AppendString appends s as a JSON string, as [jsonstr.Append] does:
// U+2028 and U+2029 escaped as encoding/json does, <, > and & left alone
// (the output is never embedded in HTML), invalid UTF-8 as U+FFFD.
func AppendString(dst []byte, s string) []byte { return jsonstr.Append(dst, s) }
