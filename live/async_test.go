package live_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/livetest"
)

// asyncView loads "Recs" with AssignAsync; what the function does is
// chosen by the test through the view's fields.
type asyncView struct {
	fn      func(ctx context.Context) (any, error)
	started *atomic.Int32
	ended   *atomic.Int32
	results []string
}

var asyncTemplate = render.Must(render.New("async").Parse(
	`<div id="recs">{{with .Recs}}{{if .Loading}}loading{{if .Result}} (was {{.Result}}){{end}}{{else if .OK}}ok:{{.Result}}{{else}}failed:{{.Failed}}{{end}}{{end}}</div>` +
		`<p id="job">{{.Job}}</p>`))

func (v *asyncView) wrapped(ctx context.Context) (any, error) {
	v.started.Add(1)
	defer v.ended.Add(1)
	return v.fn(ctx)
}

func (v *asyncView) Mount(s *live.Socket, _ url.Values) error {
	s.Assign("Job", "")
	s.AssignAsync("Recs", v.wrapped)
	return nil
}

func (v *asyncView) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(asyncTemplate)
}

func (v *asyncView) HandleEvent(s *live.Socket, e live.Event) error {
	switch e.Name {
	case "reload":
		s.AssignAsync("Recs", v.wrapped)
	case "job":
		s.StartAsync("job", func(ctx context.Context) (any, error) { return "done " + e.String("n"), nil })
	case "job-forever":
		s.StartAsync("job", func(ctx context.Context) (any, error) { <-ctx.Done(); return nil, ctx.Err() })
	case "cancel":
		s.CancelAsync(e.String("key"))
	}
	return nil
}

func (v *asyncView) HandleAsync(s *live.Socket, name string, result any, err error) error {
	if err != nil {
		s.Assign("Job", name+" error: "+err.Error())
		return nil
	}
	s.Assign("Job", name+": "+result.(string))
	return nil
}

func asyncServer(t *testing.T, fn func(ctx context.Context) (any, error)) (*live.Server, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	l := newServer(t)
	var started, ended atomic.Int32
	l.Handle("/async", func() live.View { return &asyncView{fn: fn, started: &started, ended: &ended} })
	return l, &started, &ended
}

func TestAssignAsyncLoadingThenValue(t *testing.T) {
	gate := make(chan string)
	l, _, _ := asyncServer(t, func(ctx context.Context) (any, error) {
		select {
		case v := <-gate:
			return v, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	v := livetest.Mount(t, l, "/async")
	if !strings.Contains(v.DeadHTML, `<div id="recs">loading</div>`) || !strings.Contains(v.HTML(t), `<div id="recs">loading</div>`) {
		t.Fatalf("not loading: %s", v.HTML(t))
	}
	gate <- "books"
	v.WaitFor(t, "the value", func(h string) bool { return strings.Contains(h, `<div id="recs">ok:books</div>`) })
	// reloading shows loading with the previous value kept
	v.Click(t, "reload", nil)
	if !strings.Contains(v.HTML(t), `loading (was books)`) {
		t.Fatalf("reload: %s", v.HTML(t))
	}
	gate <- "films"
	v.WaitFor(t, "the new value", func(h string) bool { return strings.Contains(h, `ok:films`) })
}

func TestAssignAsyncFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context) (any, error)
		want string
	}{
		{"error", func(context.Context) (any, error) { return nil, errors.New("no recommendations") }, "failed:no recommendations"},
		{"panic", func(context.Context) (any, error) { panic("kaboom") }, "failed:live: async function panicked: kaboom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, _ := asyncServer(t, tc.fn)
			v := livetest.Mount(t, l, "/async")
			v.WaitFor(t, "the failed state", func(h string) bool { return strings.Contains(h, tc.want) })
			// the view keeps working
			v.Click(t, "job", map[string]any{"n": "1"})
			v.WaitFor(t, "a job after the failure", func(h string) bool { return strings.Contains(h, `<p id="job">job: done 1</p>`) })
		})
	}
}

func TestAsyncCancelledAtViewEndAndOnReassign(t *testing.T) {
	var cancelled atomic.Int32
	l, started, ended := asyncServer(t, func(ctx context.Context) (any, error) {
		<-ctx.Done() // never returns by itself
		cancelled.Add(1)
		return nil, ctx.Err()
	})
	v := livetest.Mount(t, l, "/async")
	waitFor(t, "the function started", func() bool { return started.Load() == 1 })
	// re-assigning cancels the previous run
	v.Click(t, "reload", nil)
	waitFor(t, "the first run cancelled", func() bool { return cancelled.Load() == 1 && started.Load() == 2 })
	if !strings.Contains(v.HTML(t), "loading") {
		t.Fatalf("the cancelled run's result showed: %s", v.HTML(t))
	}
	// CancelAsync fails the key
	v.Click(t, "cancel", map[string]any{"key": "Recs"})
	if !strings.Contains(v.HTML(t), "failed:live: async work cancelled") {
		t.Fatalf("cancel: %s", v.HTML(t))
	}
	waitFor(t, "the second run cancelled", func() bool { return cancelled.Load() == 2 })
	// a StartAsync that never returns ends with the view
	v.Click(t, "job-forever", nil)
	v.Click(t, "job-forever", nil) // restarting cancels the first
	v.Leave(t)
	waitFor(t, "every run ended with the view", func() bool { return ended.Load() == started.Load() })
}

func TestStartAsyncCancelReported(t *testing.T) {
	l, _, _ := asyncServer(t, func(context.Context) (any, error) { return "x", nil })
	v := livetest.Mount(t, l, "/async")
	v.Click(t, "job-forever", nil)
	v.Click(t, "cancel", map[string]any{"key": "job"})
	if !strings.Contains(v.HTML(t), `<p id="job">job error: live: async work cancelled</p>`) {
		t.Fatalf("cancel: %s", v.HTML(t))
	}
}
