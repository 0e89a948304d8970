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
	segs := strings.Split(strings.Trim(pattern, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") != strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("live: pattern %q: bad segment %q", pattern, s)
		}
		if strings.HasSuffix(s, "...}") && i != len(segs)-1 {
			return nil, fmt.Errorf("live: pattern %q: {name...} must be last", pattern)
		}
	}
	return segs, nil
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
