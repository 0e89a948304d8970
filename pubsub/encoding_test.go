package pubsub

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMessageEncodingRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		node string
		m    Message
	}{
		{"", Message{}},
		{"a", Message{Topic: "room:lobby", Event: "shout", Payload: []byte(`{"body":"hi"}`)}},
		{"node-2", Message{Topic: "bin", Payload: all, Binary: true}},
		{strings.Repeat("n", 300), Message{Topic: strings.Repeat("t", 200), Event: "é", Payload: bytes.Repeat([]byte{0}, 1<<20)}},
	} {
		enc := AppendMessage([]byte("prefix"), tc.node, &tc.m)
		if !bytes.HasPrefix(enc, []byte("prefix")) {
			t.Fatal("AppendMessage lost dst")
		}
		enc = enc[len("prefix"):]
		if got := EncodedLen(tc.node, &tc.m); got != len(enc) {
			t.Fatalf("EncodedLen %d, encoding is %d bytes", got, len(enc))
		}
		node, m, err := DecodeMessage(enc)
		if err != nil {
			t.Fatal(err)
		}
		if node != tc.node || m.Topic != tc.m.Topic || m.Event != tc.m.Event || m.Binary != tc.m.Binary ||
			!bytes.Equal(m.Payload, tc.m.Payload) || m.From != nil {
			t.Fatalf("round trip of %q %+v gave %q %+v", tc.node, tc.m, node, m)
		}
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{1},
		{2, 0, 0, 0, 0},          // version
		{1, 2, 0, 0, 0},          // unknown flag
		{1, 0, 5, 'a'},           // node past the end
		{1, 0, 0, 0},             // event length missing
		{1, 0, 0xff, 0xff, 0xff}, // truncated varint
	} {
		if _, _, err := DecodeMessage(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeMessage(%v) = %v, want ErrMalformed", b, err)
		}
	}
}

// FuzzDecodeMessage checks that the decoder never panics and that whatever
// it accepts survives a re-encoding unchanged.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(AppendMessage(nil, "a", &Message{Topic: "room:lobby", Event: "e", Payload: []byte("x")}))
	f.Add(AppendMessage(nil, "", &Message{Binary: true, Payload: []byte{0, 1, 2}}))
	f.Add([]byte{1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		node, m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		enc := AppendMessage(nil, node, m)
		if len(enc) > len(b) {
			t.Fatalf("re-encoding is longer (%d) than the input (%d)", len(enc), len(b))
		}
		node2, m2, err := DecodeMessage(enc)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if node2 != node || m2.Topic != m.Topic || m2.Event != m.Event || m2.Binary != m.Binary || !bytes.Equal(m2.Payload, m.Payload) {
			t.Fatalf("re-encoding changed the message")
		}
	})
}
