package channel

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzRecoverParams feeds arbitrary join params to the position parser and
// arbitrary replies to the reply rewriter: no panic, a malformed position
// is ErrBadPosition, and a rewritten object reply is valid JSON that keeps
// the app's members and gains "_recovery".
func FuzzRecoverParams(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"_recover":null}`, `{"_recover":{"epoch":"e","offset":3}}`,
		`{"_recover":{"epoch":"e","offset":-1}}`, `{"_recover":{"epoch":"e","offset":1e3}}`,
		`{"_recover":{"epoch":7,"offset":1}}`, `{"_recover":"3","a":1}`, `{"a":{"b":[1,2]}}`, `{ }`, `{"_recover":{}}`, `{"_recovery":1}`, `{"a":1 }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pos, ok, err := parsePosition(b)
		if err != nil && !errors.Is(err, ErrBadPosition) {
			t.Fatalf("parsePosition(%q): %v, not ErrBadPosition", b, err)
		}
		if err != nil && ok || !ok && pos != (Position{}) {
			t.Fatalf("parsePosition(%q) = %+v, %v, %v", b, pos, ok, err)
		}
		var app map[string]json.RawMessage
		isObject := json.Unmarshal(b, &app) == nil && app != nil
		yes := true
		out, rewritten := withRecovery(b, Position{Epoch: "ep-och_1", Offset: 42}, &yes)
		if !isObject {
			return
		}
		if !rewritten {
			t.Fatalf("object reply %q not rewritten", b)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("rewritten %q → %q: %v", b, out, err)
		}
		var rec struct {
			Epoch     string
			Offset    uint64
			Recovered bool
		}
		if err := json.Unmarshal(got["_recovery"], &rec); err != nil || rec.Epoch != "ep-och_1" || rec.Offset != 42 || !rec.Recovered {
			t.Fatalf("rewritten %q → %q: _recovery %+v %v", b, out, rec, err)
		}
		for k := range app {
			if _, ok := got[k]; !ok {
				t.Fatalf("rewritten %q → %q lost %q", b, out, k)
			}
		}
	})
}
