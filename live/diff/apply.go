package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Tree is a Go model of the client's rendered cache (rendered.js in
// phoenix_live_view 1.2): join renders and diffs are merged into it with
// [Tree.Apply] and it renders to HTML with [Tree.HTML], so tests can follow a
// view as the browser would. It is stricter than the client: where the
// client would throw, or print "null" or "undefined" into the page, it
// returns an error wrapping [ErrMalformed] (or [ErrComponent] for a cid it
// does not hold).
//
// Live components are cached by cid as the client does: a "c" entry with
// statics replaces, one with "s":-n starts from a copy of cached component
// n and one with "s":n from component n of the same diff (keeping that
// component's statics), anything else merges onto the cached entry; a root
// sent with statics empties the cache. Components are rendered where their
// cid appears, with data-phx-component="<cid>" added to their root element,
// and must carry "r":1. The client also adds data-phx-id and data-phx-view
// there, and data-phx-skip (with the element emptied) on components and
// "r":1 nodes it did not re-render; those depend on the view id and on DOM
// patch bookkeeping, so Tree leaves them out, as it adds nothing for the
// "r":1 flag of other nodes. [HTML] renders server trees the same way.
//
// The zero Tree is empty and ready for the join render. A Tree is not safe
// for concurrent use; after an error its contents are unspecified.
type Tree struct {
	root    map[string]any
	comps   map[string]map[string]any // by cid, as a decimal string
	streams []Stream
}

// Apply merges one join render or diff into t, as the client does: it strips
// and returns the top-level title, events and reply, holds the components
// ("c") aside, merges the rest (a node with "s" replaces, keyed
// comprehensions merge by index with moves read from a snapshot when "km" is
// set, stream annotations and templates are copied), then merges the
// components into its component cache.
func (t *Tree) Apply(diff []byte) (Message, error) {
	var msg Message
	var top map[string]json.RawMessage
	if err := json.Unmarshal(diff, &top); err != nil {
		return msg, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if top == nil {
		return msg, fmt.Errorf("%w: top level is not an object", ErrMalformed)
	}
	if raw, ok := top["t"]; ok {
		var title string
		if err := json.Unmarshal(raw, &title); err != nil {
			return msg, fmt.Errorf("%w: title: %v", ErrMalformed, err)
		}
		msg.Title = &title
		delete(top, "t")
	}
	if raw, ok := top["e"]; ok {
		evs, err := decodeEvents(raw)
		if err != nil {
			return msg, err
		}
		msg.Events = evs
		delete(top, "e")
	}
	if raw, ok := top["r"]; ok {
		msg.Reply = append(json.RawMessage(nil), raw...)
		delete(top, "r")
	}
	var newc map[string]any
	if raw, ok := top["c"]; ok {
		v, err := decodeValue(raw)
		if err != nil {
			return msg, err
		}
		if newc, ok = v.(map[string]any); !ok {
			return msg, fmt.Errorf("%w: c is not an object", ErrMalformed)
		}
		delete(top, "c")
	}
	source := make(map[string]any, len(top))
	for k, raw := range top {
		v, err := decodeValue(raw)
		if err != nil {
			return msg, err
		}
		source[k] = v
	}
	if t.root == nil {
		t.root = map[string]any{}
	}
	if _, ok := source["s"]; ok {
		// The client's cache lives inside the tree it just replaced.
		t.root = source
		t.comps = nil
	} else if err := doMerge(t.root, source); err != nil {
		return msg, err
	}
	return msg, t.mergeComponents(newc)
}

// mergeComponents merges the "c" map of a diff into the component cache
// (rendered.js mergeDiff and cachedFindComponent): every entry is resolved
// against the cache as it was before this diff, then all are stored.
func (t *Tree) mergeComponents(newc map[string]any) error {
	if len(newc) == 0 {
		return nil
	}
	if t.comps == nil {
		t.comps = map[string]map[string]any{}
	}
	resolved := make(map[string]map[string]any, len(newc))
	busy := map[string]bool{}
	var find func(cid string) (map[string]any, error)
	find = func(cid string) (map[string]any, error) {
		if r, ok := resolved[cid]; ok {
			return r, nil
		}
		if busy[cid] {
			return nil, fmt.Errorf("%w: component %s refers to itself", ErrMalformed, cid)
		}
		busy[cid] = true
		cdiff, ok := newc[cid].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: component %s is %T", ErrMalformed, cid, newc[cid])
		}
		var out map[string]any
		if n, ok := cdiff["s"].(json.Number); ok {
			ref, err := strconv.Atoi(string(n))
			if err != nil {
				return nil, fmt.Errorf("%w: component %s: s %s", ErrMalformed, cid, n)
			}
			var base map[string]any
			if ref > 0 {
				if _, ok := newc[strconv.Itoa(ref)]; !ok {
					return nil, fmt.Errorf("%w: component %s reuses %d, not in this diff", ErrComponent, cid, ref)
				}
				if base, err = find(strconv.Itoa(ref)); err != nil {
					return nil, err
				}
			} else if base = t.comps[strconv.Itoa(-ref)]; base == nil {
				return nil, fmt.Errorf("%w: component %s reuses %d, not cached", ErrComponent, cid, -ref)
			}
			statics := base["s"]
			out = clone(base).(map[string]any)
			delete(cdiff, "s")
			if err := doMerge(out, cdiff); err != nil {
				return nil, err
			}
			out["s"] = statics
		} else if _, ok := cdiff["s"]; ok || t.comps[cid] == nil {
			out = cdiff
		} else {
			out = clone(t.comps[cid]).(map[string]any)
			if err := doMerge(out, cdiff); err != nil {
				return nil, err
			}
		}
		resolved[cid] = out
		return out, nil
	}
	for cid := range newc {
		if _, ok := indexOf(cid); !ok {
			return fmt.Errorf("%w: component key %q", ErrMalformed, cid)
		}
		if _, err := find(cid); err != nil {
			return err
		}
	}
	for cid, c := range resolved {
		t.comps[cid] = c
	}
	return nil
}

func decodeValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return v, nil
}

func decodeEvents(raw []byte) ([]Event, error) {
	var list [][]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%w: events: %v", ErrMalformed, err)
	}
	evs := make([]Event, 0, len(list))
	for _, e := range list {
		if len(e) != 2 && len(e) != 3 {
			return nil, fmt.Errorf("%w: event of %d elements", ErrMalformed, len(e))
		}
		var ev Event
		if err := json.Unmarshal(e[0], &ev.Name); err != nil {
			return nil, fmt.Errorf("%w: event name: %v", ErrMalformed, err)
		}
		ev.Payload = append(json.RawMessage(nil), e[1]...)
		if len(e) == 3 {
			if err := json.Unmarshal(e[2], &ev.BeforePatch); err != nil {
				return nil, fmt.Errorf("%w: event flag: %v", ErrMalformed, err)
			}
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// doMerge merges source into target in place (rendered.js doMutableMerge).
func doMerge(target, source map[string]any) error {
	if _, ok := source["k"]; ok {
		return mergeKeyed(target, source)
	}
	for key, val := range source {
		if vm, ok := val.(map[string]any); ok {
			if _, hasS := vm["s"]; !hasS {
				if tm, ok := target[key].(map[string]any); ok {
					if err := doMerge(tm, vm); err != nil {
						return err
					}
					continue
				}
			}
		}
		target[key] = val
	}
	return nil
}

func mergeKeyed(target, source map[string]any) error {
	sk, ok := source["k"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: k is not an object", ErrMalformed)
	}
	tk, ok := target["k"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: keyed diff onto a node without entries", ErrMalformed)
	}
	kc, ok := intOf(sk["kc"])
	if !ok || kc < 0 {
		return fmt.Errorf("%w: kc missing or invalid", ErrMalformed)
	}
	var snapshot map[string]any
	if km, _ := sk["km"].(bool); km {
		snapshot = clone(tk).(map[string]any)
	}
	old := func(v any) (map[string]any, error) {
		if snapshot == nil {
			return nil, fmt.Errorf("%w: moved entry without km", ErrMalformed)
		}
		n, ok := intOf(v)
		if !ok {
			return nil, fmt.Errorf("%w: bad old index", ErrMalformed)
		}
		e, ok := snapshot[strconv.Itoa(n)].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: moved from missing entry %d", ErrMalformed, n)
		}
		return e, nil
	}
	for key, entry := range sk {
		if key == "kc" || key == "km" {
			continue
		}
		if _, ok := indexOf(key); !ok {
			return fmt.Errorf("%w: entry key %q", ErrMalformed, key)
		}
		switch e := entry.(type) {
		case []any:
			if len(e) != 2 {
				return fmt.Errorf("%w: move of %d elements", ErrMalformed, len(e))
			}
			d, ok := e[1].(map[string]any)
			if !ok {
				return fmt.Errorf("%w: move diff is not an object", ErrMalformed)
			}
			o, err := old(e[0])
			if err != nil {
				return err
			}
			tk[key] = o
			if err := doMerge(o, d); err != nil {
				return err
			}
		case json.Number:
			o, err := old(e)
			if err != nil {
				return err
			}
			tk[key] = o
		case map[string]any:
			te, ok := tk[key].(map[string]any)
			if !ok {
				te = map[string]any{}
				tk[key] = te
			}
			if err := doMerge(te, e); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: entry %s is %T", ErrMalformed, key, entry)
		}
	}
	for key := range tk {
		if i, ok := indexOf(key); ok && i >= kc {
			delete(tk, key)
		}
	}
	tk["kc"] = kc
	if s, ok := source["stream"]; ok && s != nil {
		target["stream"] = s
	}
	if p, ok := source["p"]; ok && p != nil {
		target["p"] = p
	}
	return nil
}

func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case json.Number:
		i, err := strconv.Atoi(string(n))
		return i, err == nil
	}
	return 0, false
}

