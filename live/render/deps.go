package render

import (
	"html/template"
	"slices"
	"strings"
	"text/template/parse"
)

// val is what the analysis knows of a value: the top-level assigns it was
// computed from, or that it is the data itself (root), or nothing (all).
type val struct {
	all   bool     // may depend on anything
	root  bool     // the data itself, not read yet
	names []string // sorted assigns read
}

var valAll = val{all: true}

// consume is the value as used (printed, tested, passed to a function):
// using the data itself reads all of it.
func (v val) consume() val {
	if v.root {
		return valAll
	}
	return v
}

func (v val) union(w val) val {
	v, w = v.consume(), w.consume()
	if v.all || w.all {
		return valAll
	}
	if len(w.names) == 0 {
		return v
	}
	if len(v.names) == 0 {
		return w
	}
	names := slices.Concat(v.names, w.names)
	slices.Sort(names)
	return val{names: slices.Compact(names)}
}

// field is v.name: on the data, it reads the assign name; on anything else
// it reads nothing more.
func (v val) field(name string) val {
	if v.root {
		return val{names: []string{name}}
	}
	return v
}

func (v val) key() string {
	switch {
	case v.all:
		return "*"
	case v.root:
		return "."
	}
	return strings.Join(v.names, ",")
}

// env is the analysis environment of a list: dot and the variables.
type env struct {
	dot      val
	vars     *scope
	assigned map[string]bool // variables assigned with = somewhere: unknown
}

type scope struct {
	name string
	v    val
	up   *scope
}

func (e *env) lookup(name string) val {
	if e.assigned[name] {
		return valAll
	}
	for s := e.vars; s != nil; s = s.up {
		if s.name == name {
			return s.v
		}
	}
	return valAll
}

func (e *env) with(dot val) *env {
	c := *e
	c.dot = dot
	return &c
}

func (e *env) bind(name string, v val) *env {
	c := *e
	c.vars = &scope{name: name, v: v, up: e.vars}
	return &c
}

// analyzer computes which assigns the nodes of a template read. Called
// templates are analysed on their unescaped trees in master (the escapers
// html/template adds are pure functions and change nothing).
type analyzer struct {
	master   *template.Template
	memo     map[string]val
	visiting map[string]bool
}

func newAnalyzer(master *template.Template) *analyzer {
	return &analyzer{master: master, memo: map[string]val{}, visiting: map[string]bool{}}
}

func (a *analyzer) rootEnv(tr *parse.Tree) *env {
	e := &env{dot: val{root: true}, assigned: assignedVars(tr.Root)}
	return e.bind("$", val{root: true})
}

// declare returns env after the declarations of p, if any.
func (a *analyzer) declare(e *env, p *parse.PipeNode) *env {
	if p == nil || len(p.Decl) == 0 || p.IsAssign {
		return e
	}
	v := a.pipe(e, p)
	for _, d := range p.Decl {
		e = e.bind(d.Ident[0], v)
	}
	return e
}

// condition is what testing the pipeline of an if or with reads.
func (a *analyzer) condition(e *env, p *parse.PipeNode) val {
	if p.IsAssign {
		return valAll
	}
	return a.pipe(e, p).consume()
}

// branchEnv is the environment of the branch guarded by p.
func (a *analyzer) branchEnv(e *env, kind parse.NodeType, p *parse.PipeNode) *env {
	inner := a.declare(e, p)
	if kind == parse.NodeWith {
		inner = inner.with(a.pipe(e, p))
	}
	return inner
}

// action is what printing the action n reads.
func (a *analyzer) action(e *env, n *parse.ActionNode) val {
	if n.Pipe.IsAssign {
		return valAll
	}
	return a.pipe(e, n.Pipe).consume()
}

// node is what executing n reads (a hole's dependencies).
func (a *analyzer) node(e *env, n parse.Node) val {
	switch n := n.(type) {
	case *parse.ActionNode:
		return a.action(e, n)
	case *parse.IfNode:
		return a.branches(e, parse.NodeIf, &n.BranchNode)
	case *parse.WithNode:
		return a.branches(e, parse.NodeWith, &n.BranchNode)
	case *parse.RangeNode:
		if n.Pipe.IsAssign {
			return valAll
		}
		v := a.pipe(e, n.Pipe).consume()
		body := e.with(v)
		for _, d := range n.Pipe.Decl {
			body = body.bind(d.Ident[0], v)
		}
		deps := v.union(a.list(body, n.List))
		if n.ElseList != nil {
			deps = deps.union(a.list(e, n.ElseList))
		}
		return deps
	case *parse.TemplateNode:
		arg := val{}
		if n.Pipe != nil {
			if n.Pipe.IsAssign {
				return valAll
			}
			arg = a.pipe(e, n.Pipe)
		}
		name := n.Name
		if i := strings.Index(name, derived); i >= 0 {
			name = name[:i]
		}
		return a.template(name, arg)
	case *parse.ListNode:
		return a.list(e, n)
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return val{}
	}
	return valAll
}

