package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parley-go/parley/internal/jsonstr"
	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// stdlib returns encoding/json's encoding of s without HTML escaping.
func stdlib(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>",
		"\x00\x01\x1f\x7f", "\b\f\n\r\t", "line\u2028para\u2029end", "é 日本 🎉",
		"bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate half", "\u2027\u202a",
	}
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	for _, s := range cases {
		if got, want := jsonstr.Append(nil, s), stdlib(s); !bytes.Equal(got, want) {
			t.Errorf("Append(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\u2028b")
	f.Add("\xff<\"\\\n")
	f.Fuzz(func(t *testing.T, s string) {
		got := jsonstr.Append([]byte("prefix"), s)
		if want := stdlib(s); !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("Append(%q) = %s, encoding/json %s", s, got[len("prefix"):], want)
		}
	})
}
