package pubsub

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is returned by [DecodeMessage] for bytes that are not an
// encoding made by [AppendMessage].
var ErrMalformed = errors.New("pubsub: malformed message encoding")

// encodingVersion is the first byte of every encoding. A node that reads
// another version drops the message (rolling upgrades change it only with
// care).
const encodingVersion = 1

// flagBinary is the only flag bit in use: Message.Binary.
const flagBinary = 1 << 0

// AppendMessage appends to dst the compact binary encoding adapters send
// between nodes: m's Topic, Event, Payload and Binary, and the name of
// the node that sent it (so that an engine without echo suppression can
// drop a node's own messages). From never leaves the node.
//
// Layout: version (1 byte) | flags (1 byte) | uvarint len + node |
// uvarint len + topic | uvarint len + event | payload (the rest).
// Adapters encode once per broadcast, whatever the number of receivers.
func AppendMessage(dst []byte, node string, m *Message) []byte {
	var flags byte
	if m.Binary {
		flags |= flagBinary
	}
	dst = append(dst, encodingVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(len(node)))
	dst = append(dst, node...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Topic)))
	dst = append(dst, m.Topic...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Event)))
	dst = append(dst, m.Event...)
	return append(dst, m.Payload...)
}

// EncodedLen returns the length of AppendMessage's encoding of m sent by
// node, to size a buffer or check an engine's payload limit.
func EncodedLen(node string, m *Message) int {
	n := 2
	for _, s := range []string{node, m.Topic, m.Event} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n + len(m.Payload)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// DecodeMessage parses an encoding made by [AppendMessage]. The returned
// Message's Payload aliases b: the caller must not reuse b while the
// message is in use. Its From is nil.
func DecodeMessage(b []byte) (node string, m *Message, err error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != encodingVersion {
		return "", nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	flags := b[1]
	if flags&^flagBinary != 0 {
		return "", nil, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	rest := b[2:]
	var fields [3]string
	for i := range fields {
		n, w := binary.Uvarint(rest)
		if w <= 0 {
			return "", nil, fmt.Errorf("%w: bad length", ErrMalformed)
		}
		rest = rest[w:]
		if n > uint64(len(rest)) {
			return "", nil, fmt.Errorf("%w: length %d beyond the end", ErrMalformed, n)
		}
		fields[i] = string(rest[:n])
		rest = rest[n:]
	}
	return fields[0], &Message{
		Topic:   fields[1],
		Event:   fields[2],
		Payload: rest,
		Binary:  flags&flagBinary != 0,
	}, nil
}
