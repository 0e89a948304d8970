package live

import (
	"fmt"
	"net/url"
	"strings"
)

// route is one live path: literal segments and {name} parameters, with an
// optional final {name...} catching the rest.
type route struct {
	pattern string
	segs    []string
	group   *Group
	new     func() View
}

func parsePattern(pattern string) ([]string, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("live: pattern %q must start with /", pattern)
	}
	if strings.ContainsAny(pattern, " \t\r\n?#") {
		return nil, fmt.Errorf("live: pattern %q: no spaces, query or fragment", pattern)
	}
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}") || strings.Count(s, "{") > 1 || s == "{}" || s == "{...}" {
			return nil, fmt.Errorf("live: pattern %q: bad segment %q", pattern, s)
		}
		if s == "" && len(segs) > 1 {
			return nil, fmt.Errorf("live: pattern %q: empty segment", pattern)
		}
		if strings.HasSuffix(s, "...}") && i != len(segs)-1 {
			return nil, fmt.Errorf("live: pattern %q: {name...} must be last", pattern)
		}
	}
	return segs, nil
}

// sameShape reports whether two parsed patterns match the same paths:
// the same literals, with parameters (of any name) in the same places.
func sameShape(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		pa, pb := strings.HasPrefix(a[i], "{"), strings.HasPrefix(b[i], "{")
		if pa != pb || (!pa && a[i] != b[i]) || (pa && strings.HasSuffix(a[i], "...}") != strings.HasSuffix(b[i], "...}")) {
			return false
		}
	}
	return true
}

// match returns the path parameters if path matches.
func (r *route) match(path string) (url.Values, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	params := url.Values{}
	for i, seg := range r.segs {
		if strings.HasPrefix(seg, "{") {
			name := seg[1 : len(seg)-1]
			if rest, ok := strings.CutSuffix(name, "..."); ok {
				if i > len(parts) {
					return nil, false
				}
				params.Set(rest, strings.Join(parts[i:], "/"))
				return params, true
			}
			if i >= len(parts) || parts[i] == "" {
				return nil, false
			}
			v, err := url.PathUnescape(parts[i])
			if err != nil {
				return nil, false
			}
			params.Set(name, v)
			continue
		}
		if i >= len(parts) || parts[i] != seg {
			return nil, false
		}
	}
	if len(parts) != len(r.segs) {
		return nil, false
	}
	return params, true
}
