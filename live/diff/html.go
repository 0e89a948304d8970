package diff

import (
	"fmt"
	"strconv"
)

// HTML renders the server tree n to HTML, as a dead render or to compare
// with what the client shows. Stream comprehensions render the entries they
// hold. Components render from n.Components with data-phx-component="<cid>"
// added to their root element, as [Tree.HTML] does. It fails on [Unchanged]
// markers and on component ids missing from n.Components.
func HTML(n *Node) (string, error) {
	b, err := AppendHTML(nil, n)
	return string(b), err
}

// AppendHTML appends the HTML of n to dst; see [HTML].
func AppendHTML(dst []byte, n *Node) ([]byte, error) {
	if n == nil {
		return dst, fmt.Errorf("%w: nil node", ErrShape)
	}
	h := htmlWriter{comps: n.Components}
	return h.parts(dst, n.Statics, n.Dynamics)
}

type htmlWriter struct {
	comps map[int32]*Node
	depth int // of components, against cycles
}

func (h *htmlWriter) parts(b []byte, statics []string, dyns []Dyn) ([]byte, error) {
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
			if d.node == nil {
				return b, fmt.Errorf("%w: nil node", ErrShape)
			}
			b, err = h.parts(b, d.node.Statics, d.node.Dynamics)
		case KindComprehension:
			c := d.comp
			if c == nil {
				return b, fmt.Errorf("%w: nil comprehension", ErrShape)
			}
			for k := range c.Entries {
				if b, err = h.parts(b, c.Statics, c.Entries[k].Dynamics); err != nil {
					break
				}
			}
		case KindComponent:
			b, err = h.component(b, d.cid)
		default:
			err = ErrUnresolved
		}
		if err != nil {
			return b, err
		}
	}
	return append(b, statics[len(statics)-1]...), nil
}

func (h *htmlWriter) component(b []byte, cid int32) ([]byte, error) {
	c := h.comps[cid]
	if c == nil {
		return b, fmt.Errorf("%w: cid %d", ErrComponent, cid)
	}
	if h.depth >= maxDepth {
		return b, fmt.Errorf("%w: components nested too deeply", ErrShape)
	}
	h.depth++
	start := len(b)
	b, err := h.parts(b, c.Statics, c.Dynamics)
	h.depth--
	if err != nil {
		return b, err
	}
	return tagComponent(b, start, int(cid))
}

// tagComponent adds data-phx-component="<cid>" to the start tag of the root
// element of the component rendered at b[start:], right after the tag name,
// where the client's modifyRoot puts its attributes. Like the client, it
// skips leading whitespace and comments and fails when no tag follows.
func tagComponent(b []byte, start, cid int) ([]byte, error) {
	i := start
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i+4 <= len(b) && string(b[i:i+4]) == "<!--" {
			end := -1
			for k := i + 4; k+3 <= len(b); k++ {
				if string(b[k:k+3]) == "-->" {
					end = k + 3
					break
				}
			}
			if end < 0 {
				break
			}
			i = end
			continue
		}
		break
	}
	if i >= len(b) || b[i] != '<' {
		return b, fmt.Errorf("%w: component %d does not start with a tag", ErrMalformed, cid)
	}
	j := i + 1
	for j < len(b) && !isSpace(b[j]) && b[j] != '/' && b[j] != '>' {
		j++
	}
	if j == i+1 {
		return b, fmt.Errorf("%w: component %d does not start with a tag", ErrMalformed, cid)
	}
	attr := ` data-phx-component="` + strconv.Itoa(cid) + `"`
	b = append(b, attr...)
	copy(b[j+len(attr):], b[j:len(b)-len(attr)])
	copy(b[j:], attr)
	return b, nil
}

// isSpace is JavaScript's \s over ASCII.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
