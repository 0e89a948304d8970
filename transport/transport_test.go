package transport

import (
	"net/http"
	"net/url"
	"testing"
)

func TestOriginCheckers(t *testing.T) {
	req := func(host, origin string) *http.Request {
		r := &http.Request{Host: host, Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		return r
	}
	allow := AllowOrigins("https://app.example.com", "//*.example.org", "localhost:4000")
	tests := []struct {
		name  string
		check OriginChecker
		r     *http.Request
		want  bool
	}{
		{"same origin", SameOrigin, req("a.test:4000", "http://a.test:4000"), true},
		{"no origin", SameOrigin, req("a.test", ""), true},
		{"other host", SameOrigin, req("a.test", "http://evil.test"), false},
		{"other port", SameOrigin, req("a.test:4000", "http://a.test:5000"), false},
		{"garbage origin", SameOrigin, req("a.test", "::"), false},
		{"listed", allow, req("x", "https://app.example.com"), true},
		{"listed wrong scheme", allow, req("x", "http://app.example.com"), false},
		{"wildcard", allow, req("x", "http://a.b.example.org"), true},
		{"wildcard apex not matched", allow, req("x", "http://example.org"), false},
		{"port rule", allow, req("x", "http://localhost:4000"), true},
		{"port rule other port", allow, req("x", "http://localhost:4001"), false},
	}
	for _, tt := range tests {
		if got := tt.check(tt.r); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCheckVsn(t *testing.T) {
	for vsn, want := range map[string]bool{"2.0.0": true, "2.0.1": true, "1.0.0": false, "": false, "3.0.0": false} {
		if got := CheckVsn(url.Values{"vsn": {vsn}}); got != want {
			t.Errorf("vsn %q: %v, want %v", vsn, got, want)
		}
	}
}
