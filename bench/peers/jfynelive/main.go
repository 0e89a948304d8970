// Command jfynelive is the jfyne/live peer of Parley's LiveView benchmark
// ("parley-bench live -server jfynelive"). It serves the same dashboard page
// as "parley-bench serve" at /dashboard (50 service rows, each with a
// request counter, under a header counter), with the same data and the
// same update sequence, written the way jfyne/live's examples write a
// page: one html/template of the whole document, a MountHandler that
// returns the socket's model, a HandleSelf handler that applies a
// broadcast to it.
//
// POST /bench/broadcast?topic=dashboard&n=1 (the shared control route of
// bench/peers/ctl) makes one update: the backend model changes one row's
// counter and the update count, and the change is broadcast with
// Engine.Broadcast through jfyne/live's own PubSub (LocalTransport, topic
// "dashboard"); every connected socket then runs the "update" self handler,
// re-renders and sends its patches.
//
// The client protocol is jfyne/live's own (announced as proto=jfynelive):
// GET /dashboard sets the _psid cookie; the WebSocket is the same URL with
// that cookie; the server sends {"t":"connect"}, then {"t":"patch","d":[…]}
// frames. A page hook would push events as {"t":name,"i":id,"d":{…}} and get
// {"t":"ack","i":id}; the load client pushes one "ready" event and takes
// its ack as the sign that the socket has mounted and rendered (the server
// writes nothing to a socket before that).
//
// Sockets (for /bench/stats) counts connected mounts less unmounts.
package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/jfyne/live"

	"github.com/parley-go/parley/bench/peers/ctl"
)

const (
	dashboardTopic = "dashboard"
	dashboardRows  = 50
)

// row is one service of the dashboard.
type row struct {
	ID     int
	Name   string
	Region string
	Status string
	Count  int
}

// change is one update: row Row now counts Count; Total updates so far.
type change struct {
	Row, Count, Total int
}

// model is one socket's page state.
type model struct {
	Rows  []row
	Total int
}

// dashboard is the backend state every socket mounts from, the same as
// parley-bench serve's.
type dashboard struct {
	// mu guards rows and total.
	mu    sync.Mutex
	rows  []row
	total int
}

var regions = [...]string{"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"}

func newDashboard() *dashboard {
	d := &dashboard{rows: make([]row, dashboardRows)}
	for i := range d.rows {
		status := "ok"
		if i%9 == 4 {
			status = "degraded"
		}
		d.rows[i] = row{ID: i + 1, Name: fmt.Sprintf("service-%02d", i+1), Region: regions[i%len(regions)], Status: status, Count: 1000 + 37*i}
	}
	return d
}

// snapshot returns a new model with a copy of the rows.
func (d *dashboard) snapshot() *model {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := &model{Rows: make([]row, len(d.rows)), Total: d.total}
	copy(m.Rows, d.rows)
	return m
}

// next applies update k: row (7k mod rows) counts one more, the header
// shows k.
func (d *dashboard) next() change {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	i := (7 * d.total) % len(d.rows)
	d.rows[i].Count++
	return change{Row: i, Count: d.rows[i].Count, Total: d.total}
}

// page is the whole document, as jfyne/live renders and diffs it. The
// <main> element is byte for byte the one Parley's template renders.
var page = template.Must(template.New("dashboard").Parse(
	`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dashboard</title></head><body>` +
		`<main class="dashboard"><header><h1>Service dashboard</h1><p>Updates: <span id="total">{{.Assigns.Total}}</span></p></header>` +
		`<table><thead><tr><th>#</th><th>Service</th><th>Region</th><th>Status</th><th>Requests</th></tr></thead><tbody>` +
		`{{range .Assigns.Rows}}<tr id="row-{{.ID}}"><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Region}}</td>` +
		`<td class="status">{{.Status}}</td><td class="num">{{.Count}}</td></tr>{{end}}` +
		`</tbody></table></main><script src="/live.js"></script></body></html>`))

// server is the ctl.Server: broadcasts become dashboard updates.
type server struct {
	d       *dashboard
	engine  *live.Engine
	sockets atomic.Int64
}

var errTopic = errors.New("jfynelive: only the dashboard topic is served")

// Broadcast implements ctl.Server: one dashboard update per call.
func (s *server) Broadcast(topic, _ string, _ []byte) error {
	if topic != dashboardTopic {
		return fmt.Errorf("%w, not %q", errTopic, topic)
	}
	if err := s.engine.Broadcast("update", s.d.next()); err != nil {
		return fmt.Errorf("jfynelive: broadcast: %w", err)
	}
	return nil
}

// Sockets implements ctl.Server.
func (s *server) Sockets() int64 { return s.sockets.Load() }

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &server{d: newDashboard()}

	h := live.NewHandler(live.WithTemplateRenderer(page))
	h.MountHandler = func(_ context.Context, s *live.Socket) (any, error) {
		if s.Connected() {
			srv.sockets.Add(1)
		}
		return srv.d.snapshot(), nil
	}
	h.UnmountHandler = func(*live.Socket) error {
		srv.sockets.Add(-1)
		return nil
	}
	h.HandleSelf("update", func(_ context.Context, s *live.Socket, data any) (any, error) {
		m, ok := s.Assigns().(*model)
		c, ok2 := data.(change)
		if !ok || !ok2 || c.Row < 0 || c.Row >= len(m.Rows) {
			return nil, fmt.Errorf("jfynelive: bad update %v for %T", data, s.Assigns())
		}
		m.Rows[c.Row].Count = c.Count
		m.Total = c.Total
		return m, nil
	})
	h.HandleEvent("ready", func(_ context.Context, s *live.Socket, _ live.Params) (any, error) {
		return s.Assigns(), nil
	})
	srv.engine = live.NewHttpHandler(ctx, h)
	ps := live.NewPubSub(ctx, live.NewLocalTransport())
	ps.Subscribe(dashboardTopic, srv.engine)

	ctl.Main(ctl.Peer{
		Proto:  "jfynelive",
		Server: srv,
		Routes: func(mux *http.ServeMux) {
			mux.Handle("/dashboard", srv.engine)
			mux.Handle("GET /live.js", live.Javascript{})
		},
		Stop: func(context.Context) { cancel() },
	})
}
