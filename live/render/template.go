package render

import (
	"errors"
	"fmt"
	"hash/maphash"
	"html/template"
	"io/fs"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/parley-go/parley/live/diff"
)

// Errors of the package; others wrap errors of html/template and
// text/template with %w.
var (
	// ErrParsed reports a Parse or Funcs call after the first Render.
	ErrParsed = errors.New("render: template already rendered")
	// ErrInternal reports output that does not follow the compiled plan,
	// which would be a bug of this package.
	ErrInternal = errors.New("render: internal error")
)

// Changes is the set of top-level assigns (struct field names or map keys
// of the data) that changed since the previous render. A nil Changes means
// everything changed (a full render); an empty, non-nil one means nothing
// did.
type Changes map[string]struct{}

// Changed returns the Changes holding names.
func Changed(names ...string) Changes {
	c := make(Changes, len(names))
	for _, n := range names {
		c[n] = struct{}{}
	}
	return c
}

// Template is a named html/template set compiled into a render plan. Build
// it like an html/template.Template; render it with [Template.Render].
type Template struct {
	name string

	// mu guards master and the transition to compiled.
	mu     sync.Mutex
	master *template.Template // parsed, never executed, cloned per executor
	ownKey bool               // the user defined a function named key
	comp   atomic.Pointer[compiled]
	err    error // compile error, sticky
}

// keyStub is the parse-time and plain-html/template definition of key.
func keyStub(any) string { return "" }

// New returns an empty template named name. It defines the functions key,
// domid and live_component (see the package documentation).
func New(name string) *Template {
	return &Template{
		name:   name,
		master: template.New(name).Funcs(template.FuncMap{userKey: keyStub, domIDFunc: domIDStub, componentFunc: componentStub}),
	}
}

// Must panics if err is not nil, and returns t otherwise.
func Must(t *Template, err error) *Template {
	if err != nil {
		panic(err)
	}
	return t
}

// Name returns the name of the template.
func (t *Template) Name() string { return t.name }

// Funcs adds the functions of m to the template's function map, as
// html/template's Funcs does. It must be called before the templates using
// the functions are parsed, and panics after the first Render. A function
// named key replaces the built-in one, and ranges are then keyed by index.
func (t *Template) Funcs(m template.FuncMap) *Template {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.comp.Load() != nil || t.err != nil {
		panic(ErrParsed)
	}
	t.master.Funcs(m)
	if _, ok := m[userKey]; ok {
		t.ownKey = true
	}
	return t
}

// Option sets options of the underlying html/template (e.g.
// "missingkey=error"). It panics after the first Render.
func (t *Template) Option(opt ...string) *Template {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.comp.Load() != nil || t.err != nil {
		panic(ErrParsed)
	}
	t.master.Option(opt...)
	return t
}

// Delims sets the action delimiters for subsequent Parse calls.
func (t *Template) Delims(left, right string) *Template {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.master.Delims(left, right)
	return t
}

// Parse parses text as a template body for t, as html/template's Parse
// does: {{define}} and {{block}} add associated templates.
func (t *Template) Parse(text string) (*Template, error) {
	return t.parse(func(m *template.Template) error {
		_, err := m.Parse(text)
		return err
	})
}

// ParseFS parses the files of fsys matching the patterns, as
// html/template's ParseFS does.
func (t *Template) ParseFS(fsys fs.FS, patterns ...string) (*Template, error) {
	return t.parse(func(m *template.Template) error {
		_, err := m.ParseFS(fsys, patterns...)
		return err
	})
}

// ParseFiles parses the named files, as html/template's ParseFiles does.
func (t *Template) ParseFiles(filenames ...string) (*Template, error) {
	return t.parse(func(m *template.Template) error {
		_, err := m.ParseFiles(filenames...)
		return err
	})
}

// ParseGlob parses the files matching pattern, as html/template's ParseGlob
// does.
func (t *Template) ParseGlob(pattern string) (*Template, error) {
	return t.parse(func(m *template.Template) error {
		_, err := m.ParseGlob(pattern)
		return err
	})
}

