package live

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
)

// Component is a stateful live component: a piece of a view's page with
// its own assigns, change tracking and events, rendered from the view's
// template by name and id:
//
//	{{live_component "card" .ID "Title" .Title}}
//
// The name is registered with [Server.Component]; the id tells instances
// of one name apart (the pair is the component's identity); the rest are
// assigns, as key/value pairs or one map[string]any. The first time a
// name and id appear, a new value from the registered constructor is
// mounted; every time the view renders that action, the component is
// updated with the assigns, and it re-renders only when an assign changed.
// A component's events (phx-target="{{.Myself}}") go to its HandleEvent.
//
// A component lives until the client reports that it left the page (the
// cids_will_destroy / cids_destroyed exchange), as in Phoenix. Its
// callbacks run on the view's goroutine; a panic in one ends the view as a
// panic in the view's own callbacks does.
type Component interface {
	// Mount runs once, before the first Update.
	Mount(c *ComponentSocket) error
	// Render returns the component's tree, which must have exactly one
	// root element (the client tags it with data-phx-component).
	Render(c *ComponentSocket) (*Rendered, error)
}

// ComponentUpdater is implemented by components that take the assigns of
// the view's template themselves. Without it, each assign is assigned with
// [ComponentSocket.Assign].
type ComponentUpdater interface {
	Update(c *ComponentSocket, assigns map[string]any) error
}

// ComponentBatchUpdater is implemented by components that update all
// their instances of one render at once (upstream's update_many), e.g. to
// load the data of a list of components in one query. When the view's
// render names several instances of the component, UpdateMany is called
// once, on one of them, with every instance and its assigns, in the order
// the template named them; it replaces Update.
type ComponentBatchUpdater interface {
	UpdateMany(updates []ComponentUpdate) error
}

// ComponentUpdate is one instance's update in [ComponentBatchUpdater].
type ComponentUpdate struct {
	Socket  *ComponentSocket
	Assigns map[string]any
}

// ComponentEventHandler handles the events that target the component.
type ComponentEventHandler interface {
	HandleEvent(c *ComponentSocket, e Event) error
}

// CID is a component's id on the page. It prints as a number, the value
// phx-target takes to address the component.
type CID int32

// String formats the id.
func (c CID) String() string { return strconv.Itoa(int(c)) }

// MyselfAssign is the assign holding a component's own [CID], for
// phx-target="{{.Myself}}".
const MyselfAssign = "Myself"

// Component errors.
var (
	// ErrUnknownComponent: a name no constructor is registered for, or an
	// update for a component that does not exist.
	ErrUnknownComponent = errors.New("live: unknown component")
	// ErrComponentArgs: live_component's arguments are not name, id,
	// assigns.
	ErrComponentArgs = errors.New("live: bad live_component arguments")
	// ErrDuplicateComponent: one name and id rendered twice in one render.
	ErrDuplicateComponent = errors.New("live: component rendered twice in one render")
)

// ComponentSocket is one component's state: its assigns with change
// tracking, and the way to its view. Use it only from the component's
// callbacks.
type ComponentSocket struct {
	view *Socket
	name string
	id   string
	cid  CID
	comp Component

	assigns map[string]any
	changed map[string]bool
	// tree is the last render (nil before the first one); rendered says
	// that tree went to the client, so renders may skip unchanged parts.
	tree     *diff.Node
	rendered bool
	// usedIn is the render cycle whose view render last named the
	// component; dirty says an assign changed since the last render
	// (changed itself accumulates until the render went to the client).
	usedIn uint64
	dirty  bool
	// marked is set by cids_will_destroy and cleared by any use.
	marked bool
}

// ID returns the component's id (the second argument of live_component).
func (c *ComponentSocket) ID() string { return c.id }

// Name returns the name the component is registered under.
func (c *ComponentSocket) Name() string { return c.name }

// CID returns the component's id on the page (also the Myself assign).
func (c *ComponentSocket) CID() CID { return c.cid }

// View returns the socket of the component's view (flash, navigation,
// events pushed to hooks, messages to the view).
func (c *ComponentSocket) View() *Socket { return c.view }

// Connected reports whether the browser is connected.
func (c *ComponentSocket) Connected() bool { return c.view.connected }

