package main

import (
	"strings"
	"testing"
)

func TestJoinReply(t *testing.T) {
	cases := []struct {
		name    string
		frame   string
		joined  bool
		refused bool
	}{
		{"phoenix key order", `["1","1","room:a","phx_reply",{"response":{},"status":"ok"}]`, true, false},
		{"parley key order", `["1","1","room:a","phx_reply",{"status":"ok","response":{}}]`, true, false},
		{"whitespace", "[ \"1\" , \"1\" ,\n\"room:a\", \"phx_reply\" , { \"response\" : {\"rendered\":{\"0\":\"x\"}} , \"status\" : \"ok\" } ]", true, false},
		{"live join with rendered", `["1","1","lv:phx-F","phx_reply",{"response":{"rendered":{"s":["<p>status ok</p>"]}},"status":"ok"}]`, true, false},
		{"refused, phoenix order", `["1","1","room:a","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]`, false, true},
		{"refused, parley order", `["1","1","room:a","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`, false, true},
		{"ok inside the response only", `["1","1","room:a","phx_reply",{"response":{"status":"ok"},"status":"error"}]`, false, true},
		{"heartbeat reply", `[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]`, false, false},
		{"reply to another ref", `["1","7","room:a","phx_reply",{"response":{},"status":"ok"}]`, false, false},
		{"broadcast", `[null,null,"room:a","msg",{"t":123}]`, false, false},
		{"broadcast naming phx_reply", `[null,null,"room:a","msg",{"body":"phx_reply"}]`, false, false},
		{"not json", `["1","1","room:a","phx_reply",{"status":`, false, false},
		{"binary-ish", "\x00\x01phx_reply", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			joined, err := joinReply([]byte(c.frame), "1", "1")
			if joined != c.joined || (err != nil) != c.refused {
				t.Fatalf("joinReply(%s) = %v, %v; want joined %v, refused %v", c.frame, joined, err, c.joined, c.refused)
			}
			if c.refused && !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q does not say refused", err)
			}
		})
	}
	// Every protocol path that joins a Phoenix topic uses it.
	ok, err := protocols["phoenix"].joined([]byte(`["1","1","t","phx_reply",{"response":{},"status":"ok"}]`))
	if !ok || err != nil {
		t.Fatalf("phoenix protocol: joined = %v, %v for a reply in Phoenix's key order", ok, err)
	}
}

// TestLiveHandshakePhoenixOrder: the live scenario takes a LiveView join
// reply in Phoenix's key order as joined.
func TestLiveHandshakePhoenixOrder(t *testing.T) {
	v := &liveView{f: &liveFleet{proto: liveParley}}
	ok, err := v.handshake([]byte(`["1","1","lv:phx-1","phx_reply",{"response":{"rendered":{"0":"1","s":["<b>","</b>"]}},"status":"ok"}]`))
	if !ok || err != nil {
		t.Fatalf("handshake = %v, %v; want joined", ok, err)
	}
	if _, err := v.handshake([]byte(`["1","1","lv:phx-1","phx_reply",{"response":{"reason":"stale"},"status":"error"}]`)); err == nil {
		t.Fatal("a refused join was not reported")
	}
}
