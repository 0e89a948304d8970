package live

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// AsyncResult is the state of an assign computed by [Socket.AssignAsync],
// for templates:
//
//	{{with .Recs}}{{if .Loading}}Loading…{{else if .OK}}{{.Result}}{{else}}Error: {{.Failed}}{{end}}{{end}}
//
// While a new computation runs, Loading is set and the previous Result (if
// any) is kept, as upstream's AsyncResult does.
type AsyncResult struct {
	Loading bool
	// OK is set once the function returned a value, which is Result.
	OK     bool
	Result any
	// Failed is the function's error, a recovered panic (ErrAsyncPanic),
	// or ErrAsyncCancelled; nil otherwise.
	Failed error
}

// Async errors.
var (
	// ErrAsyncPanic wraps the value of a panic in an async function.
	ErrAsyncPanic = errors.New("live: async function panicked")
	// ErrAsyncCancelled is the failure of a computation cancelled by
	// [Socket.CancelAsync].
	ErrAsyncCancelled = errors.New("live: async work cancelled")
)

// AsyncHandler receives the results of [Socket.StartAsync].
type AsyncHandler interface {
	// HandleAsync gets the value or error (a panic as ErrAsyncPanic) of
	// the work started under name.
	HandleAsync(s *Socket, name string, result any, err error) error
}

// asyncTask is one running async function of a view.
type asyncTask struct {
	ref    uint64
	cancel context.CancelFunc
}

// asyncState holds a view's running async work. Its fields are used on
// the view's goroutine only, apart from wg.
type asyncState struct {
	next  uint64
	tasks map[string]*asyncTask // by "a:"+key or "s:"+name
	wg    sync.WaitGroup
}

// asyncDone is the message a finished async function sends to its view.
type asyncDone struct {
	slot   string
	ref    uint64
	value  any
	err    error
	assign bool // AssignAsync (else StartAsync)
	name   string
}

// AssignAsync computes the assign key in a goroutine owned by the view and
// assigns it as an [AsyncResult]: Loading at once (keeping a previous
// Result), then OK with the value, or Failed with the error. A panic in fn
// becomes a failed state and a log line, never a crashed view. ctx is
// cancelled when the view ends, or when key is assigned again with
// AssignAsync (the older result is then dropped); fn must return when ctx
// is done. In the dead render nothing runs and key stays Loading.
func (s *Socket) AssignAsync(key string, fn func(ctx context.Context) (any, error)) {
	prev, _ := s.assigns[key].(AsyncResult)
	s.Assign(key, AsyncResult{Loading: true, Result: prev.Result})
	s.startAsync("a:"+key, key, true, fn)
}

// StartAsync runs fn in a goroutine owned by the view and passes its result
// to the view's [AsyncHandler] under name. Starting name again cancels the
// previous run, whose result is dropped. Cancellation, panics and the dead
// render are as for [Socket.AssignAsync].
func (s *Socket) StartAsync(name string, fn func(ctx context.Context) (any, error)) {
	s.startAsync("s:"+name, name, false, fn)
}

// CancelAsync cancels the work of AssignAsync(key) or StartAsync(key).
// A cancelled AssignAsync leaves key Failed with ErrAsyncCancelled; a
// cancelled StartAsync reports ErrAsyncCancelled to HandleAsync. It
// reports whether something was running.
func (s *Socket) CancelAsync(key string) bool {
	found := false
	for _, slot := range []string{"a:" + key, "s:" + key} {
		t, ok := s.async.tasks[slot]
		if !ok {
			continue
		}
		found = true
		t.cancel()
		delete(s.async.tasks, slot)
		if slot[0] == 'a' {
			prev, _ := s.assigns[key].(AsyncResult)
			s.Assign(key, AsyncResult{Result: prev.Result, Failed: ErrAsyncCancelled})
		} else {
			s.cancelled = append(s.cancelled, key)
		}
	}
	return found
}

func (s *Socket) startAsync(slot, name string, assign bool, fn func(ctx context.Context) (any, error)) {
	if s.ch == nil {
		return
	}
	a := &s.async
	if a.tasks == nil {
		a.tasks = map[string]*asyncTask{}
	}
	if old, ok := a.tasks[slot]; ok {
		old.cancel()
	}
	a.next++
	ctx, cancel := context.WithCancel(s.ctx)
	t := &asyncTask{ref: a.next, cancel: cancel}
	a.tasks[slot] = t
	h := s.Handle()
	log := s.srv.log
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		v, err := runAsync(ctx, fn)
		if errors.Is(err, ErrAsyncPanic) {
			log.Error("live: async function panicked", "name", name, "err", err)
		}
		h.Send(asyncDone{slot: slot, ref: t.ref, value: v, err: err, assign: assign, name: name})
	}()
}

// runAsync runs fn, turning a panic into an error.
func runAsync(ctx context.Context, fn func(ctx context.Context) (any, error)) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrAsyncPanic, p, debug.Stack())
		}
	}()
	return fn(ctx)
}

// handleAsyncDone applies a finished async function's result, unless it was
// cancelled or superseded meanwhile.
func (lc *liveChannel) handleAsyncDone(d asyncDone) error {
	s := lc.sock
	t, ok := s.async.tasks[d.slot]
	if !ok || t.ref != d.ref {
		return nil
	}
	delete(s.async.tasks, d.slot)
	if d.assign {
		prev, _ := s.assigns[d.name].(AsyncResult)
		if d.err != nil {
			s.Assign(d.name, AsyncResult{Result: prev.Result, Failed: d.err})
		} else {
			s.Assign(d.name, AsyncResult{OK: true, Result: d.value})
		}
		return nil
	}
	h, ok := lc.view.(AsyncHandler)
	if !ok {
		return fmt.Errorf("live: view at %s started async work %q but is no AsyncHandler", lc.route.pattern, d.name)
	}
	return h.HandleAsync(s, d.name, d.value, d.err)
}

// reportCancelled tells the AsyncHandler about the StartAsync runs that
// CancelAsync stopped.
func (lc *liveChannel) reportCancelled() error {
	s := lc.sock
	for len(s.cancelled) > 0 {
		name := s.cancelled[0]
		s.cancelled = s.cancelled[1:]
		if h, ok := lc.view.(AsyncHandler); ok {
			if err := h.HandleAsync(s, name, nil, ErrAsyncCancelled); err != nil {
				return err
			}
		}
	}
	return nil
}

// asyncStopWait bounds how long a view's end waits for its async
// functions to return after their context was cancelled.
const asyncStopWait = 5 * time.Second

// stopAsync cancels the view's async work and waits (bounded) for it.
func (s *Socket) stopAsync() {
	for slot, t := range s.async.tasks {
		t.cancel()
		delete(s.async.tasks, slot)
	}
	done := make(chan struct{})
	go func() {
		s.async.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(asyncStopWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.srv.log.Error("live: async functions did not return after the view ended; they must honour ctx", "view", s.id)
	}
}
