package live

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadForm is wrapped by form decoding errors.
var ErrBadForm = errors.New("live: bad form encoding")

// Limits of DecodeForm. Over the live socket a message is also bounded by
// the transport (1 MiB by default).
const (
	// maxFormDepth bounds key nesting, as Plug does.
	maxFormDepth = 32
	// MaxFormFields bounds the number of fields of one form.
	MaxFormFields = 10000
	// MaxFormValue bounds the decoded size of one value.
	MaxFormValue = 1 << 20
)

// DecodeForm decodes a URL-encoded form the way Phoenix (Plug) does: "a=1"
// is a string, "a[b]=1" nests maps, "a[]=1&a[]=2" makes a list, later
// scalars win. Values are string, []any or map[string]any.
//
// A form with more than [MaxFormFields] fields, a value longer than
// [MaxFormValue] or a key nested deeper than 32 levels is an error
// wrapping ErrBadForm, and nothing of it is decoded.
func DecodeForm(encoded string) (map[string]any, error) {
	out := map[string]any{}
	fields := 0
	for encoded != "" {
		var pair string
		pair, encoded, _ = strings.Cut(encoded, "&")
		if pair == "" {
			continue
		}
		if fields++; fields > MaxFormFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrBadForm, MaxFormFields)
		}
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrBadForm, rawKey, err)
		}
		if len(rawVal) > 3*MaxFormValue {
			return nil, fmt.Errorf("%w: value of %q longer than %d bytes", ErrBadForm, key, MaxFormValue)
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("%w: value of %q: %v", ErrBadForm, key, err)
		}
		if len(val) > MaxFormValue {
			return nil, fmt.Errorf("%w: value of %q longer than %d bytes", ErrBadForm, key, MaxFormValue)
		}
		path, err := splitKey(key)
		if err != nil {
			return nil, err
		}
		if err := assign(out, path, val); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// splitKey turns "user[address][]" into ["user", "address", ""].
func splitKey(key string) ([]string, error) {
	head, rest, nested := strings.Cut(key, "[")
	path := []string{head}
	if !nested {
		return path, nil
	}
	rest = "[" + rest
	for rest != "" {
		if rest[0] != '[' {
			// Trailing garbage after a bracket: Plug keeps it literally.
			path[len(path)-1] += rest
			break
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			path[len(path)-1] += rest
			break
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
		if len(path) > maxFormDepth {
			return nil, fmt.Errorf("%w: key %q nests deeper than %d", ErrBadForm, key, maxFormDepth)
		}
	}
	return path, nil
}

func assign(m map[string]any, path []string, val string) error {
	key := path[0]
	if len(path) == 1 {
		m[key] = val
		return nil
	}
	if path[1] == "" { // a list: key[]
		list, _ := m[key].([]any)
		if len(path) == 2 {
			m[key] = append(list, val)
			return nil
		}
		// key[][field]: start a new map unless the last one lacks field.
		var last map[string]any
		if n := len(list); n > 0 {
			if lm, ok := list[n-1].(map[string]any); ok && !hasPath(lm, path[2:]) {
				last = lm
			}
		}
		if last == nil {
			last = map[string]any{}
			list = append(list, last)
		}
		m[key] = list
		return assign(last, path[2:], val)
	}
	child, ok := m[key].(map[string]any)
	if !ok {
		child = map[string]any{}
		m[key] = child
	}
	return assign(child, path[1:], val)
}

func hasPath(m map[string]any, path []string) bool {
	v, ok := m[path[0]]
	if !ok {
		return false
	}
	if len(path) == 1 {
		return true
	}
	child, ok := v.(map[string]any)
	return ok && path[1] != "" && hasPath(child, path[1:])
}

// targetPath turns a form event's _target ("user[email]") into its path.
func targetPath(target string) []string {
	if target == "" || target == "undefined" {
		return nil
	}
	p, err := splitKey(target)
	if err != nil {
		return nil
	}
	return p
}