func (a *analyzer) branches(e *env, kind parse.NodeType, b *parse.BranchNode) val {
	deps := a.condition(e, b.Pipe)
	deps = deps.union(a.list(a.branchEnv(e, kind, b.Pipe), b.List))
	if b.ElseList != nil {
		deps = deps.union(a.list(a.declare(e, b.Pipe), b.ElseList))
	}
	return deps
}

func (a *analyzer) list(e *env, l *parse.ListNode) val {
	deps := val{}
	if l == nil {
		return deps
	}
	for _, n := range l.Nodes {
		if act, ok := n.(*parse.ActionNode); ok && len(act.Pipe.Decl) > 0 {
			if act.Pipe.IsAssign {
				return valAll
			}
			e = a.declare(e, act.Pipe)
			continue
		}
		deps = deps.union(a.node(e, n))
		if deps.all {
			return deps
		}
	}
	return deps
}

// template is what executing the template name with dot arg reads.
func (a *analyzer) template(name string, arg val) val {
	if arg.all {
		return valAll
	}
	k := name + "\x00" + arg.key()
	if v, ok := a.memo[k]; ok {
		return v
	}
	if a.visiting[k] {
		return valAll // recursion: give up
	}
	t := a.master.Lookup(name)
	if t == nil || t.Tree == nil || t.Tree.Root == nil {
		return valAll
	}
	a.visiting[k] = true
	e := &env{dot: arg, assigned: assignedVars(t.Tree.Root)}
	e = e.bind("$", arg)
	v := a.list(e, t.Tree.Root)
	delete(a.visiting, k)
	a.memo[k] = v
	return v
}

// pipe is the value of the pipeline p.
func (a *analyzer) pipe(e *env, p *parse.PipeNode) val {
	var prev *val
	for _, c := range p.Cmds {
		v := a.command(e, c, prev)
		prev = &v
	}
	if prev == nil {
		return val{}
	}
	return *prev
}

func (a *analyzer) command(e *env, c *parse.CommandNode, prev *val) val {
	if len(c.Args) == 0 {
		return valAll
	}
	_, isFunc := c.Args[0].(*parse.IdentifierNode)
	if !isFunc && len(c.Args) == 1 && prev == nil {
		return a.arg(e, c.Args[0])
	}
	// A function or method call: it reads its receiver and arguments.
	deps := val{}
	for _, arg := range c.Args {
		deps = deps.union(a.arg(e, arg))
	}
	if prev != nil {
		deps = deps.union(*prev)
	}
	return deps
}

func (a *analyzer) arg(e *env, n parse.Node) val {
	switch n := n.(type) {
	case *parse.DotNode:
		return e.dot
	case *parse.FieldNode:
		return e.dot.field(n.Ident[0])
	case *parse.VariableNode:
		v := e.lookup(n.Ident[0])
		if len(n.Ident) > 1 {
			v = v.field(n.Ident[1])
		}
		return v
	case *parse.ChainNode:
		v := a.arg(e, n.Node)
		if len(n.Field) > 0 {
			v = v.field(n.Field[0])
		}
		return v
	case *parse.PipeNode:
		if len(n.Decl) > 0 {
			return valAll
		}
		return a.pipe(e, n)
	case *parse.IdentifierNode, *parse.NilNode, *parse.BoolNode, *parse.NumberNode, *parse.StringNode:
		return val{}
	}
	return valAll
}

// assignedVars lists the variables that some action assigns with =.
func assignedVars(root *parse.ListNode) map[string]bool {
	m := map[string]bool{}
	var walk func(n parse.Node)
	pipe := func(p *parse.PipeNode) {
		if p != nil && p.IsAssign {
			for _, d := range p.Decl {
				m[d.Ident[0]] = true
			}
		}
	}
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			pipe(n.Pipe)
		case *parse.IfNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			pipe(n.Pipe)
		}
	}
	walk(root)
	return m
}
