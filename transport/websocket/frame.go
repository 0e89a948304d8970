package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opcodes of RFC 6455.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	// rsv1Bit marks a compressed message in a frame's first byte.
	rsv1Bit = 0x40
)

var (
	errProtocol = errors.New("websocket: protocol error")
	errTooBig   = errors.New("websocket: frame too big")
	errUTF8     = errors.New("websocket: text frame is not UTF-8")
)

// header is a parsed frame header.
type header struct {
	fin    bool
	rsv1   bool // the per-message compressed bit (RFC 7692)
	op     byte
	masked bool
	mask   [4]byte
	length int64
}

// readHeader reads one frame header from r without buffering beyond it, so
// an idle connection holds no read buffer.
func readHeader(r io.Reader) (header, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, err
	}
	return readHeaderAfter(b[0], r)
}

// readHeaderAfter reads the rest of a frame header whose first byte is b0.
func readHeaderAfter(b0 byte, r io.Reader) (header, error) {
	var h header
	var b [8]byte
	b[0] = b0
	if _, err := io.ReadFull(r, b[1:2]); err != nil {
		return h, err
	}
	h.fin = b[0]&0x80 != 0
	h.rsv1 = b[0]&0x40 != 0 // checked by the reader: only with permessage-deflate
	if b[0]&0x30 != 0 {
		return h, fmt.Errorf("%w: reserved bits set", errProtocol)
	}
	h.op = b[0] & 0x0f
	h.masked = b[1]&0x80 != 0
	n := int64(b[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, err
		}
		n = int64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return h, err
		}
		u := binary.BigEndian.Uint64(b[:8])
		if u > 1<<62 {
			return h, fmt.Errorf("%w: length %d", errTooBig, u)
		}
		n = int64(u)
	}
	h.length = n
	if h.masked {
		if _, err := io.ReadFull(r, h.mask[:]); err != nil {
			return h, err
		}
	}
	switch h.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin || n > 125 {
			return h, fmt.Errorf("%w: fragmented or long control frame", errProtocol)
		}
	default:
		return h, fmt.Errorf("%w: opcode %d", errProtocol, h.op)
	}
	return h, nil
}

// unmask XORs p with the mask, starting at mask offset pos.
func unmask(p []byte, mask [4]byte, pos int) {
	var m8 [8]byte
	for i := range m8 {
		m8[i] = mask[(pos+i)&3]
	}
	key := binary.LittleEndian.Uint64(m8[:])
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^key)
	}
	for ; i < len(p); i++ {
		p[i] ^= mask[(pos+i)&3]
	}
}

// appendHeader appends an unmasked server frame header; op may carry the
// RSV1 bit (rsv1Bit) of a compressed message.
func appendHeader(dst []byte, op byte, length int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case length < 126:
		return append(dst, byte(length))
	case length <= 0xffff:
		return append(dst, 126, byte(length>>8), byte(length))
	default:
		dst = append(dst, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(length))
	}
}

// closePayload builds the body of a close frame.
func closePayload(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	for !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(p, reason...)
}

// parseClose reads the code of a close frame body; 1005 when absent.
func parseClose(p []byte) (int, error) {
	switch {
	case len(p) == 0:
		return 1005, nil
	case len(p) == 1:
		return 0, fmt.Errorf("%w: one-byte close payload", errProtocol)
	case !utf8.Valid(p[2:]):
		return 0, errUTF8
	}
	code := int(binary.BigEndian.Uint16(p))
	if code < 1000 || code == 1004 || code == 1005 || code == 1006 || (code > 1014 && code < 3000) || code > 4999 {
		return 0, fmt.Errorf("%w: close code %d", errProtocol, code)
	}
	return code, nil
}

// utf8State validates a text message as its bytes arrive, so that invalid
// UTF-8 fails the connection at the offending bytes (of a fragment, or of a
// frame still arriving), not at the end of the message. It carries the
// incomplete sequence at the end of the bytes fed so far.
type utf8State struct {
	carry [utf8.UTFMax]byte
	n     uint8
}

// feed validates the next bytes of the message; false when they cannot be
// part of valid UTF-8, whatever follows.
func (s *utf8State) feed(p []byte) bool {
	for s.n > 0 && len(p) > 0 {
		s.carry[s.n] = p[0]
		s.n++
		p = p[1:]
		if utf8.FullRune(s.carry[:s.n]) {
			// FullRune is true as soon as the bytes are complete or
			// cannot become valid: decoding tells which.
			if r, size := utf8.DecodeRune(s.carry[:s.n]); r == utf8.RuneError && size <= 1 {
				return false
			}
			s.n = 0
		}
	}
	if len(p) == 0 {
		return true
	}
	// The last rune of p may be incomplete: carry it to the next bytes.
	i := len(p) - 1
	for i > 0 && i > len(p)-utf8.UTFMax && !utf8.RuneStart(p[i]) {
		i--
	}
	if !utf8.FullRune(p[i:]) {
		if !utf8.Valid(p[:i]) {
			return false
		}
		s.n = uint8(copy(s.carry[:], p[i:]))
		return true
	}
	return utf8.Valid(p)
}

// end reports whether the message fed so far ends on a whole rune, and
// resets s for the next message.
func (s *utf8State) end() bool {
	ok := s.n == 0
	s.n = 0
	return ok
}
