package render

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"

	"github.com/parley-go/parley/live/diff"
)

// Names of the functions an executor adds to its template set. They are
// inserted into the parse trees after html/template has escaped them, so
// they are never escaped and users cannot call them by accident (html/template
// itself reserves names starting with "_html_template_").
const (
	guardFunc     = "_parley_guard"
	keyFunc       = "_parley_key"
	stopFunc      = "_parley_stop"
	rangeFunc     = "_parley_range"      // wraps the pipeline of a range without else
	pairFunc      = "_parley_range_pair" // the same, for a range with two variables
	elseFunc      = "_parley_range_else" // wraps the pipeline of a range with else
	trackFunc     = "_parley_track"      // ends the pipeline of a range tracked per item
	domIDFunc     = "domid"
	componentFunc = "live_component"
	userKey       = "key"
	derived       = "$htmltemplate_" // html/template's infix of templates escaped in another context
)

var errStop = errors.New("render: stop after escaping")

func stop() (string, error) { return "", errStop }

// plan is the compiled form of one list of nodes: a template body, a branch
// or a range body.
type plan struct {
	statics []string
	fp      uint64
	holes   []*hole
	// breaks is set when the list ends in {{break}} or {{continue}}: its
	// statics stop there, and the enclosing iteration ends with it.
	breaks bool
	// mayBreak is set when executing the list can end the iteration.
	mayBreak bool
	// cut[i], for a hole i that may break, holds the statics of the list cut
	// short after hole i.
	cut map[int]variant
	// done is false while the plan of a template is being compiled (it may
	// call itself).
	done bool
}

type variant struct {
	statics []string
	fp      uint64
}

type holeKind uint8

const (
	leafHole holeKind = iota // text: one action, or an opaque template call
	condHole                 // if / with chain: one nested node per branch
	loopHole                 // range: a comprehension, or the else branch
	callHole                 // template call: the called template's node
)

type hole struct {
	kind  holeKind
	guard int // index into the guards, or -1
	// mark is the marker written before a leaf; the first of the branch
	// markers of a cond; the iteration marker of a loop (mark+1 starts its
	// else branch, mark+2 follows it).
	mark     int
	branches []*plan // cond; nil for an absent else
	body     *plan   // loop
	els      *plan   // loop; nil when the range has no else
	target   *plan   // call
	mayBreak bool
}

// executor is one private, escaped and transformed copy of the template
// set, with its output buffer. It is used by one Render at a time.
type executor struct {
	c    *compiled
	root *template.Template
	sink sink
	eval []bool // per guard: evaluate in this render
	// full: this render evaluates everything (no Changes); memo: the
	// caller's memo (nil: no per-item tracking); runs: per tracked range.
	full bool
	memo *Memo
	runs []trackRun
	// domID is the DOM id of the stream item being rendered (domid).
	domID string
	// resolve turns the arguments of live_component into a component id
	// ([Options.Component]); nil outside RenderWith.
	resolve func(args []any) (int32, error)
}

func (x *executor) guard(i int) bool { return x.eval[i] }

func (x *executor) key(v any) string {
	x.sink.ev = append(x.sink.ev, event{id: keyEvent, off: len(x.sink.buf), key: fmt.Sprint(v)})
	return ""
}

