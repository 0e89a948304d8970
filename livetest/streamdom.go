package livetest

import (
	"slices"
	"strings"

	"github.com/parley-go/parley/live/diff"
)

// streamDOM models what the browser's DOM keeps of streams: the client
// renders a stream's new items once and forgets them, and its DOM patch
// (dom_patch.ts) keeps the children of phx-update="stream" containers
// across patches, applying inserts, deletes, resets and limits. streamDOM
// does the same on the HTML of each render, so View.HTML shows what the
// page shows.
type streamDOM struct {
	// children of each stream container, by container id, in DOM order.
	children map[string][]*child
}

type child struct {
	id  string
	ref string // the stream ref, "" for a non-stream child
	el  *element
}

// patch rewrites the containers of page (the HTML of one render) with the
// kept children, after applying ops (the stream operations of the render).
func (d *streamDOM) patch(page string, ops []diff.Stream) string {
	doc := parseHTML(page)
	inserts := map[string]struct {
		ref string
		ins diff.Insert
	}{}
	for _, s := range ops {
		for _, in := range s.Inserts {
			inserts[in.DOMID] = struct {
				ref string
				ins diff.Insert
			}{s.Ref, in}
		}
	}
	if d.children == nil {
		d.children = map[string][]*child{}
	}
	// Resets and deletes first, across every container, as the client.
	for _, s := range ops {
		if s.Reset {
			for id, kids := range d.children {
				d.children[id] = slices.DeleteFunc(kids, func(c *child) bool { return c.ref == s.Ref })
			}
		}
		for _, del := range s.Deletes {
			for id, kids := range d.children {
				d.children[id] = slices.DeleteFunc(kids, func(c *child) bool { return c.id == del })
			}
		}
	}
	seen := map[string]bool{}
	for _, cont := range doc.streamContainers() {
		seen[cont.id] = true
		kids := d.children[cont.id]
		for _, el := range cont.elementChildren() {
			id := el.attr("id")
			in, isStream := inserts[id]
			at := slices.IndexFunc(kids, func(c *child) bool { return c.id == id })
			if at >= 0 {
				kids[at].el = el // updated in place
				continue
			}
			if isStream && in.ins.UpdateOnly {
				continue
			}
			c := &child{id: id, el: el}
			if !isStream {
				kids = append(kids, c)
				continue
			}
			c.ref = in.ref
			kids = place(kids, c, in.ins.At)
			kids = limit(kids, in.ins.Limit)
		}
		d.children[cont.id] = kids
		cont.setChildren(kids)
	}
	for id := range d.children {
		if !seen[id] {
			delete(d.children, id)
		}
	}
	return doc.String()
}

// place inserts c as dom_patch.ts's maybeReOrderStream does.
func place(kids []*child, c *child, at int) []*child {
	switch {
	case at == 0:
		return slices.Insert(kids, 0, c)
	case at > 0 && at < len(kids):
		return slices.Insert(kids, at, c)
	}
	return append(kids, c)
}

// limit keeps the first n children (n > 0) or the last -n (n < 0).
func limit(kids []*child, n int) []*child {
	switch {
	case n > 0 && len(kids) > n:
		return kids[:n]
	case n < 0 && len(kids) > -n:
		return kids[len(kids)+n:]
	}
	return kids
}

// element is a node of a small HTML tree that prints back exactly the text
// it was parsed from, unless its children are replaced.
type element struct {
	open  string // the start tag, or the text of a text/comment node
	close string // the end tag, or ""
	tag   string // "" for text and comments
	id    string // set on stream containers
	kids  []*element
}

var voidTags = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true,
	"hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

var rawTags = map[string]bool{"script": true, "style": true, "textarea": true, "title": true}

// parseHTML parses well-formed-enough HTML (what templates render).
func parseHTML(s string) *element {
	root := &element{}
	stack := []*element{root}
	top := func() *element { return stack[len(stack)-1] }
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i != 0 {
			if i < 0 {
				i = len(s)
			}
			top().kids = append(top().kids, &element{open: s[:i]})
			s = s[i:]
			continue
		}
		if strings.HasPrefix(s, "<!--") {
			end := strings.Index(s, "-->")
			if end < 0 {
				end = len(s) - 3
			}
			top().kids = append(top().kids, &element{open: s[:end+3]})
			s = s[end+3:]
			continue
		}
		n := tagEnd(s)
		tok := s[:n]
		s = s[n:]
		if strings.HasPrefix(tok, "</") {
			name := strings.ToLower(strings.TrimSpace(strings.Trim(tok, "</>")))
			for j := len(stack) - 1; j > 0; j-- {
				if stack[j].tag == name {
					stack[j].close = tok
					stack = stack[:j]
					break
				}
			}
			continue
		}
		el := &element{open: tok, tag: tagName(tok)}
		top().kids = append(top().kids, el)
		if el.tag == "" || voidTags[el.tag] || strings.HasSuffix(tok, "/>") || strings.HasPrefix(tok, "<!") {
			continue
		}
		if rawTags[el.tag] {
			end := strings.Index(strings.ToLower(s), "</"+el.tag)
			if end < 0 {
				end = len(s)
			}
			el.kids = []*element{{open: s[:end]}}
			s = s[end:]
			closeEnd := strings.IndexByte(s, '>')
			el.close = s[:closeEnd+1]
			s = s[closeEnd+1:]
			continue
		}
		stack = append(stack, el)
	}
	return root
}

// tagEnd returns the length of the tag at the start of s, quotes included.
func tagEnd(s string) int {
	var quote byte
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return len(s)
}

func tagName(tok string) string {
	t := strings.TrimPrefix(tok, "<")
	end := strings.IndexAny(t, " \t\n\r/>")
	if end < 0 {
		end = len(t)
	}
	return strings.ToLower(t[:end])
}

// attr returns the value of the start tag's attribute name, or "".
func (e *element) attr(name string) string {
	t := e.open
	for i := 0; i < len(t); {
		j := strings.Index(t[i:], name+"=")
		if j < 0 {
			return ""
		}
		j += i
		k := j + len(name) + 1
		if j > 0 && (t[j-1] == ' ' || t[j-1] == '\t' || t[j-1] == '\n') && k < len(t) {
			q := t[k]
			if q == '"' || q == '\'' {
				end := strings.IndexByte(t[k+1:], q)
				if end >= 0 {
					return t[k+1 : k+1+end]
				}
			}
		}
		i = k
	}
	return ""
}

func (e *element) streamContainers() []*element {
	var out []*element
	var walk func(*element)
	walk = func(n *element) {
		if n.tag != "" && n.attr("phx-update") == "stream" && n.attr("id") != "" {
			n.id = n.attr("id")
			out = append(out, n)
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(e)
	return out
}

func (e *element) elementChildren() []*element {
	var out []*element
	for _, k := range e.kids {
		if k.tag != "" {
			out = append(out, k)
		}
	}
	return out
}

func (e *element) setChildren(kids []*child) {
	e.kids = e.kids[:0]
	for _, c := range kids {
		e.kids = append(e.kids, c.el)
	}
}

func (e *element) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *element) write(b *strings.Builder) {
	b.WriteString(e.open)
	for _, k := range e.kids {
		k.write(b)
	}
	b.WriteString(e.close)
}
