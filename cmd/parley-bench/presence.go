package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
)

// presenceResult is the PARLEY_BENCH_RESULT of presence.
type presenceResult struct {
	Mode    string  `json:"mode"`
	Server  string  `json:"server"`
	N       int     `json:"n"`
	Churn   int     `json:"churn"`
	Rate    float64 `json:"rate"`
	HoldSec float64 `json:"hold_s"`
	// Connect rate: N watchers connected and joined (each tracked, each
	// getting presence_state) by Dialers concurrent dials.
	ConnectSecs float64 `json:"connect_s"`
	JoinsPerSec float64 `json:"watcher_joins_per_s"`
	// StateBytes is the presence_state the last watcher got.
	StateBytes int `json:"state_bytes"`
	// The churn: each churner connects, joins (is tracked), holds, leaves.
	ChurnJoinP50 float64 `json:"churn_join_p50_us"`
	ChurnJoinP99 float64 `json:"churn_join_p99_us"`
	// Diffs: every watcher must see each churner join and leave.
	Expected  int64   `json:"expected"`
	Delivered int64   `json:"delivered"`
	DiffFrame int64   `json:"diff_frames"`
	JoinP50   float64 `json:"join_seen_p50_us"`
	JoinP99   float64 `json:"join_seen_p99_us"`
	LeaveP50  float64 `json:"leave_seen_p50_us"`
	LeaveP99  float64 `json:"leave_seen_p99_us"`
	MaxUs     float64 `json:"max_us"`
	// Convergence: after the last leave, time until every watcher's
	// presence list holds exactly the N watchers.
	ConvergeMs float64 `json:"converge_ms"`
	Converged  int     `json:"converged_watchers"`
	// Server CPU during the churn, per presence change (a join or a
	// leave) and per diff delivered.
	CPUUsPerChange   float64 `json:"server_cpu_us_per_change"`
	CPUUsPerDelivery float64 `json:"server_cpu_us_per_diff_delivery"`
}

func runPresence(args []string) error {
	fs := flag.NewFlagSet("presence", flag.ExitOnError)
	n := fs.Int("n", 1000, "watchers: connections that join the presence topic and stay")
	churn := fs.Int("churn", 200, "churners: connections that join, hold and leave, one every 1/rate s")
	rate := fs.Float64("rate", 50, "churner joins per second, open loop")
	hold := fs.Duration("hold", time.Second, "how long each churner stays")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	dialers := fs.Int("dialers", 64, "concurrent dials of the watchers")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
	_ = fs.Parse(args)
	if *n < 1 || *churn < 1 || *rate <= 0 || *sources < 1 || *sources > 250 {
		return errors.New("presence: need -n ≥ 1, -churn ≥ 1, -rate > 0, 1 ≤ -sources ≤ 250")
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()
	spec, err := parleySpec()
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, spec, *timeout+time.Minute)
	if err != nil {
		return err
	}
	p := &presenceRun{
		url: srv.url, n: *n, churn: *churn, rate: *rate, hold: *hold, sources: *sources, dialers: *dialers,
	}
	res, err := p.run(ctx, srv)
	p.close()
	if serr := srv.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return err
	}
	fmt.Printf("presence: %d watchers joined in %.2f s (%.0f joins/s, each tracked and sent presence_state; last state %d B)\n",
		res.N, res.ConnectSecs, res.JoinsPerSec, res.StateBytes)
	fmt.Printf("churn: %d connections joined at %.0f/s, held %s, left; join reply p50 %.1f ms p99 %.1f ms\n",
		res.Churn, res.Rate, *hold, res.ChurnJoinP50/1e3, res.ChurnJoinP99/1e3)
	fmt.Printf("diffs seen by watchers: %d of %d (%d frames); join seen p50 %.1f ms p99 %.1f ms; leave seen p50 %.1f ms p99 %.1f ms; max %.1f ms\n",
		res.Delivered, res.Expected, res.DiffFrame, res.JoinP50/1e3, res.JoinP99/1e3, res.LeaveP50/1e3, res.LeaveP99/1e3, res.MaxUs/1e3)
	fmt.Printf("converged: %d of %d watchers list exactly the %d watchers, %.0f ms after the last leave\n",
		res.Converged, res.N, res.N, res.ConvergeMs)
	fmt.Printf("server CPU: %.0f µs per presence change, %.2f µs per diff delivered\n", res.CPUUsPerChange, res.CPUUsPerDelivery)
	printResult(res)
	return nil
}