// build clones the master set, lets html/template escape it, and compiles
// it. The first build also records the plan in c.
func (c *compiled) build(first bool) (*executor, error) {
	clone, err := c.master.Clone()
	if err != nil {
		return nil, err
	}
	x := &executor{c: c}
	clone.Funcs(template.FuncMap{
		guardFunc: x.guard, keyFunc: x.key, stopFunc: stop, trackFunc: x.track,
		rangeFunc: x.rangeSource, pairFunc: x.rangeSourcePairs, elseFunc: x.rangeSourceElse, domIDFunc: x.domid,
		componentFunc: x.component,
	})
	root := clone.Lookup(c.name)
	if root == nil || root.Tree == nil || root.Tree.Root == nil {
		return nil, fmt.Errorf("template %q is undefined or empty", c.name)
	}

	// Escape without executing user code: the first action of the root
	// fails. An action in the text context leaves the context as it was,
	// so it does not change how the rest is escaped.
	stopNode := &parse.ActionNode{NodeType: parse.NodeAction, Pipe: pipe(command(parse.NewIdentifier(stopFunc)))}
	list := root.Tree.Root
	list.Nodes = append([]parse.Node{stopNode}, list.Nodes...)
	err = root.Execute(io.Discard, nil)
	if !errors.Is(err, errStop) {
		if err == nil {
			err = fmt.Errorf("%w: escaping did not stop", ErrInternal)
		}
		return nil, err
	}
	if len(list.Nodes) == 0 || list.Nodes[0] != stopNode {
		return nil, fmt.Errorf("%w: escaped root lost its first node", ErrInternal)
	}
	list.Nodes = list.Nodes[1:]
	x.root = root

	cp := &compiler{
		c:       c,
		html:    clone,
		plans:   map[string]*plan{},
		nameIdx: map[string]int{},
		an:      newAnalyzer(c.master),
	}
	cp.findStructured()
	if !cp.structured[c.name] {
		// The root itself runs unmodified: one text dynamic.
		if first {
			c.root = nil
		}
		return x, nil
	}
	cp.guardsOn = !cp.calledByOthers(c.name)
	p, err := cp.templatePlan(c.name)
	if err != nil {
		return nil, err
	}
	if first {
		c.root = p
		c.arena = make([]byte, len(cp.marks))
		c.nmarks = len(cp.marks)
		c.guards = cp.guards
		c.names = cp.names
		c.tracks = cp.tracks
	} else if len(cp.marks) != c.nmarks || len(cp.guards) != len(c.guards) || len(cp.tracks) != len(c.tracks) {
		return nil, fmt.Errorf("%w: executors differ", ErrInternal)
	}
	for id, n := range cp.marks {
		n.Text = c.arena[id : id+1]
	}
	x.sink.arena = c.arena
	x.eval = make([]bool, len(c.guards))
	x.runs = make([]trackRun, len(c.tracks))
	return x, nil
}

type compiler struct {
	c          *compiled
	html       *template.Template // the escaped clone
	structured map[string]bool
	plans      map[string]*plan
	marks      []*parse.TextNode // marker nodes by id
	guards     []guard
	names      []string
	nameIdx    map[string]int
	guardsOn   bool
	tracks     []trackPlan
	an         *analyzer
	calls      map[string][]string // escaped call graph, from findStructured
}

// escapedTree returns the escaped tree of a template of the clone.
func (cp *compiler) escapedTree(name string) *parse.Tree {
	if t := cp.html.Lookup(name); t != nil && t.Tree != nil && t.Tree.Root != nil {
		return t.Tree
	}
	return nil
}

// findStructured decides which templates are compiled into plans. A
// template that html/template escaped in another context than text is
// executed from a copy this package cannot see (and so cannot transform);
// the copy calls the templates that the original calls. Those templates,
// transitively, must keep their text nodes, so they run unmodified and
// their calls are opaque text dynamics.
func (cp *compiler) findStructured() {
	cp.calls = map[string][]string{}
	reach := map[string]bool{}
	var opaque []string
	var visit func(name string)
	visit = func(name string) {
		if reach[name] {
			return
		}
		reach[name] = true
		tr := cp.escapedTree(name)
		if tr == nil {
			return
		}
		walkTemplates(tr.Root, func(n *parse.TemplateNode) {
			if i := strings.Index(n.Name, derived); i >= 0 {
				opaque = append(opaque, n.Name[:i])
				return
			}
			cp.calls[name] = append(cp.calls[name], n.Name)
			visit(n.Name)
		})
	}
	visit(cp.c.name)
	unstructured := map[string]bool{}
	var mark func(name string)
	mark = func(name string) {
		if unstructured[name] {
			return
		}
		unstructured[name] = true
		if t := cp.c.master.Lookup(name); t != nil && t.Tree != nil && t.Tree.Root != nil {
			walkTemplates(t.Tree.Root, func(n *parse.TemplateNode) { mark(n.Name) })
		}
	}
	for _, name := range opaque {
		mark(name)
	}
	cp.structured = map[string]bool{}
	for name := range reach {
		if !unstructured[name] && cp.escapedTree(name) != nil {
			cp.structured[name] = true
		}
	}
}

// calledByOthers reports whether some template reachable from the root
// calls name (then the root's tree runs nested too, where its guards would
// be wrong).
func (cp *compiler) calledByOthers(name string) bool {
	for _, callees := range cp.calls {
		if slices.Contains(callees, name) {
			return true
		}
	}
	return false
}

