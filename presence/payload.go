package presence

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parley-go/parley/presence/crdt"
)

// Meta is the JSON object stored for one presence: the caller's meta plus
// "phx_ref" and, after an update, "phx_ref_prev". It is shared with the
// Tracker's state and must not be modified.
type Meta json.RawMessage

// MarshalJSON returns m itself.
func (m Meta) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON stores a copy of data.
func (m *Meta) UnmarshalJSON(data []byte) error {
	*m = append((*m)[:0], data...)
	return nil
}

// Decode unmarshals m into v.
func (m Meta) Decode(v any) error {
	if err := json.Unmarshal(m, v); err != nil {
		return fmt.Errorf("presence: decode meta: %w", err)
	}
	return nil
}

// Ref returns the meta's "phx_ref".
func (m Meta) Ref() string { r, _ := m.refs(); return r }

// PrevRef returns the meta's "phx_ref_prev", set by [Tracker.Update].
func (m Meta) PrevRef() string { _, p := m.refs(); return p }

func (m Meta) refs() (ref, prev string) {
	var r struct {
		Ref  string `json:"phx_ref"`
		Prev string `json:"phx_ref_prev"`
	}
	_ = json.Unmarshal(m, &r)
	return r.Ref, r.Prev
}

// Presence is what one key of a topic holds: one meta per owner that
// tracks the key (a user with two tabs open has two), ordered the same way
// on every node. It encodes as {"metas":[...]} plus the Extra fields.
type Presence struct {
	Metas []Meta
	// Extra holds sibling fields of "metas" added by [Config.Fetch], such
	// as "user". A field named "metas" is ignored.
	Extra map[string]any
}

// MarshalJSON encodes p as {"metas":[...],...Extra}.
func (p Presence) MarshalJSON() ([]byte, error) {
	return appendPresence(nil, p)
}

// Diff is the payload of "presence_diff": what joined and what left, by key.
// Both fields always encode, possibly as {}.
type Diff struct {
	Joins  map[string]Presence
	Leaves map[string]Presence
}

// MarshalJSON encodes d as {"joins":{...},"leaves":{...}}.
func (d Diff) MarshalJSON() ([]byte, error) {
	buf := []byte(`{"joins":`)
	buf, err := appendPresences(buf, d.Joins)
	if err != nil {
		return nil, err
	}
	buf = append(buf, `,"leaves":`...)
	if buf, err = appendPresences(buf, d.Leaves); err != nil {
		return nil, err
	}
	return append(buf, '}'), nil
}

// EncodeState encodes presences as the "presence_state" payload:
// {"<key>":{"metas":[...]},...}, keys sorted.
func EncodeState(presences map[string]Presence) (json.RawMessage, error) {
	size := 2
	for k, p := range presences {
		size += len(k) + 16
		for _, m := range p.Metas {
			size += len(m) + 1
		}
	}
	return appendPresences(make([]byte, 0, size), presences)
}

func appendPresences(buf []byte, ps map[string]Presence) ([]byte, error) {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = appendPresence(buf, ps[k]); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

func appendPresence(buf []byte, p Presence) ([]byte, error) {
	buf = appendMetas(buf, p.Metas)
	if len(p.Extra) == 0 {
		return append(buf, '}'), nil
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		if k != "metas" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := marshal(p.Extra[k])
		if err != nil {
			return nil, fmt.Errorf("presence: encode %q: %w", k, err)
		}
		buf = append(buf, ',')
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

// appendMetas appends `{"metas":[...]` without the closing brace.
func appendMetas(buf []byte, metas []Meta) []byte {
	buf = append(buf, `{"metas":[`...)
	for i, m := range metas {
		if i > 0 {
			buf = append(buf, ',')
		}
		if len(m) == 0 {
			buf = append(buf, "null"...)
		} else {
			buf = append(buf, m...)
		}
	}
	return append(buf, ']')
}

// appendString appends s as a JSON string: plain ASCII directly, anything
// else through encoding/json.
func appendString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			b, _ := marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// marshal encodes v like the channel layer does: no HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// compareTags orders tags the same way on every node.
func compareTags(a, b crdt.Tag) int {
	return cmp.Or(
		cmp.Compare(a.Replica.Name, b.Replica.Name),
		cmp.Compare(a.Replica.Vsn, b.Replica.Vsn),
		cmp.Compare(a.Clock, b.Clock),
	)
}

// order returns the indexes of vs ordered by key, then tag. Sorting
// indexes rather than the values themselves moves 4 bytes per swap, not a
// whole Value.
func order(vs []crdt.Value) []int32 {
	idx := make([]int32, len(vs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &vs[i], &vs[j]
		if a.Key.Key != b.Key.Key {
			return strings.Compare(a.Key.Key, b.Key.Key)
		}
		return compareTags(a.Tag, b.Tag)
	})
	return idx
}

// group turns values into presences by key, metas ordered by tag.
func group(vs []crdt.Value) map[string]Presence {
	if len(vs) == 0 {
		return make(map[string]Presence)
	}
	idx := order(vs)
	keys := 1
	for n := 1; n < len(idx); n++ {
		if vs[idx[n]].Key.Key != vs[idx[n-1]].Key.Key {
			keys++
		}
	}
	out := make(map[string]Presence, keys)
	metas := make([]Meta, len(vs))
	start := 0
	for n, i := range idx {
		v := &vs[i]
		metas[n] = Meta(v.Meta)
		if n+1 == len(idx) || vs[idx[n+1]].Key.Key != v.Key.Key {
			out[v.Key.Key] = Presence{Metas: metas[start : n+1 : n+1]}
			start = n + 1
		}
	}
	return out
}

// encodeState encodes values as a presence_state payload without building
// the map (when there is no Fetch hook to call).
func encodeState(vs []crdt.Value) []byte {
	size := 2
	for i := range vs {
		size += len(vs[i].Meta) + len(vs[i].Key.Key) + 16
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	var prev *crdt.Value
	for _, i := range order(vs) {
		v := &vs[i]
		if prev == nil || prev.Key.Key != v.Key.Key {
			if prev != nil {
				buf = append(buf, "]},"...)
			}
			buf = appendString(buf, v.Key.Key)
			buf = append(buf, `:{"metas":[`...)
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, v.Meta...)
		prev = v
	}
	if prev != nil {
		buf = append(buf, "]}"...)
	}
	return append(buf, '}')
}