// presenceRun is one presence churn measurement.
type presenceRun struct {
	url                string
	n, churn           int
	rate               float64
	hold               time.Duration
	sources, dialers   int
	watchers           []*watcher
	readers            sync.WaitGroup
	joinSent, leftSent []atomic.Int64 // per churner, unix nanos
	delivered, frames  atomic.Int64
	lastLeave          atomic.Int64
}

// watcher is a connection that joined the presence topic and keeps its
// own copy of the presence list, as the phoenix JS Presence does.
type watcher struct {
	p  *presenceRun
	ws *wsclient.Conn
	// mu guards the fields below.
	mu         sync.Mutex
	keys       map[string]bool
	joinLat    []int64
	leaveLat   []int64
	stateBytes int
	err        error
	joined     chan struct{}
	stated     chan struct{}
}

const presenceTopic = "presence:lobby"

func (p *presenceRun) run(ctx context.Context, srv *serverProc) (presenceResult, error) {
	res := presenceResult{Mode: "presence", Server: "parley", N: p.n, Churn: p.churn, Rate: p.rate, HoldSec: p.hold.Seconds()}
	p.joinSent = make([]atomic.Int64, p.churn)
	p.leftSent = make([]atomic.Int64, p.churn)

	// Watchers, Dialers at a time.
	start := time.Now()
	p.watchers = make([]*watcher, p.n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, p.dialers)
	for range min(p.dialers, p.n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= p.n {
					return
				}
				w, err := p.dialWatcher(ctx, i)
				if err != nil {
					errs <- fmt.Errorf("watcher %d: %w", i, err)
					return
				}
				p.watchers[i] = w
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return res, err
	}
	res.ConnectSecs = time.Since(start).Seconds()
	res.JoinsPerSec = float64(p.n) / res.ConnectSecs
	last := p.watchers[p.n-1]
	last.mu.Lock()
	res.StateBytes = last.stateBytes
	last.mu.Unlock()
	// Every watcher must list every watcher before the churn starts.
	if err := p.waitLists(ctx, 30*time.Second); err != nil {
		return res, fmt.Errorf("before the churn: %w", err)
	}
	hb, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go p.heartbeats(hb)

	before, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	p.delivered.Store(0)
	p.frames.Store(0)
	churnStart := time.Now()
	joinLat := make([]int64, p.churn)
	var cwg sync.WaitGroup
	cerrs := make(chan error, p.churn)
	for i := range p.churn {
		due := churnStart.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
		if !sleepCtx(ctx, time.Until(due)) {
			break
		}
		cwg.Go(func() {
			d, err := p.churnOne(ctx, i)
			if err != nil {
				cerrs <- fmt.Errorf("churner %d: %w", i, err)
				return
			}
			joinLat[i] = d
		})
	}
	cwg.Wait()
	close(cerrs)
	if err := <-cerrs; err != nil {
		return res, err
	}
	if err := p.waitLists(ctx, 60*time.Second); err != nil {
		return res, fmt.Errorf("after the churn: %w", err)
	}
	after, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	res.ConvergeMs = float64(time.Now().UnixNano()-p.lastLeave.Load()) / 1e6
	res.Converged = p.n

	slices.Sort(joinLat)
	res.ChurnJoinP50 = float64(percentile(joinLat, 50)) / 1e3
	res.ChurnJoinP99 = float64(percentile(joinLat, 99)) / 1e3
	res.Expected = int64(2 * p.churn * p.n)
	res.Delivered = p.delivered.Load()
	res.DiffFrame = p.frames.Load()
	var joins, leaves []int64
	for _, w := range p.watchers {
		w.mu.Lock()
		joins = append(joins, w.joinLat...)
		leaves = append(leaves, w.leaveLat...)
		w.mu.Unlock()
	}
	slices.Sort(joins)
	slices.Sort(leaves)
	res.JoinP50, res.JoinP99 = float64(percentile(joins, 50))/1e3, float64(percentile(joins, 99))/1e3
	res.LeaveP50, res.LeaveP99 = float64(percentile(leaves, 50))/1e3, float64(percentile(leaves, 99))/1e3
	if len(joins) > 0 && len(leaves) > 0 {
		res.MaxUs = float64(max(joins[len(joins)-1], leaves[len(leaves)-1])) / 1e3
	}
	cpu := float64(after.CPUMicros - before.CPUMicros)
	res.CPUUsPerChange = cpu / float64(2*p.churn)
	if res.Delivered > 0 {
		res.CPUUsPerDelivery = cpu / float64(res.Delivered)
	}
	if res.Delivered != res.Expected {
		return res, fmt.Errorf("presence: watchers saw %d of %d joins and leaves", res.Delivered, res.Expected)
	}
	return res, nil
}

