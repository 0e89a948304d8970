package live_test

import (
	"strings"
	"testing"

	"github.com/parley-go/parley/livetest"
)

// Oversized forms over the live socket get an error reply with a clear
// reason; the view keeps working.
func TestFormLimitsOverTheSocket(t *testing.T) {
	l := newServer(t)
	v := livetest.Mount(t, l, "/counter")
	for _, tc := range []struct{ name, value, want string }{
		{"10,001 fields", strings.Repeat("user[f]=1&", 10001), "more than 10000 fields"},
		{"deep nesting", "user" + strings.Repeat("[a]", 100) + "=1", "nests deeper than 32"},
	} {
		ref := v.Channel().PushAsync(t, "event", map[string]any{"type": "form", "event": "save", "value": tc.value, "meta": map[string]any{}})
		rep := v.Channel().AwaitReply(t, ref)
		if rep.Status != "error" || !strings.Contains(string(rep.Response), tc.want) {
			t.Errorf("%s: %s %s", tc.name, rep.Status, rep.Response)
		}
	}
	// 10,000 fields are decoded and handled
	v.Submit(t, "save", nil)
	big := strings.Repeat("user[f]=1&", 9999) + "user[name]=ana"
	v.Request(t, "event", map[string]any{"type": "form", "event": "save", "value": big, "meta": map[string]any{"_target": "user[name]"}})
	if !strings.Contains(v.HTML(t), "saved ana from user.name") {
		t.Fatalf("10,000 fields not handled: %s", v.HTML(t))
	}
	v.Click(t, "inc", nil)
	if !strings.Contains(v.HTML(t), "Count: 1") {
		t.Fatalf("view not working: %s", v.HTML(t))
	}
}
