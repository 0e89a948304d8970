package diff

import "fmt"

// HTML renders the server tree n to HTML, as a dead render or to compare
// with what the client shows. Stream comprehensions render the entries they
// hold. It fails on [Unchanged] markers and component ids.
func HTML(n *Node) (string, error) {
	b, err := AppendHTML(nil, n)
	return string(b), err
}

// AppendHTML appends the HTML of n to dst; see [HTML].
func AppendHTML(dst []byte, n *Node) ([]byte, error) {
	if n == nil {
		return dst, fmt.Errorf("%w: nil node", ErrShape)
	}
	return appendHTMLParts(dst, n.Statics, n.Dynamics)
}

func appendHTMLParts(b []byte, statics []string, dyns []Dyn) ([]byte, error) {
	if len(statics) == 0 || len(dyns) != len(statics)-1 {
		return b, fmt.Errorf("%w: %d statics, %d dynamics", ErrShape, len(statics), len(dyns))
	}
	var err error
	for i := range dyns {
		b = append(b, statics[i]...)
		d := &dyns[i]
		switch d.kind {
		case KindText:
			b = append(b, d.text...)
		case KindNode:
			b, err = AppendHTML(b, d.node)
		case KindComprehension:
			c := d.comp
			if c == nil {
				return b, fmt.Errorf("%w: nil comprehension", ErrShape)
			}
			for k := range c.Entries {
				if b, err = appendHTMLParts(b, c.Statics, c.Entries[k].Dynamics); err != nil {
					break
				}
			}
		case KindComponent:
			err = ErrComponent
		default:
			err = ErrUnresolved
		}
		if err != nil {
			return b, err
		}
	}
	return append(b, statics[len(statics)-1]...), nil
}