// waitLists polls until every watcher lists exactly the N watchers.
func (p *presenceRun) waitLists(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		bad := 0
		var sample string
		for i, w := range p.watchers {
			w.mu.Lock()
			ok := len(w.keys) == p.n && w.err == nil
			if w.err != nil {
				sample = fmt.Sprintf("watcher %d: %v", i, w.err)
			} else if !ok && sample == "" {
				sample = fmt.Sprintf("watcher %d lists %d", i, len(w.keys))
			}
			w.mu.Unlock()
			if !ok {
				bad++
			}
		}
		if bad == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d watchers do not list exactly the %d watchers (%s)", bad, p.n, p.n, sample)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *presenceRun) src(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%p.sources)})
}

func (p *presenceRun) wsURL() string {
	return "ws" + strings.TrimPrefix(p.url, "http") + "/socket/websocket?vsn=2.0.0"
}

func joinFrame(user string) []byte {
	return []byte(`["1","1","` + presenceTopic + `","phx_join",{"user":"` + user + `"}]`)
}

// dialWatcher connects watcher i, joins, and waits for its presence_state.
func (p *presenceRun) dialWatcher(ctx context.Context, i int) (*watcher, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, err := wsclient.Dial(cctx, p.wsURL(), &wsclient.Options{LocalAddr: p.src(i), ReadBufferSize: 4096})
	if err != nil {
		return nil, err
	}
	w := &watcher{p: p, ws: ws, keys: make(map[string]bool), joined: make(chan struct{}), stated: make(chan struct{})}
	if err := ws.Write(cctx, wsclient.Text, joinFrame("w"+strconv.Itoa(i))); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	stated := w.stated
	p.readers.Add(1)
	go w.readLoop()
	select {
	case <-stated:
		return w, nil
	case <-cctx.Done():
		_ = ws.CloseNow()
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, errors.Join(fmt.Errorf("no presence_state: %w", cctx.Err()), w.err)
	}
}

var (
	stateMarker = []byte(`"presence_state",`)
	diffMarker  = []byte(`"presence_diff",`)
)

// readLoop applies presence_state and presence_diff to the watcher's list
// and records, for each churner's join and leave, how long after it was
// sent the diff arrived.
func (w *watcher) readLoop() {
	defer w.p.readers.Done()
	for {
		_, data, err := w.ws.Read(context.Background())
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		switch {
		case bytes.Contains(data, diffMarker):
			w.p.frames.Add(1)
			if err := w.applyDiff(data, now); err != nil {
				w.fail(err)
			}
		case bytes.Contains(data, stateMarker):
			if err := w.applyState(data); err != nil {
				w.fail(err)
			}
		default:
			if _, err := joinReply(data, "1", "1"); err != nil {
				w.fail(err)
			}
		}
	}
}

func (w *watcher) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// payload returns the fifth element of a V2 frame.
func payload(data []byte) (json.RawMessage, error) {
	var f []json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil || len(f) != 5 {
		return nil, fmt.Errorf("bad frame %.80q: %v", data, err)
	}
	return f[4], nil
}

