package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr bool
	}{
		{"join", `["4","4","room:lobby","phx_join",{"a":1}]`,
			Message{JoinRef: StringRef("4"), Ref: StringRef("4"), Topic: "room:lobby", Event: "phx_join", Payload: []byte(`{"a":1}`)}, false},
		{"heartbeat null join ref", `[null,"7","phoenix","heartbeat",{}]`,
			Message{Ref: StringRef("7"), Topic: "phoenix", Event: "heartbeat", Payload: []byte(`{}`)}, false},
		{"extra elements ignored", `["1","2","t","e",{},"extra",3]`,
			Message{JoinRef: StringRef("1"), Ref: StringRef("2"), Topic: "t", Event: "e", Payload: []byte(`{}`)}, false},
		{"empty string ref is not null", `["","2","t","e",{}]`,
			Message{JoinRef: StringRef(""), Ref: StringRef("2"), Topic: "t", Event: "e", Payload: []byte(`{}`)}, false},
		{"non-object payload kept", `["1","2","t","e",[1,2]]`,
			Message{JoinRef: StringRef("1"), Ref: StringRef("2"), Topic: "t", Event: "e", Payload: []byte(`[1,2]`)}, false},
		{"numeric ref", `[1,"2","t","e",{}]`, Message{}, true},
		{"four elements", `["1","2","t","e"]`, Message{}, true},
		{"object frame", `{"topic":"t"}`, Message{}, true},
		{"not json", `[1,2`, Message{}, true},
		{"topic not string", `["1","2",3,"e",{}]`, Message{}, true},
		{"event not string", `["1","2","t",null,{}]`, Message{}, true},
		{"empty topic", `["1","2","","e",{}]`, Message{}, true},
		{"empty", ``, Message{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeText([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.JoinRef != tt.want.JoinRef || got.Ref != tt.want.Ref || got.Topic != tt.want.Topic ||
				got.Event != tt.want.Event || !bytes.Equal(got.Payload, tt.want.Payload) || got.Binary {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeBinary(t *testing.T) {
	frame := []byte{0, 2, 1, 4, 4}
	frame = append(frame, "12"+"3"+"room"+"ping"...)
	frame = append(frame, 0xff, 0x00, 0x01)
	m, err := DecodeBinary(frame)
	if err != nil {
		t.Fatal(err)
	}
	if m.JoinRef != StringRef("12") || m.Ref != StringRef("3") || m.Topic != "room" || m.Event != "ping" ||
		!bytes.Equal(m.Payload, []byte{0xff, 0, 1}) || !m.Binary {
		t.Fatalf("got %+v", m)
	}
	for name, bad := range map[string][]byte{
		"short":       {0, 1},
		"reply kind":  {1, 0, 0, 1, 1, 't', 'e'},
		"overrun":     {0, 9, 0, 1, 1, 't'},
		"no topic":    {0, 0, 0, 0, 1, 'e'},
		"bad utf8":    {0, 0, 0, 1, 1, 0xff, 'e'},
		"empty event": {0, 0, 0, 1, 0, 't'},
	} {
		if _, err := DecodeBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{string(AppendText(nil, StringRef("4"), Ref{}, "room:1", "new_msg", []byte(`{"body":"hi"}`))),
			`["4",null,"room:1","new_msg",{"body":"hi"}]`},
		{string(AppendText(nil, Ref{}, Ref{}, "t", "e", nil)), `[null,null,"t","e",{}]`},
		{string(AppendReply(nil, StringRef("4"), StringRef("5"), "t", "ok", nil)),
			`["4","5","t","phx_reply",{"status":"ok","response":{}}]`},
		{string(AppendReply(nil, Ref{}, StringRef("9"), "t", "error", []byte(`{"reason":"unmatched topic"}`))),
			`[null,"9","t","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "<a>&", "tab\tnl\ncr\r", "\x00\x1f", "é漢🙂", "\u2028\u2029", "bad\xffutf8"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s) // encoding/json also maps bad UTF-8 to U+FFFD
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: round trip %q, want %q", s, back, wantBack)
		}
		if bytes.Contains(got, []byte(`\u003c`)) {
			t.Errorf("%q: HTML-escaped output %s", s, got)
		}
	}
}

func TestBinaryServerFrames(t *testing.T) {
	push, err := AppendBinaryPush(nil, StringRef("4"), "t", "ev", []byte{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 1, 1, 2, '4', 't', 'e', 'v', 1, 2}; !bytes.Equal(push, want) {
		t.Errorf("push = %v, want %v", push, want)
	}
	reply, err := AppendBinaryReply(nil, StringRef("4"), StringRef("5"), "t", "ok", []byte{9})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{1, 1, 1, 1, 2, '4', '5', 't', 'o', 'k', 9}; !bytes.Equal(reply, want) {
		t.Errorf("reply = %v, want %v", reply, want)
	}
	bc, err := AppendBinaryBroadcast(nil, "t", "e", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{2, 1, 1, 't', 'e'}; !bytes.Equal(bc, want) {
		t.Errorf("broadcast = %v, want %v", bc, want)
	}
	if _, err := AppendBinaryBroadcast(nil, string(make([]byte, 256)), "e", nil); !errors.Is(err, ErrFieldTooLong) {
		t.Errorf("long topic: err = %v", err)
	}
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{`["4","4","room:lobby","phx_join",{}]`, `[null,"1","phoenix","heartbeat",{}]`, `[`, `[1,2,3,4,5]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeText(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// A decoded frame re-encodes to JSON that decodes to the same frame.
		again, err := DecodeText(AppendText(nil, m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload))
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if again.JoinRef != m.JoinRef || again.Ref != m.Ref || again.Event != m.Event {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}

func FuzzDecodeBinary(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 1, '1', '2', 't', 'e', 0xff})
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{2, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeBinary(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if !m.Binary || m.Topic == "" || m.Event == "" {
			t.Fatalf("accepted frame %+v", m)
		}
	})
}