// Assign sets an assign; it counts as changed when it differs from the
// current value (reflect.DeepEqual), as Phoenix's assign/3 does.
func (c *ComponentSocket) Assign(key string, v any) {
	if old, ok := c.assigns[key]; ok && reflect.DeepEqual(old, v) {
		return
	}
	c.assigns[key] = v
	c.changed[key] = true
	c.dirty = true
	c.view.comps.update = true
}

// Get returns an assign.
func (c *ComponentSocket) Get(key string) any { return c.assigns[key] }

// Assigns returns the assigns. Do not keep it past the callback.
func (c *ComponentSocket) Assigns() map[string]any { return c.assigns }

// Changed returns the assigns changed since the last render; nil means
// everything (the first render).
func (c *ComponentSocket) Changed() map[string]bool {
	if !c.rendered {
		return nil
	}
	return c.changed
}

// RenderTemplate renders t with the component's assigns, evaluating only
// what reads a changed assign after the first render. Components inside
// it are resolved as in the view's template.
func (c *ComponentSocket) RenderTemplate(t *render.Template) (*Rendered, error) {
	var changes render.Changes
	if c.rendered {
		changes = make(render.Changes, len(c.changed))
		for k := range c.changed {
			changes[k] = struct{}{}
		}
	}
	return t.RenderWith(c.assigns, changes, render.Options{Component: c.view.resolveComponent})
}

// Component registers the constructor of the components named name, which
// templates render with {{live_component "name" id ...}}.
func (s *Server) Component(name string, newComponent func() Component) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.components == nil {
		s.components = map[string]func() Component{}
	}
	s.components[name] = newComponent
}

func (s *Server) componentConstructor(name string) func() Component {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.components[name]
}

// compKey is a component's identity.
type compKey struct{ name, id string }

// components is a view's set of live components.
type components struct {
	byCID map[CID]*ComponentSocket
	byKey map[compKey]CID
	// batch holds the updates of ComponentBatchUpdaters named by the
	// render in progress, by component name, in order of first use.
	batch      map[string][]ComponentUpdate
	batchNames []string
	next       CID
	cycle      uint64
	update     bool // some component has changes to render outside a view render
}

func (cs *components) init() {
	if cs.byCID == nil {
		cs.byCID = map[CID]*ComponentSocket{}
		cs.byKey = map[compKey]CID{}
		cs.cycle = 1
	}
}

// ComponentCount returns the number of live components of the view.
func (s *Socket) ComponentCount() int { return len(s.comps.byCID) }

// componentArgs splits live_component's arguments.
func componentArgs(args []any) (name, id string, assigns map[string]any, err error) {
	if len(args) < 2 {
		return "", "", nil, fmt.Errorf("%w: want a name, an id and assigns, got %d arguments", ErrComponentArgs, len(args))
	}
	name, ok := args[0].(string)
	if !ok {
		return "", "", nil, fmt.Errorf("%w: the name is a %T, not a string", ErrComponentArgs, args[0])
	}
	id = fmt.Sprint(args[1])
	rest := args[2:]
	assigns = map[string]any{}
	if len(rest) == 1 {
		m, ok := rest[0].(map[string]any)
		if !ok {
			return "", "", nil, fmt.Errorf("%w: assigns are a %T, not a map[string]any or key/value pairs", ErrComponentArgs, rest[0])
		}
		maps.Copy(assigns, m)
		return name, id, assigns, nil
	}
	if len(rest)%2 != 0 {
		return "", "", nil, fmt.Errorf("%w: odd number of key/value arguments", ErrComponentArgs)
	}
	for i := 0; i < len(rest); i += 2 {
		k, ok := rest[i].(string)
		if !ok {
			return "", "", nil, fmt.Errorf("%w: assign name %v is a %T, not a string", ErrComponentArgs, rest[i], rest[i])
		}
		assigns[k] = rest[i+1]
	}
	return name, id, assigns, nil
}

