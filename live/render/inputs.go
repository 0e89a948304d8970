package render

import (
	"hash/maphash"
	"maps"
	"reflect"
	"slices"
	"unsafe"
)

// Inputs is a private, exactly comparable copy of a render's assigns, made
// by [Template.Snapshot]. Two renders of one template with equal Inputs
// render equal trees (given template functions that depend only on their
// arguments), which is what lets views share a render (package live's
// SharedView). Inputs are immutable and safe to share between goroutines.
type Inputs struct {
	names []string
	vals  []reflect.Value // private copies, addressable
	kinds []inputKind
	lays  []*itemLayout // of plain values and slice elements
	hash  uint64
}

type inputKind uint8

const (
	inputNil   inputKind = iota // a nil assign
	inputPlain                  // plain data (see per-item tracking)
	inputSlice                  // a slice of plain data
	inputMap                    // a map[string]string (the flash)
)

// Hash returns a hash of the inputs: equal inputs have equal hashes.
func (in *Inputs) Hash() uint64 { return in.hash }

// Snapshot copies assigns for comparison with [Inputs.Equal]. It reports
// false when an assign holds something whose copy could not be compared
// exactly: anything but nil, plain data (booleans, numbers, strings, and
// arrays and structs of them, none with methods, as for per-item
// tracking), slices of plain data and map[string]string.
func (t *Template) Snapshot(assigns map[string]any) (*Inputs, bool) {
	c, err := t.compiled()
	if err != nil {
		return nil, false
	}
	in := &Inputs{
		names: slices.Sorted(maps.Keys(assigns)),
		vals:  make([]reflect.Value, len(assigns)),
		kinds: make([]inputKind, len(assigns)),
		lays:  make([]*itemLayout, len(assigns)),
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for i, name := range in.names {
		_, _ = h.WriteString(name)
		_ = h.WriteByte(0)
		v := reflect.ValueOf(assigns[name])
		if !v.IsValid() {
			continue
		}
		_, _ = h.WriteString(v.Type().String())
		switch {
		case v.Kind() == reflect.Slice && v.IsNil():
			in.vals[i] = v // kind inputNil, typed
		case v.Kind() == reflect.Slice && c.layout(v.Type().Elem()).ok:
			l := c.layout(v.Type().Elem())
			cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(cp, v)
			in.vals[i], in.kinds[i], in.lays[i] = cp, inputSlice, l
			var eh maphash.Hash
			eh.SetSeed(c.seed)
			p := cp.UnsafePointer()
			for k := range cp.Len() {
				writeUint64(&h, l.hash(&eh, unsafe.Add(p, uintptr(k)*l.size)))
			}
			writeUint64(&h, uint64(cp.Len()))
		case v.Type() == mapStringString:
			m := maps.Clone(v.Interface().(map[string]string))
			in.vals[i], in.kinds[i] = reflect.ValueOf(m), inputMap
			var sum uint64
			for k, val := range m {
				sum += maphash.String(c.seed, k+"\x00"+val)
			}
			writeUint64(&h, sum)
			writeUint64(&h, uint64(len(m)))
		case c.layout(v.Type()).ok:
			l := c.layout(v.Type())
			cp := reflect.New(v.Type()).Elem()
			cp.Set(v)
			in.vals[i], in.kinds[i], in.lays[i] = cp, inputPlain, l
			var eh maphash.Hash
			eh.SetSeed(c.seed)
			writeUint64(&h, l.hash(&eh, cp.Addr().UnsafePointer()))
		default:
			return nil, false
		}
	}
	in.hash = h.Sum64()
	return in, true
}

var mapStringString = reflect.TypeFor[map[string]string]()

func writeUint64(h *maphash.Hash, v uint64) {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	_, _ = h.Write(b[:])
}

// Equal reports whether in and other hold equal assigns: the same names,
// and for each the same type and an equal value (bitwise for numbers, by
// content for strings). Inputs of different templates are never equal.
func (in *Inputs) Equal(other *Inputs) bool {
	if in == other {
		return true
	}
	if in == nil || other == nil || in.hash != other.hash || !slices.Equal(in.names, other.names) {
		return false
	}
	for i := range in.vals {
		a, b := in.vals[i], other.vals[i]
		if in.kinds[i] != other.kinds[i] {
			return false
		}
		if in.kinds[i] == inputNil {
			if a.IsValid() != b.IsValid() || (a.IsValid() && a.Type() != b.Type()) {
				return false
			}
			continue
		}
		if a.Type() != b.Type() {
			return false
		}
		switch in.kinds[i] {
		case inputPlain:
			if !in.lays[i].equal(a.Addr().UnsafePointer(), b.Addr().UnsafePointer()) {
				return false
			}
		case inputSlice:
			if a.Len() != b.Len() {
				return false
			}
			l := in.lays[i]
			pa, pb := a.UnsafePointer(), b.UnsafePointer()
			for k := range a.Len() {
				if !l.equal(unsafe.Add(pa, uintptr(k)*l.size), unsafe.Add(pb, uintptr(k)*l.size)) {
					return false
				}
			}
		case inputMap:
			if !maps.Equal(a.Interface().(map[string]string), b.Interface().(map[string]string)) {
				return false
			}
		}
	}
	return true
}

// Matches reports whether assigns, as they are now, equal the snapshot in
// (as [Inputs.Equal] of a new snapshot would, without making one).
func (in *Inputs) Matches(assigns map[string]any) bool {
	if in == nil || len(assigns) != len(in.names) {
		return false
	}
	for i, name := range in.names {
		a, present := assigns[name]
		if !present {
			return false
		}
		v, s := reflect.ValueOf(a), in.vals[i]
		if in.kinds[i] == inputNil {
			if s.IsValid() != v.IsValid() || (v.IsValid() && (v.Type() != s.Type() || v.Kind() != reflect.Slice || !v.IsNil())) {
				return false
			}
			continue
		}
		if !v.IsValid() || v.Type() != s.Type() {
			return false
		}
		switch in.kinds[i] {
		case inputPlain:
			cp := reflect.New(v.Type()).Elem()
			cp.Set(v)
			if !in.lays[i].equal(cp.Addr().UnsafePointer(), s.Addr().UnsafePointer()) {
				return false
			}
		case inputSlice:
			if v.IsNil() || v.Len() != s.Len() {
				return false
			}
			l := in.lays[i]
			pa, pb := v.UnsafePointer(), s.UnsafePointer()
			for k := range s.Len() {
				if !l.equal(unsafe.Add(pa, uintptr(k)*l.size), unsafe.Add(pb, uintptr(k)*l.size)) {
					return false
				}
			}
		case inputMap:
			if !maps.Equal(a.(map[string]string), s.Interface().(map[string]string)) {
				return false
			}
		}
	}
	return true
}
