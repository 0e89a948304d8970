package diff

import (
	"strconv"

	"github.com/parley-go/parley/internal/jsonstr"
)

// appendString appends s as a JSON string: the module's one escaper,
// [jsonstr.Append] (U+2028 and U+2029 escaped, <, > and & left alone,
// invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte { return jsonstr.Append(b, s) }

// appendKey appends "i": for a dynamic or entry index.
func appendKey(b []byte, i int) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '"', ':')
}

// appendStatics appends statics as a JSON array of strings.
func appendStatics(b []byte, statics []string) []byte {
	b = append(b, '[')
	for i, s := range statics {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}