func walkTemplates(n parse.Node, f func(*parse.TemplateNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, m := range n.Nodes {
			walkTemplates(m, f)
		}
	case *parse.IfNode:
		walkTemplates(n.List, f)
		walkTemplates(n.ElseList, f)
	case *parse.WithNode:
		walkTemplates(n.List, f)
		walkTemplates(n.ElseList, f)
	case *parse.RangeNode:
		walkTemplates(n.List, f)
		walkTemplates(n.ElseList, f)
	case *parse.TemplateNode:
		f(n)
	}
}

// templatePlan compiles (once) the structured template name, transforming
// its escaped tree in place.
func (cp *compiler) templatePlan(name string) (*plan, error) {
	if p, ok := cp.plans[name]; ok {
		return p, nil
	}
	p := &plan{}
	cp.plans[name] = p
	tr := cp.escapedTree(name)
	lc := listCtx{}
	if name == cp.c.name && cp.guardsOn {
		lc.guarded = true
		lc.env = cp.an.rootEnv(tr)
	}
	got, nodes, err := cp.list(tr.Root.Nodes, lc)
	if err != nil {
		return nil, err
	}
	*p = *got
	p.done = true
	tr.Root.Nodes = nodes
	return p, nil
}

// listCtx is what a list's compilation needs to know about its place.
type listCtx struct {
	rangeBody bool // directly in a range body: {{key}} counts
	guarded   bool // holes may get guards (root template, outside ranges)
	env       *env // analysis environment, when guarded
	cond      val  // deps of the enclosing conditions, when guarded
}

func (cp *compiler) marker() (int, *parse.TextNode) {
	n := &parse.TextNode{NodeType: parse.NodeText}
	cp.marks = append(cp.marks, n)
	return len(cp.marks) - 1, n
}

// markers allocates k consecutive markers.
func (cp *compiler) markers(k int) (int, []*parse.TextNode) {
	first := len(cp.marks)
	nodes := make([]*parse.TextNode, k)
	for i := range nodes {
		_, nodes[i] = cp.marker()
	}
	return first, nodes
}