// indexOf parses a canonical non-negative decimal key.
func indexOf(key string) (int, bool) {
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || strconv.Itoa(i) != key {
		return 0, false
	}
	return i, true
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = clone(e)
		}
		return s
	case []string:
		return append([]string(nil), x...)
	}
	return v
}

// HTML renders t as the client does before patching the DOM. Like the
// client, it resolves shared templates into the tree and forgets the items
// of each stream it renders, queueing the stream's operations for
// [Tree.Streams]; so a second call renders streams empty.
func (t *Tree) HTML() (string, error) {
	t.streams = t.streams[:0]
	if t.root == nil {
		return "", fmt.Errorf("%w: nothing rendered yet", ErrMalformed)
	}
	b, err := t.renderNode(nil, t.root, nil, 0)
	return string(b), err
}

// Streams returns the stream operations met by the last [Tree.HTML], in
// render order.
func (t *Tree) Streams() []Stream { return t.streams }

const maxDepth = 10000

func (t *Tree) renderNode(b []byte, node, templates map[string]any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	if _, ok := node["k"]; ok {
		return t.renderComp(b, node, templates, depth)
	}
	if p, ok := node["p"]; ok {
		pm, ok := p.(map[string]any)
		if !ok {
			return b, fmt.Errorf("%w: p is not an object", ErrMalformed)
		}
		templates = pm
		delete(node, "p")
	}
	statics, err := resolveStatics(node, templates)
	if err != nil {
		return b, err
	}
	return t.renderParts(b, node, statics, templates, depth)
}

func (t *Tree) renderParts(b []byte, holder map[string]any, statics []string, templates map[string]any, depth int) ([]byte, error) {
	var err error
	for i := 0; i < len(statics)-1; i++ {
		b = append(b, statics[i]...)
		switch v := holder[strconv.Itoa(i)].(type) {
		case string:
			b = append(b, v...)
		case map[string]any:
			if b, err = t.renderNode(b, v, templates, depth+1); err != nil {
				return b, err
			}
		case json.Number:
			if b, err = t.renderComponent(b, string(v), depth+1); err != nil {
				return b, err
			}
		default:
			return b, fmt.Errorf("%w: dynamic %d is %T", ErrMalformed, i, v)
		}
	}
	return append(b, statics[len(statics)-1]...), nil
}

// renderComponent renders cached component cid with its own templates and
// tags its root element.
func (t *Tree) renderComponent(b []byte, cid string, depth int) ([]byte, error) {
	c := t.comps[cid]
	if c == nil {
		return b, fmt.Errorf("%w: cid %s", ErrComponent, cid)
	}
	if r, _ := intOf(c["r"]); r != 1 {
		return b, fmt.Errorf("%w: component %s without \"r\":1", ErrMalformed, cid)
	}
	start := len(b)
	b, err := t.renderNode(b, c, nil, depth)
	if err != nil {
		return b, err
	}
	n, _ := strconv.Atoi(cid)
	return tagComponent(b, start, n)
}