func (t *Template) parse(f func(*template.Template) error) (*Template, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.comp.Load() != nil || t.err != nil {
		return nil, ErrParsed
	}
	if err := f(t.master); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return t, nil
}

// Render executes the template with data and returns the rendered tree.
//
// changed lists the top-level assigns that changed since the render whose
// tree will be passed to [diff.Diff] as the previous one; nil means all of
// them (use nil for the first render of a view, and for a dead render).
// Dynamics that read only unchanged assigns are [diff.Unchanged] and are not
// evaluated, so the result of a render with non-nil changed must go through
// [diff.Diff] (which resolves the markers) before [diff.Full] or [diff.HTML].
//
// The first call compiles the template set; its errors (such as
// html/template's escaping errors) are returned by every call.
func (t *Template) Render(data any, changed Changes) (*diff.Node, error) {
	return t.RenderMemo(data, changed, nil)
}

// RenderMemo is [Template.Render] with per-item change tracking: memo
// remembers the items of the tracked ranges between the renders of one
// view, and only items that differ from the previous render's are
// evaluated (see "Per-item change tracking" in the package documentation).
// Pass the same memo, and changed relative to the previous call, on every
// render of one view; a nil memo renders as Render does.
func (t *Template) RenderMemo(data any, changed Changes, memo *Memo) (*diff.Node, error) {
	return t.render(data, changed, memo, nil)
}

func (t *Template) render(data any, changed Changes, memo *Memo, resolve func([]any) (int32, error)) (*diff.Node, error) {
	c, err := t.compiled()
	if err != nil {
		return nil, err
	}
	x, err := c.get()
	if err != nil {
		return nil, err
	}
	if memo != nil && memo.c != c {
		*memo = Memo{c: c, loops: make([]loopMemo, len(c.tracks))}
	}
	x.memo, x.resolve = memo, resolve
	n, err := x.render(c, data, changed)
	x.memo, x.resolve = nil, nil
	c.put(x)
	return n, err
}

// compiled returns the compiled plan, compiling it on first use.
func (t *Template) compiled() (*compiled, error) {
	if c := t.comp.Load(); c != nil {
		return c, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.comp.Load(); c != nil {
		return c, nil
	}
	if t.err != nil {
		return nil, t.err
	}
	c := &compiled{name: t.name, master: t.master, ownKey: t.ownKey, seed: maphash.MakeSeed()}
	x, err := c.build(true)
	if err != nil {
		t.err = fmt.Errorf("render: compile %q: %w", t.name, err)
		return nil, t.err
	}
	c.put(x)
	t.comp.Store(c)
	return c, nil
}

// compiled is the immutable result of compiling a template set, plus a pool
// of executors.
type compiled struct {
	name   string
	master *template.Template // read only from here on
	ownKey bool               // key is the user's: no {{key}} markers

	root   *plan // nil when the root is opaque
	arena  []byte
	guards []guard
	names  []string // assign names read by guards; guard.names index it
	nmarks int

	tracks []trackPlan // ranges tracked per item, by the number in their pipeline
	seed   maphash.Seed

	pool    sync.Pool
	types   sync.Map // reflect.Type -> []bool (names that are methods)
	layouts sync.Map // reflect.Type -> *itemLayout
}

// guard is a dynamic of the root template that may be skipped: it reads
// only the assigns names (indices into compiled.names).
type guard struct {
	names []int
}

func (c *compiled) get() (*executor, error) {
	if x, ok := c.pool.Get().(*executor); ok {
		return x, nil
	}
	return c.build(false)
}

func (c *compiled) put(x *executor) { c.pool.Put(x) }

// methodNames reports, for the type of data, which of c.names resolve to a
// method rather than a field or key: those read the whole data.
func (c *compiled) methodNames(data any) []bool {
	t := reflect.TypeOf(data)
	if v, ok := c.types.Load(t); ok {
		return v.([]bool)
	}
	m := make([]bool, len(c.names))
	for i, name := range c.names {
		if t == nil {
			m[i] = true
			continue
		}
		_, ok := t.MethodByName(name)
		if !ok && t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
			_, ok = reflect.PointerTo(t).MethodByName(name)
		}
		m[i] = ok
	}
	c.types.Store(t, m)
	return m
}