// list compiles nodes into a plan and returns the nodes to execute in their
// place: the text removed, markers added.
func (cp *compiler) list(nodes []parse.Node, lc listCtx) (*plan, []parse.Node, error) {
	p := &plan{}
	var static strings.Builder
	var out []parse.Node
	addHole := func(h *hole, exec []parse.Node, deps val) {
		p.statics = append(p.statics, static.String())
		static.Reset()
		p.holes = append(p.holes, h)
		h.guard = -1
		if lc.guarded {
			deps = deps.union(lc.cond)
			if !deps.all {
				h.guard = cp.addGuard(deps)
				exec = []parse.Node{guardNode(h.guard, exec)}
			}
		}
		out = append(out, exec...)
	}
	env := lc.env
	for _, n := range nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			static.Write(n.Text)
		case *parse.CommentNode:
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				if lc.guarded {
					env = cp.an.declare(env, n.Pipe)
				}
				out = append(out, n)
				continue
			}
			if lc.rangeBody && !cp.c.ownKey && isKeyAction(n) {
				n.Pipe.Cmds[0].Args[0] = parse.NewIdentifier(keyFunc).SetPos(n.Pos)
				if len(n.Pipe.Cmds) == 2 && isIdent(n.Pipe.Cmds[1], "_html_template_htmlescaper") {
					// Text context: escaping "" gives "", so it prints nothing.
					n.Pipe.Cmds = n.Pipe.Cmds[:1]
					out = append(out, n)
					continue
				}
			}
			if cmds := n.Pipe.Cmds; isIdent(cmds[len(cmds)-1], "_html_template_commentescaper") {
				// Inside an HTML comment, which html/template drops: the
				// escaper prints nothing whatever its input.
				out = append(out, n)
				continue
			}
			id, m := cp.marker()
			var deps val
			if lc.guarded {
				deps = cp.an.action(env, n)
			}
			addHole(&hole{kind: leafHole, mark: id}, []parse.Node{m, n}, deps)
		case *parse.IfNode, *parse.WithNode:
			var deps val
			if lc.guarded {
				deps = cp.an.node(env, n)
			}
			h, err := cp.cond(n, lc, env)
			if err != nil {
				return nil, nil, err
			}
			addHole(h, []parse.Node{n}, deps)
		case *parse.RangeNode:
			var deps val
			if lc.guarded {
				deps = cp.an.node(env, n)
			}
			// Tracked per item (track.go): decided on the body as escaped,
			// before it is transformed.
			var outer []string
			tracked := false
			if lc.guarded {
				outer, tracked = cp.trackable(env, n)
			}
			first, ms := cp.markers(3)
			body, bodyNodes, err := cp.list(n.List.Nodes, listCtx{rangeBody: true})
			if err != nil {
				return nil, nil, err
			}
			// The range source goes through a function that turns a
			// Stream into its pending items (see stream.go), or that
			// passes on only the changed items of a tracked range.
			wrap := command(parse.NewIdentifier(rangeFunc).SetPos(n.Pos))
			switch {
			case tracked && !body.mayBreak:
				tp := trackPlan{keyed: hasKey(bodyNodes)}
				for _, name := range outer {
					tp.names = append(tp.names, cp.nameIndex(name))
				}
				cp.tracks = append(cp.tracks, tp)
				wrap = command(parse.NewIdentifier(trackFunc).SetPos(n.Pos), number(len(cp.tracks)-1))
			case n.ElseList != nil:
				wrap = command(parse.NewIdentifier(elseFunc).SetPos(n.Pos))
			case len(n.Pipe.Decl) > 1:
				wrap = command(parse.NewIdentifier(pairFunc).SetPos(n.Pos))
			}
			n.Pipe.Cmds = append(n.Pipe.Cmds, wrap)
			n.List.Nodes = append([]parse.Node{ms[0]}, bodyNodes...)
			h := &hole{kind: loopHole, mark: first, body: body}
			if n.ElseList != nil {
				els, elseNodes, err := cp.list(n.ElseList.Nodes, listCtx{})
				if err != nil {
					return nil, nil, err
				}
				if els.mayBreak {
					// {{break}} in the else of a range belongs to an outer
					// range; the else node is then cut short like a branch.
					h.mayBreak = true
				}
				n.ElseList.Nodes = append([]parse.Node{ms[1]}, elseNodes...)
				h.els = els
			}
			addHole(h, []parse.Node{n, ms[2]}, deps)
		case *parse.TemplateNode:
			var deps val
			if lc.guarded {
				deps = cp.an.node(env, n)
			}
			if !cp.structured[n.Name] {
				id, m := cp.marker()
				addHole(&hole{kind: leafHole, mark: id}, []parse.Node{m, n}, deps)
				continue
			}
			target, err := cp.templatePlan(n.Name)
			if err != nil {
				return nil, nil, err
			}
			if target.done && len(target.holes) == 0 {
				// Nothing dynamic: inline its text, keep running it (its
				// declarations may fail).
				static.WriteString(target.statics[0])
				out = append(out, n)
				continue
			}
			addHole(&hole{kind: callHole, target: target}, []parse.Node{n}, deps)
		case *parse.BreakNode, *parse.ContinueNode:
			out = append(out, n)
			p.breaks = true
			p.mayBreak = true
			goto done
		default:
			return nil, nil, fmt.Errorf("%w: unexpected node %T", ErrInternal, n)
		}
	}
done:
	p.statics = append(p.statics, static.String())
	p.fp = diff.Fingerprint(p.statics)
	for i, h := range p.holes {
		if h.mayBreak {
			p.mayBreak = true
			if p.cut == nil {
				p.cut = map[int]variant{}
			}
			st := append(slices.Clone(p.statics[:i+1]), "")
			p.cut[i] = variant{statics: st, fp: diff.Fingerprint(st)}
		}
	}
	p.done = true
	return p, out, nil
}