func resolveStatics(node, templates map[string]any) ([]string, error) {
	var raw any = node["s"]
	if n, ok := raw.(json.Number); ok {
		raw = nil
		if templates != nil {
			raw = templates[string(n)]
		}
	}
	var statics []string
	switch s := raw.(type) {
	case []string:
		statics = s
	case []any:
		statics = make([]string, len(s))
		for i, e := range s {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: static %d is %T", ErrMalformed, i, e)
			}
			statics[i] = str
		}
	default:
		return nil, fmt.Errorf("%w: node without statics", ErrMalformed)
	}
	if len(statics) == 0 {
		return nil, fmt.Errorf("%w: empty statics", ErrMalformed)
	}
	node["s"] = statics
	return statics, nil
}

func (t *Tree) renderComp(b []byte, node, templates map[string]any, depth int) ([]byte, error) {
	entryTemplates := templates
	if entryTemplates == nil {
		entryTemplates, _ = node["p"].(map[string]any)
	}
	statics, err := resolveStatics(node, templates)
	if err != nil {
		return b, err
	}
	delete(node, "p")
	tk, ok := node["k"].(map[string]any)
	if !ok {
		return b, fmt.Errorf("%w: k is not an object", ErrMalformed)
	}
	kc, ok := intOf(tk["kc"])
	if !ok {
		return b, fmt.Errorf("%w: kc missing or invalid", ErrMalformed)
	}
	for i := 0; i < kc; i++ {
		entry, ok := tk[strconv.Itoa(i)].(map[string]any)
		if !ok {
			return b, fmt.Errorf("%w: missing entry %d of %d", ErrMalformed, i, kc)
		}
		if b, err = t.renderParts(b, entry, statics, entryTemplates, depth+1); err != nil {
			return b, err
		}
	}
	raw, ok := node["stream"]
	if !ok || raw == nil {
		return b, nil
	}
	st, resetFlag, err := parseStream(raw)
	if err != nil {
		return b, err
	}
	if kc > 0 || len(st.Deletes) > 0 || resetFlag {
		delete(node, "stream")
		node["k"] = map[string]any{"kc": 0}
		t.streams = append(t.streams, st)
	}
	return b, nil
}

// parseStream reads [ref, inserts, deletes, reset?]. Reset reports the
// presence of the fourth element, as the DOM patch does; the returned flag
// is its truthiness, which is what makes the client forget its items.
func parseStream(raw any) (Stream, bool, error) {
	var st Stream
	bad := func(what string) (Stream, bool, error) {
		return Stream{}, false, fmt.Errorf("%w: stream %s", ErrMalformed, what)
	}
	a, ok := raw.([]any)
	if !ok || len(a) < 3 || len(a) > 4 {
		return bad("is not [ref, inserts, deletes, reset?]")
	}
	if st.Ref, ok = a[0].(string); !ok {
		return bad("ref")
	}
	ins, ok := a[1].([]any)
	if !ok {
		return bad("inserts")
	}
	for _, x := range ins {
		in, ok := x.([]any)
		if !ok || len(in) != 4 {
			return bad("insert")
		}
		var i Insert
		var ok1, ok2, ok3, ok4 bool
		i.DOMID, ok1 = in[0].(string)
		i.At, ok2 = intOf(in[1])
		if in[2] == nil {
			ok3 = true
		} else {
			i.Limit, ok3 = intOf(in[2])
		}
		i.UpdateOnly, ok4 = in[3].(bool)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return bad("insert")
		}
		st.Inserts = append(st.Inserts, i)
	}
	dels, ok := a[2].([]any)
	if !ok {
		return bad("deletes")
	}
	for _, x := range dels {
		id, ok := x.(string)
		if !ok {
			return bad("delete")
		}
		st.Deletes = append(st.Deletes, id)
	}
	truthy := false
	if len(a) == 4 {
		st.Reset = true
		switch v := a[3].(type) {
		case bool:
			truthy = v
		case nil:
		case string:
			truthy = v != ""
		case json.Number:
			truthy = v != "0"
		default:
			truthy = true
		}
	}
	return st, truthy, nil
}