// resolveComponent is the live_component resolver of the view's renders:
// it mounts or updates the named component and returns its cid.
func (s *Socket) resolveComponent(args []any) (int32, error) {
	name, id, assigns, err := componentArgs(args)
	if err != nil {
		return 0, err
	}
	cs := &s.comps
	cs.init()
	key := compKey{name, id}
	cid, ok := cs.byKey[key]
	var c *ComponentSocket
	if ok {
		c = cs.byCID[cid]
		if c.usedIn == cs.cycle {
			return 0, fmt.Errorf("%w: %q id %q", ErrDuplicateComponent, name, id)
		}
	} else {
		newComp := s.srv.componentConstructor(name)
		if newComp == nil {
			return 0, fmt.Errorf("%w: %q (register it with Server.Component)", ErrUnknownComponent, name)
		}
		cs.next++
		c = &ComponentSocket{
			view: s, name: name, id: id, cid: cs.next, comp: newComp(),
			assigns: map[string]any{MyselfAssign: cs.next}, changed: map[string]bool{},
		}
		if err := c.comp.Mount(c); err != nil {
			return 0, fmt.Errorf("live: component %q id %q: mount: %w", name, id, err)
		}
		cs.byCID[c.cid] = c
		cs.byKey[key] = c.cid
		if s.connected {
			s.srv.liveComponents.Add(1)
		}
	}
	c.marked = false
	c.usedIn = cs.cycle
	if _, ok := c.comp.(ComponentBatchUpdater); ok {
		if cs.batch == nil {
			cs.batch = map[string][]ComponentUpdate{}
		}
		if _, seen := cs.batch[name]; !seen {
			cs.batchNames = append(cs.batchNames, name)
		}
		cs.batch[name] = append(cs.batch[name], ComponentUpdate{Socket: c, Assigns: assigns})
		cs.update = true
		return int32(c.cid), nil
	}
	if err := c.update(assigns); err != nil {
		return 0, err
	}
	return int32(c.cid), nil
}

func (c *ComponentSocket) update(assigns map[string]any) error {
	if b, ok := c.comp.(ComponentBatchUpdater); ok {
		if err := b.UpdateMany([]ComponentUpdate{{Socket: c, Assigns: assigns}}); err != nil {
			return fmt.Errorf("live: component %q id %q: update many: %w", c.name, c.id, err)
		}
		return nil
	}
	if u, ok := c.comp.(ComponentUpdater); ok {
		if err := u.Update(c, assigns); err != nil {
			return fmt.Errorf("live: component %q id %q: update: %w", c.name, c.id, err)
		}
		return nil
	}
	for k, v := range assigns {
		c.Assign(k, v)
	}
	return nil
}

// renderComponents renders every component that has changes (including
// new ones), repeatedly, since a component's render may mount or update
// others, and returns the trees of all components for the top-level node.
// It returns nil when the view has no components.
func (s *Socket) renderComponents() (map[int32]*diff.Node, error) {
	cs := &s.comps
	if len(cs.byCID) == 0 {
		return nil, nil
	}
	for round := 0; ; round++ {
		if err := cs.flushBatches(); err != nil {
			return nil, err
		}
		var todo []*ComponentSocket
		for _, c := range cs.byCID {
			if c.tree == nil || c.dirty {
				todo = append(todo, c)
			}
		}
		if len(todo) == 0 {
			break
		}
		if round > len(cs.byCID)+1 {
			return nil, fmt.Errorf("live: components keep changing each other while rendering")
		}
		slices.SortFunc(todo, func(a, b *ComponentSocket) int { return int(a.cid - b.cid) })
		for _, c := range todo {
			if err := c.render(); err != nil {
				return nil, err
			}
		}
	}
	out := make(map[int32]*diff.Node, len(cs.byCID))
	for cid, c := range cs.byCID {
		out[int32(cid)] = c.tree
	}
	return out, nil
}

func (c *ComponentSocket) render() error {
	c.dirty = false
	tree, err := c.comp.Render(c)
	if err != nil {
		return fmt.Errorf("live: component %q id %q: render: %w", c.name, c.id, err)
	}
	if tree == nil {
		return fmt.Errorf("live: component %q id %q: render returned no tree", c.name, c.id)
	}
	c.tree = tree
	return nil
}

// componentsSent records that the components' trees went to the client.
func (s *Socket) componentsSent() {
	for _, c := range s.comps.byCID {
		c.rendered = true
		clear(c.changed)
	}
	s.comps.update = false
	s.comps.cycle++
}