// cond compiles an if or with node, with its else-if / else-with chain, into
// one hole whose branches are numbered in order; the branch markers are
// consecutive.
func (cp *compiler) cond(n parse.Node, lc listCtx, env *env) (*hole, error) {
	type link struct {
		kind parse.NodeType
		br   *parse.BranchNode
	}
	var chain []link
	for cur := n; ; {
		var br *parse.BranchNode
		switch c := cur.(type) {
		case *parse.IfNode:
			br = &c.BranchNode
		case *parse.WithNode:
			br = &c.BranchNode
		}
		chain = append(chain, link{cur.Type(), br})
		if br.ElseList != nil && len(br.ElseList.Nodes) == 1 {
			switch next := br.ElseList.Nodes[0].(type) {
			case *parse.IfNode, *parse.WithNode:
				cur = next
				continue
			}
		}
		break
	}
	first, ms := cp.markers(len(chain) + 1)
	h := &hole{kind: condHole, mark: first, branches: make([]*plan, len(chain)+1)}
	sub := listCtx{guarded: lc.guarded}
	if lc.guarded {
		sub.cond = lc.cond
		for _, l := range chain {
			sub.cond = sub.cond.union(cp.an.condition(env, l.br.Pipe))
		}
	}
	benv := env
	for i, l := range chain {
		bc := sub
		if lc.guarded {
			bc.env = cp.an.branchEnv(benv, l.kind, l.br.Pipe)
			// Variables declared by a condition stay visible in the later
			// branches; dot does not.
			benv = cp.an.declare(benv, l.br.Pipe)
		}
		p, nodes, err := cp.list(l.br.List.Nodes, bc)
		if err != nil {
			return nil, err
		}
		l.br.List.Nodes = append([]parse.Node{ms[i]}, nodes...)
		h.branches[i] = p
		h.mayBreak = h.mayBreak || p.mayBreak
	}
	last := chain[len(chain)-1].br
	if last.ElseList == nil {
		last.ElseList = &parse.ListNode{NodeType: parse.NodeList, Nodes: []parse.Node{ms[len(chain)]}}
		return h, nil
	}
	bc := sub
	bc.env = benv
	p, nodes, err := cp.list(last.ElseList.Nodes, bc)
	if err != nil {
		return nil, err
	}
	last.ElseList.Nodes = append([]parse.Node{ms[len(chain)]}, nodes...)
	h.branches[len(chain)] = p
	h.mayBreak = h.mayBreak || p.mayBreak
	return h, nil
}

func (cp *compiler) addGuard(deps val) int {
	g := guard{}
	for _, name := range deps.names {
		g.names = append(g.names, cp.nameIndex(name))
	}
	cp.guards = append(cp.guards, g)
	return len(cp.guards) - 1
}

// nameIndex returns the index of the assign name in compiled.names.
func (cp *compiler) nameIndex(name string) int {
	i, ok := cp.nameIdx[name]
	if !ok {
		i = len(cp.names)
		cp.names = append(cp.names, name)
		cp.nameIdx[name] = i
	}
	return i
}

// hasKey reports whether a compiled range body holds a top-level {{key}}.
func hasKey(nodes []parse.Node) bool {
	for _, n := range nodes {
		if a, ok := n.(*parse.ActionNode); ok && len(a.Pipe.Cmds) > 0 && isIdent(a.Pipe.Cmds[0], keyFunc) {
			return true
		}
	}
	return false
}

func number(i int) *parse.NumberNode {
	return &parse.NumberNode{NodeType: parse.NodeNumber, IsInt: true, Int64: int64(i), Text: strconv.Itoa(i)}
}

// isKeyAction reports whether n is {{key X}} as escaped: key X followed only
// by html/template's escapers.
func isKeyAction(n *parse.ActionNode) bool {
	cmds := n.Pipe.Cmds
	if len(cmds) == 0 || len(cmds[0].Args) != 2 || !isIdent(cmds[0], userKey) {
		return false
	}
	for _, c := range cmds[1:] {
		if len(c.Args) != 1 {
			return false
		}
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok || !strings.HasPrefix(id.Ident, "_html_template_") {
			return false
		}
	}
	return true
}

func isIdent(c *parse.CommandNode, name string) bool {
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == name
}

func command(args ...parse.Node) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Args: args}
}

func pipe(cmds ...*parse.CommandNode) *parse.PipeNode {
	return &parse.PipeNode{NodeType: parse.NodePipe, Cmds: cmds}
}

// guardNode wraps nodes in {{if _parley_guard i}}…{{end}}.
func guardNode(i int, nodes []parse.Node) parse.Node {
	num := number(i)
	return &parse.IfNode{BranchNode: parse.BranchNode{
		NodeType: parse.NodeIf,
		Pipe:     pipe(command(parse.NewIdentifier(guardFunc), num)),
		List:     &parse.ListNode{NodeType: parse.NodeList, Nodes: nodes},
	}}
}
