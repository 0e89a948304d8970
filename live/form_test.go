package live

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeForm(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", `{}`},
		{"a=1", `{"a":"1"}`},
		{"a=1&a=2", `{"a":"2"}`},
		{"q=hello+world%21", `{"q":"hello world!"}`},
		{"user[name]=ana&user[email]=a%40b.c", `{"user":{"email":"a@b.c","name":"ana"}}`},
		{"user[address][city]=Lyon", `{"user":{"address":{"city":"Lyon"}}}`},
		{"tags[]=a&tags[]=b", `{"tags":["a","b"]}`},
		{"items[][id]=1&items[][qty]=2&items[][id]=3", `{"items":[{"id":"1","qty":"2"},{"id":"3"}]}`},
		{"user[_unused_email]=&user[email]=", `{"user":{"_unused_email":"","email":""}}`},
		{"a[b=1", `{"a[b":"1"}`},
		{"a[b]c=1", `{"a":{"bc":"1"}}`},
		{"&&x=&", `{"x":""}`},
		{"k", `{"k":""}`},
	}
	for _, tt := range tests {
		got, err := DecodeForm(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var want map[string]any
		_ = json.Unmarshal([]byte(tt.want), &want)
		if !reflect.DeepEqual(normalize(got), want) {
			b, _ := json.Marshal(got)
			t.Errorf("%q = %s, want %s", tt.in, b, tt.want)
		}
	}
	for _, bad := range []string{"a=%zz", "%zz=1", "a" + repeat("[x]", 40) + "=1"} {
		if _, err := DecodeForm(bad); !errors.Is(err, ErrBadForm) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// normalize round-trips through JSON so types compare with DeepEqual.
func normalize(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestTargetPath(t *testing.T) {
	for in, want := range map[string][]string{
		"user[email]": {"user", "email"},
		"q":           {"q"},
		"undefined":   nil,
		"":            nil,
	} {
		if got := targetPath(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%q = %v, want %v", in, got, want)
		}
	}
}

func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{"a=1&b[c]=2&d[]=3", "x[][y]=1&x[][y]=2", "%", "a[[]]=]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := DecodeForm(s)
		if err != nil {
			if !errors.Is(err, ErrBadForm) {
				t.Fatalf("error %v does not wrap ErrBadForm", err)
			}
			return
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("decoded form is not JSON-encodable: %v", err)
		}
	})
}
