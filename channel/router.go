package channel

import (
	"fmt"
	"strings"
)

// Router maps topics to channel constructors. A pattern is an exact topic
// or a prefix ending in "*" ("room:*"); the first matching route wins. The
// zero Router is empty and ready. Register routes before serving: a Router
// is not safe for concurrent modification.
type Router struct {
	routes []route
}

type route struct {
	pattern string // without the trailing "*"
	name    string // as registered, the metrics label
	prefix  bool
	new     func() Channel
	hist    *history // nil without WithHistory
}

// Handle routes topics matching pattern to channels made by newChannel,
// configured by opts ([WithHistory]).
// It panics on a pattern with "*" anywhere but at the end, as a bad route is
// a programming error.
func (r *Router) Handle(pattern string, newChannel func() Channel, opts ...RouteOption) {
	prefix := strings.HasSuffix(pattern, "*")
	if strings.Contains(strings.TrimSuffix(pattern, "*"), "*") || pattern == "" {
		panic(fmt.Sprintf("channel: bad route pattern %q: '*' only at the end", pattern))
	}
	rt := route{pattern: strings.TrimSuffix(pattern, "*"), name: pattern, prefix: prefix, new: newChannel}
	for _, o := range opts {
		o(&rt)
	}
	r.routes = append(r.routes, rt)
}

// Match returns the constructor for topic.
func (r *Router) Match(topic string) (func() Channel, bool) {
	rt := r.match(topic)
	if rt == nil {
		return nil, false
	}
	return rt.new, true
}

// match returns the first route matching topic, or nil.
func (r *Router) match(topic string) *route {
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.prefix && strings.HasPrefix(topic, rt.pattern) || !rt.prefix && topic == rt.pattern {
			return rt
		}
	}
	return nil
}