// SendUpdate updates the component name / id with assigns, as if the
// view's template had rendered it with them; it re-renders if an assign
// changed. Use it from the view's or a component's callbacks; other
// goroutines use [Handle.SendUpdate].
func (s *Socket) SendUpdate(name, id string, assigns map[string]any) error {
	cid, ok := s.comps.byKey[compKey{name, id}]
	if !ok {
		return fmt.Errorf("%w: %q id %q", ErrUnknownComponent, name, id)
	}
	c := s.comps.byCID[cid]
	if err := c.update(maps.Clone(assigns)); err != nil {
		return err
	}
	s.comps.update = true
	return nil
}

// componentUpdate is a SendUpdate from another goroutine.
type componentUpdate struct {
	name, id string
	assigns  map[string]any
}

// SendUpdate updates a component of the view from any goroutine (see
// [Socket.SendUpdate]). It reports false when the view has ended; an
// update for a component that no longer exists is logged and dropped.
func (h *Handle) SendUpdate(name, id string, assigns map[string]any) bool {
	return h.ch.Send(componentUpdate{name: name, id: id, assigns: maps.Clone(assigns)})
}

// markForDeletion handles cids_will_destroy.
func (s *Socket) markForDeletion(cids []int) {
	for _, cid := range cids {
		if c, ok := s.comps.byCID[CID(cid)]; ok {
			c.marked = true
		}
	}
}

// deleteComponents handles cids_destroyed: it deletes the components still
// marked and returns their cids.
func (s *Socket) deleteComponents(cids []int) []int {
	deleted := []int{}
	for _, cid := range cids {
		c, ok := s.comps.byCID[CID(cid)]
		if !ok || !c.marked {
			continue
		}
		delete(s.comps.byCID, c.cid)
		delete(s.comps.byKey, compKey{c.name, c.id})
		deleted = append(deleted, cid)
		if s.connected {
			s.srv.liveComponents.Add(-1)
		}
	}
	return deleted
}

// component returns the live component cid, or nil.
func (s *Socket) component(cid int) *ComponentSocket {
	return s.comps.byCID[CID(cid)]
}

// withComponents renders the components that need it and returns tree
// with every component's tree attached (a copy of tree when the view has
// components).
func (s *Socket) withComponents(tree *diff.Node) (*diff.Node, error) {
	comps, err := s.renderComponents()
	if err != nil || comps == nil {
		return tree, err
	}
	t := *tree
	t.Components = comps
	return &t, nil
}

// dropComponents forgets every component when the view ends.
func (s *Socket) dropComponents() {
	if s.connected {
		s.srv.liveComponents.Add(-int64(len(s.comps.byCID)))
	}
	s.comps = components{}
}

// LiveComponents returns the number of live components held by the
// connected views of s (for tests and metrics): it goes down when the
// client reports a component destroyed or a view ends.
func (s *Server) LiveComponents() int { return int(s.liveComponents.Load()) }

// RenderComponent mounts the component name with id, updates it with
// assigns and returns its HTML, outside any view (as a dead render does;
// for tests, see livetest.RenderComponent).
func (s *Server) RenderComponent(name, id string, assigns map[string]any) (string, error) {
	sock := &Socket{id: "phx-component", srv: s, ctx: context.Background(),
		assigns: map[string]any{}, changed: map[string]bool{}}
	args := []any{name, id, maps.Clone(assigns)}
	if assigns == nil {
		args = args[:2]
	}
	cid, err := sock.resolveComponent(args)
	if err != nil {
		return "", err
	}
	comps, err := sock.renderComponents()
	if err != nil {
		return "", err
	}
	root := diff.NewNode([]string{"", ""}, diff.Component(cid))
	root.Components = comps
	return diff.HTML(root)
}

// hasComponents reports whether the view has live components.
func (s *Socket) hasComponents() bool { return len(s.comps.byCID) > 0 || s.comps.update }

// flushBatches runs the UpdateMany calls queued by the last render.
func (cs *components) flushBatches() error {
	for len(cs.batchNames) > 0 {
		name := cs.batchNames[0]
		cs.batchNames = cs.batchNames[1:]
		list := cs.batch[name]
		delete(cs.batch, name)
		if len(list) == 0 {
			continue
		}
		b := list[0].Socket.comp.(ComponentBatchUpdater)
		if err := b.UpdateMany(list); err != nil {
			return fmt.Errorf("live: component %q: update many: %w", name, err)
		}
	}
	return nil
}
