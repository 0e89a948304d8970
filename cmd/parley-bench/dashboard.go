package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

// The LiveView scenario's page: a dashboard of dashboardRows services,
// each row a few fields and a request counter, under a header with the
// number of updates. One update (one POST /bench/broadcast with
// topic=dashboardTopic) adds 1 to one row's counter and sets the header
// counter; every connected view shows the change. bench/peers/jfynelive
// serves the same page, with the same data and the same update sequence,
// through jfyne/live; keep the two in step.
const (
	dashboardPath  = "/dashboard"
	dashboardTopic = "dashboard"
	dashboardRows  = 50
)

// dashRow is one service of the dashboard.
type dashRow struct {
	ID     int
	Name   string
	Region string
	Status string
	Count  int
}

// dashChange is one update: row Row now counts Count; Total updates so
// far. It travels as JSON in the pubsub message.
type dashChange struct {
	Row   int `json:"row"`
	Count int `json:"count"`
	Total int `json:"total"`
}

// dashboard is the backend state every view mounts from: the rows and the
// number of updates. Safe for concurrent use.
type dashboard struct {
	// views counts the connected views (for /bench/stats).
	views atomic.Int64

	// mu guards rows and total.
	mu    sync.Mutex
	rows  []dashRow
	total int
}

var dashRegions = [...]string{"eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"}

// newDashboard returns the initial dashboard, the same on every server.
func newDashboard() *dashboard {
	d := &dashboard{rows: make([]dashRow, dashboardRows)}
	for i := range d.rows {
		status := "ok"
		if i%9 == 4 {
			status = "degraded"
		}
		d.rows[i] = dashRow{
			ID: i + 1, Name: fmt.Sprintf("service-%02d", i+1), Region: dashRegions[i%len(dashRegions)],
			Status: status, Count: 1000 + 37*i,
		}
	}
	return d
}

// snapshot returns a copy of the rows and the update count.
func (d *dashboard) snapshot() ([]dashRow, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rows := make([]dashRow, len(d.rows))
	copy(rows, d.rows)
	return rows, d.total
}

// next applies the next update of the fixed sequence: update k adds 1 to
// row (7k mod rows) and sets the header counter to k.
func (d *dashboard) next() dashChange {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.total++
	i := (7 * d.total) % len(d.rows)
	d.rows[i].Count++
	return dashChange{Row: i, Count: d.rows[i].Count, Total: d.total}
}

// publish makes the next update and broadcasts it to the views.
func (d *dashboard) publish(ctx context.Context, ps *pubsub.PubSub) error {
	payload, err := json.Marshal(d.next())
	if err != nil {
		return err
	}
	if _, err := ps.Broadcast(ctx, &pubsub.Message{Topic: dashboardTopic, Event: "update", Payload: payload}); err != nil {
		return fmt.Errorf("dashboard: broadcast: %w", err)
	}
	return nil
}

// dashTemplate is the page. Rows are keyed by ID, so a changed row is sent
// as that entry's changed dynamic only.
var dashTemplate = render.Must(render.New("dashboard").Parse(
	`<main class="dashboard"><header><h1>Service dashboard</h1><p>Updates: <span id="total">{{.Total}}</span></p></header>` +
		`<table><thead><tr><th>#</th><th>Service</th><th>Region</th><th>Status</th><th>Requests</th></tr></thead><tbody>` +
		`{{range .Rows}}{{key .ID}}<tr id="row-{{.ID}}"><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Region}}</td>` +
		`<td class="status">{{.Status}}</td><td class="num">{{.Count}}</td></tr>{{end}}` +
		`</tbody></table></main>`))

// dashView is one browser's dashboard: its own copy of the rows, updated by
// the broadcasts of dashboardTopic.
type dashView struct {
	d       *dashboard
	rows    []dashRow
	counted bool // counted in d.views
}

// Mount copies the dashboard and, once connected, subscribes to its
// updates.
func (v *dashView) Mount(s *live.Socket, _ url.Values) error {
	rows, total := v.d.snapshot()
	v.rows = rows
	s.SetTitle("Dashboard")
	s.Assign("Rows", v.rows)
	s.Assign("Total", total)
	if s.Connected() {
		if err := s.Subscribe(dashboardTopic); err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
		v.counted = true
		v.d.views.Add(1)
	}
	return nil
}

// Terminate uncounts a connected view.
func (v *dashView) Terminate(*live.Socket, error) {
	if v.counted {
		v.counted = false
		v.d.views.Add(-1)
	}
}

// Render renders the page.
func (v *dashView) Render(s *live.Socket) (*diff.Node, error) { return s.RenderTemplate(dashTemplate) }

// SharedTemplate makes the view a live.SharedView: the page is the
// template applied to the assigns, so views that went through the same
// update share one render (the fastlane), unless -fastlane=false.
func (v *dashView) SharedTemplate() *render.Template { return dashTemplate }

// soloView is a dashView without the fastlane: its SharedTemplate, of
// another signature, hides dashView's, so it is no live.SharedView.
type soloView struct{ *dashView }

// SharedTemplate hides dashView's.
func (soloView) SharedTemplate() {}

// HandleInfo applies an update.
func (v *dashView) HandleInfo(s *live.Socket, msg any) error {
	m, ok := msg.(*pubsub.Message)
	if !ok || m.Topic != dashboardTopic {
		return nil
	}
	var c dashChange
	if err := json.Unmarshal(m.Payload, &c); err != nil {
		return fmt.Errorf("dashboard: bad update %q: %w", m.Payload, err)
	}
	if c.Row < 0 || c.Row >= len(v.rows) {
		return fmt.Errorf("dashboard: update of row %d of %d", c.Row, len(v.rows))
	}
	v.rows[c.Row].Count = c.Count
	s.Assign("Rows", v.rows)
	s.Assign("Total", c.Total)
	return nil
}

// mountDashboard routes dashboardPath to dashboard views on l, sharing
// renders if fastlane.
func mountDashboard(l *live.Server, d *dashboard, fastlane bool) {
	if !fastlane {
		l.Handle(dashboardPath, func() live.View { return soloView{&dashView{d: d}} })
		return
	}
	l.Handle(dashboardPath, func() live.View { return &dashView{d: d} })
}

// dashboardCheck reports whether a dead render of the page (from either
// server) is the dashboard: the header counter and every row's counter
// cell are there.
func dashboardCheck(page string) error {
	if n := strings.Count(page, `<span id="total"`); n != 1 {
		return fmt.Errorf("dashboard page with %d header counters, want 1", n)
	}
	if n := strings.Count(page, `<td class="num"`); n != dashboardRows {
		return fmt.Errorf("dashboard page with %d counter cells, want %d", n, dashboardRows)
	}
	return nil
}