func (w *watcher) applyState(data []byte) error {
	pl, err := payload(data)
	if err != nil {
		return err
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(pl, &state); err != nil {
		return fmt.Errorf("presence_state: %w", err)
	}
	w.mu.Lock()
	for k := range state {
		w.keys[k] = true
	}
	w.stateBytes = len(data)
	first := w.stated != nil
	stated := w.stated
	w.stated = nil
	w.mu.Unlock()
	if first {
		close(stated)
	}
	return nil
}

func (w *watcher) applyDiff(data []byte, now int64) error {
	pl, err := payload(data)
	if err != nil {
		return err
	}
	var d struct {
		Joins  map[string]json.RawMessage `json:"joins"`
		Leaves map[string]json.RawMessage `json:"leaves"`
	}
	if err := json.Unmarshal(pl, &d); err != nil {
		return fmt.Errorf("presence_diff: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range d.Leaves {
		delete(w.keys, k)
		if i, ok := churnerIndex(k, len(w.p.leftSent)); ok {
			w.p.delivered.Add(1)
			w.leaveLat = append(w.leaveLat, now-w.p.leftSent[i].Load())
		}
	}
	for k := range d.Joins {
		w.keys[k] = true
		if i, ok := churnerIndex(k, len(w.p.joinSent)); ok {
			w.p.delivered.Add(1)
			w.joinLat = append(w.joinLat, now-w.p.joinSent[i].Load())
		}
	}
	return nil
}

// churnerIndex parses "c<i>".
func churnerIndex(key string, n int) (int, bool) {
	if !strings.HasPrefix(key, "c") {
		return 0, false
	}
	i, err := strconv.Atoi(key[1:])
	return i, err == nil && i >= 0 && i < n
}

// churnOne connects churner i, joins, holds, leaves and closes; it returns
// the time from sending the join to its reply.
func (p *presenceRun) churnOne(ctx context.Context, i int) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, err := wsclient.Dial(cctx, p.wsURL(), &wsclient.Options{LocalAddr: p.src(i + 1), ReadBufferSize: 4096})
	if err != nil {
		return 0, err
	}
	defer ws.CloseNow()
	sent := time.Now().UnixNano()
	p.joinSent[i].Store(sent)
	if err := ws.Write(cctx, wsclient.Text, joinFrame("c"+strconv.Itoa(i))); err != nil {
		return 0, err
	}
	var joinLat int64
	for joinLat == 0 {
		_, data, err := ws.Read(cctx)
		if err != nil {
			return 0, err
		}
		ok, err := joinReply(data, "1", "1")
		if err != nil {
			return 0, err
		}
		if ok {
			joinLat = time.Now().UnixNano() - sent
		}
	}
	// Hold: the shape of the load, not synchronisation. Diffs meanwhile
	// wait in the socket and are read below.
	if !sleepCtx(cctx, p.hold) {
		return 0, cctx.Err()
	}
	left := time.Now().UnixNano()
	p.leftSent[i].Store(left)
	if err := ws.Write(cctx, wsclient.Text, []byte(`["1","2","`+presenceTopic+`","phx_leave",{}]`)); err != nil {
		return 0, err
	}
	for {
		_, data, err := ws.Read(cctx)
		if err != nil {
			return 0, fmt.Errorf("waiting for the leave reply: %w", err)
		}
		if bytes.HasPrefix(data, []byte(`["1","2",`)) {
			break
		}
	}
	for {
		old := p.lastLeave.Load()
		if left <= old || p.lastLeave.CompareAndSwap(old, left) {
			break
		}
	}
	_ = ws.Close(cctx, 1000, "")
	return joinLat, nil
}

// heartbeats keeps the watchers' connections alive during long runs.
func (p *presenceRun) heartbeats(ctx context.Context) {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for ref := 1; ; ref++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		frame := []byte(`[null,"hb` + strconv.Itoa(ref) + `","phoenix","heartbeat",{}]`)
		for _, w := range p.watchers {
			_ = w.ws.Write(ctx, wsclient.Text, frame)
		}
	}
}

// close closes every watcher and waits for their readers.
func (p *presenceRun) close() {
	for _, w := range p.watchers {
		if w != nil {
			_ = w.ws.CloseNow()
		}
	}
	p.readers.Wait()
}
