package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
)

// liveResult is the PARLEY_BENCH_RESULT of live: N connected dashboard
// views, Updates broadcasts measured (after Warmup unmeasured ones), each
// one dashboard update that every view must receive as a diff.
type liveResult struct {
	Server  string `json:"server"`
	Proto   string `json:"proto"`
	N       int    `json:"n"`
	Updates int    `json:"updates"`
	Warmup  int    `json:"warmup"`
	// ConnectSecs is the time to load the page and connect every view.
	ConnectSecs float64 `json:"connect_s"`
	// PageBytes is the size of the page of the first GET (HTML);
	// JoinBytes the WebSocket payload bytes a view received before it was
	// ready (Parley: the join reply with the full render; jfyne/live: its
	// "connect" and the "ack" of the ready event).
	PageBytes int `json:"page_bytes"`
	JoinBytes int `json:"join_bytes"`
	// DiffFrames and DiffBytes are the diff frames ("diff" pushes, "patch"
	// events) and their WebSocket payload bytes received by all views
	// during the measured updates.
	DiffFrames int64 `json:"diff_frames"`
	DiffBytes  int64 `json:"diff_bytes"`
	// BytesPerUpdate is the payload bytes one view received per update;
	// FramesPerUpdate the frames (1 when each update is one frame).
	BytesPerUpdate  float64 `json:"bytes_per_update"`
	FramesPerUpdate float64 `json:"frames_per_update"`
	// Latency from the broadcast request to a view's first diff frame of
	// that update, over every view and measured update, µs.
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
	// AllMedian and AllMax are the median and the worst, over the
	// measured updates, of the time until every view had the update's
	// diff, µs.
	AllMedian float64 `json:"all_views_median_us"`
	AllMax    float64 `json:"all_views_max_us"`
	// ServerCPUUsPerUpdate is the server's CPU (getrusage, user+system)
	// per update, for all N views; ServerCPUUsPerView the same per view.
	ServerCPUUsPerUpdate float64 `json:"server_cpu_us_per_update"`
	ServerCPUUsPerView   float64 `json:"server_cpu_us_per_view_update"`
	// RSSKiB is the server's RSS with the views connected, after the
	// updates; RSSBaseKiB before the first view (both after a forced GC); KiBPerView the
	// difference per view.
	RSSKiB     int64   `json:"rss_kib"`
	RSSBaseKiB int64   `json:"rss_base_kib"`
	KiBPerView float64 `json:"kib_per_view"`
	// SampleDiff is one view's diff frame of the first measured update.
	SampleDiff string `json:"sample_diff"`
}

// liveProto is the LiveView client protocol of a server: Parley's
// (phoenix_live_view over Phoenix V2) or jfyne/live's.
type liveProto int

const (
	liveParley liveProto = iota
	liveJfyne
)

// liveFleet is N views of the dashboard, each on its own WebSocket with
// its own read goroutine, counting the diff frames of each update.
type liveFleet struct {
	base    string // http://host:port
	proto   liveProto
	sources int
	views   []*liveView
	http    *http.Client

	// round is the number of the current update, start the unix nanos of
	// its broadcast request, pending the views still without its diff.
	round   atomic.Int64
	start   atomic.Int64
	pending atomic.Int64
	frames  atomic.Int64
	bytes   atomic.Int64
	// readers counts the read goroutines.
	readers sync.WaitGroup

	hbStarted bool
	hbStop    chan struct{}
	hbDone    chan struct{}

	// mu guards errs.
	mu   sync.Mutex
	errs []error
}

// liveView is one connected view.
type liveView struct {
	f     *liveFleet
	i     int
	ws    *wsclient.Conn
	topic string        // Parley: "lv:<id>"
	ready chan struct{} // closed once joined (Parley) or acked (jfyne/live)
	done  chan struct{} // closed when the read goroutine ends

	// mu guards the fields below.
	mu        sync.Mutex
	joinBytes int
	seen      int64   // the last round whose diff arrived
	lat       []int64 // per round, ns from the broadcast request
	sample    []byte
}

func (f *liveFleet) fail(err error) {
	f.mu.Lock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, err)
	}
	f.mu.Unlock()
}

func (f *liveFleet) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.errs...)
}

var (
	reLiveContainer = regexp.MustCompile(`<div id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`)
	reLiveCSRF      = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)
)

// dialLive loads the page and connects n views, dialers at a time; it
// returns once every view is ready, and the size of the first page.
func dialLive(ctx context.Context, base string, proto liveProto, n, sources, dialers int) (*liveFleet, int, error) {
	f := &liveFleet{
		base: base, proto: proto, sources: max(1, sources), views: make([]*liveView, n),
		http:   &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: dialers}, Timeout: 15 * time.Second},
		hbStop: make(chan struct{}), hbDone: make(chan struct{}),
	}
	var pageBytes atomic.Int64
	next := atomic.Int64{}
	var wg sync.WaitGroup
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range max(1, dialers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || dctx.Err() != nil {
					return
				}
				v, size, err := f.dialView(dctx, i)
				if err != nil {
					f.fail(fmt.Errorf("view %d: %w", i, err))
					cancel()
					return
				}
				if i == 0 {
					pageBytes.Store(int64(size))
				}
				f.views[i] = v
			}
		}()
	}
	wg.Wait()
	if err := f.err(); err != nil || ctx.Err() != nil {
		f.close()
		return nil, 0, errors.Join(err, ctx.Err())
	}
	if proto == liveParley {
		f.hbStarted = true
		go f.heartbeats()
	}
	return f, int(pageBytes.Load()), nil
}

// dialView loads the page as a browser does, connects its WebSocket as
// the server's client library does, and waits until the view is live.
func (f *liveFleet) dialView(ctx context.Context, i int) (*liveView, int, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, f.base+dashboardPath, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", dashboardPath, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", dashboardPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s", dashboardPath, resp.Status)
	}
	page := string(body)
	if err := dashboardCheck(page); err != nil {
		return nil, 0, err
	}
	header := http.Header{}
	for _, ck := range resp.Cookies() {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	wsBase := "ws" + strings.TrimPrefix(f.base, "http")
	v := &liveView{f: f, i: i, ready: make(chan struct{}), done: make(chan struct{})}
	var wsURL string
	var hello []byte
	switch f.proto {
	case liveParley:
		// phoenix_live_view: new LiveSocket("/live", Socket, {params:
		// {_csrf_token}}) connects /live/websocket with the params and
		// vsn=2.0.0, then joins "lv:<container id>".
		m, c := reLiveContainer.FindStringSubmatch(page), reLiveCSRF.FindStringSubmatch(page)
		if m == nil || c == nil {
			return nil, 0, errors.New("no live container or CSRF token in the page")
		}
		v.topic = "lv:" + m[1]
		q := url.Values{"_csrf_token": {c[1]}, "vsn": {"2.0.0"}}
		wsURL = wsBase + "/live/websocket?" + q.Encode()
		payload, err := json.Marshal(map[string]any{
			"url":     f.base + dashboardPath,
			"params":  map[string]any{"_csrf_token": c[1], "_mounts": 0, "_mount_attempts": 0},
			"session": m[2],
			"static":  m[3],
			"sticky":  false,
		})
		if err != nil {
			return nil, 0, err
		}
		topic, _ := json.Marshal(v.topic)
		hello = fmt.Appendf(nil, `["1","1",%s,"phx_join",%s]`, topic, payload)
	case liveJfyne:
		// jfyne/live's client dials the page's own URL with the _psid
		// cookie the page set.
		if !strings.Contains(header.Get("Cookie"), "_psid=") {
			return nil, 0, errors.New("no _psid cookie from the page")
		}
		wsURL = wsBase + dashboardPath
	}
	src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%f.sources)})
	ws, err := wsclient.Dial(cctx, wsURL, &wsclient.Options{LocalAddr: src, Header: header, ReadBufferSize: 4096})
	if err != nil {
		return nil, 0, err
	}
	v.ws = ws
	if hello != nil {
		if err := ws.Write(cctx, wsclient.Text, hello); err != nil {
			_ = ws.CloseNow()
			return nil, 0, err
		}
	}
	f.readers.Add(1)
	go v.readLoop()
	select {
	case <-v.ready:
		return v, len(body), nil
	case <-v.done:
		return nil, 0, errors.New("connection ended before the view was ready")
	case <-cctx.Done():
		_ = ws.CloseNow()
		return nil, 0, fmt.Errorf("view not ready: %w", cctx.Err())
	}
}

var (
	jfyneConnect = []byte(`{"t":"connect"`)
	jfyneAck     = []byte(`{"t":"ack","i":1,`)
	jfynePatch   = []byte(`{"t":"patch",`)
	jfyneErr     = []byte(`{"t":"err",`)
	jfyneReady   = []byte(`{"t":"ready","i":1,"d":{}}`)
	phxDiff      = []byte(`","diff",`)
)

// readLoop reads until the connection ends. It runs with a background
// context: the fleet ends it by closing the connection.
func (v *liveView) readLoop() {
	defer v.f.readers.Done()
	defer close(v.done)
	ready := false
	for {
		_, data, err := v.ws.Read(context.Background())
		if err != nil {
			if !ready {
				v.f.fail(fmt.Errorf("view %d: before ready: %w", v.i, err))
			}
			return
		}
		now := time.Now().UnixNano()
		if !ready {
			ok, err := v.handshake(data)
			if err != nil {
				v.f.fail(fmt.Errorf("view %d: %w", v.i, err))
				_ = v.ws.CloseNow()
				return
			}
			if ok {
				ready = true
				close(v.ready)
			}
			continue
		}
		if v.isDiff(data) {
			v.diff(data, now)
		} else if v.f.proto == liveJfyne && bytes.HasPrefix(data, jfyneErr) {
			v.f.fail(fmt.Errorf("view %d: server error %s", v.i, data))
		}
	}
}

// handshake handles a frame received before the view is ready; it reports
// whether the view is now ready.
func (v *liveView) handshake(data []byte) (bool, error) {
	v.mu.Lock()
	v.joinBytes += len(data)
	v.mu.Unlock()
	switch v.f.proto {
	case liveParley:
		return joinReply(data, "1", "1")
	default:
		switch {
		case bytes.HasPrefix(data, jfyneConnect):
			// As a page hook's pushEvent would: a tracked event, acked
			// once the server has mounted and rendered the socket.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return false, v.ws.Write(ctx, wsclient.Text, jfyneReady)
		case bytes.HasPrefix(data, jfyneAck):
			return true, nil
		case bytes.HasPrefix(data, jfyneErr):
			return false, fmt.Errorf("server error %s", data)
		}
		return false, nil
	}
}

// isDiff reports whether a frame is a diff: a "diff" push on the view's
// topic, or a jfyne/live "patch" event.
func (v *liveView) isDiff(data []byte) bool {
	if v.f.proto == liveJfyne {
		return bytes.HasPrefix(data, jfynePatch)
	}
	head := data
	if i := bytes.IndexByte(data, '{'); i >= 0 {
		head = data[:i]
	}
	return bytes.Contains(head, phxDiff)
}

// diff counts a diff frame; the first of a round records its latency.
func (v *liveView) diff(data []byte, now int64) {
	f := v.f
	f.frames.Add(1)
	f.bytes.Add(int64(len(data)))
	r := f.round.Load()
	v.mu.Lock()
	first := v.seen < r
	if first {
		v.seen = r
		v.lat = append(v.lat, now-f.start.Load())
		if v.sample == nil {
			v.sample = bytes.Clone(data)
		}
	}
	v.mu.Unlock()
	if first {
		f.pending.Add(-1)
	}
}

// heartbeats sends the Phoenix heartbeat on every Parley view every 25 s,
// as the phoenix client does every 30 s.
func (f *liveFleet) heartbeats() {
	defer close(f.hbDone)
	t := time.NewTicker(25 * time.Second)
	defer t.Stop()
	for ref := 1; ; ref++ {
		select {
		case <-f.hbStop:
			return
		case <-t.C:
		}
		frame := []byte(`[null,"hb` + strconv.Itoa(ref) + `","phoenix","heartbeat",{}]`)
		for _, v := range f.views {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := v.ws.Write(ctx, wsclient.Text, frame)
			cancel()
			if err != nil {
				f.fail(fmt.Errorf("heartbeat view %d: %w", v.i, err))
			}
		}
	}
}

// reset forgets the rounds so far (the warm-up).
func (f *liveFleet) reset() {
	f.frames.Store(0)
	f.bytes.Store(0)
	for _, v := range f.views {
		v.mu.Lock()
		v.lat, v.sample = v.lat[:0], nil
		v.mu.Unlock()
	}
}

// update runs one round: it broadcasts one dashboard update through the
// server's control route and waits until every view has its diff.
func (f *liveFleet) update(ctx context.Context, srv *serverProc, round int64) error {
	f.pending.Store(int64(len(f.views)))
	f.start.Store(time.Now().UnixNano())
	f.round.Store(round)
	q := url.Values{"topic": {dashboardTopic}, "n": {"1"}, "event": {"update"}}
	if err := srv.call(ctx, http.MethodPost, "/bench/broadcast?"+q.Encode(), nil); err != nil {
		return fmt.Errorf("live: broadcast: %w", err)
	}
	if !waitFor(ctx, 60*time.Second, func() bool { return f.pending.Load() <= 0 }) {
		return fmt.Errorf("live: update %d: %d of %d views without a diff after 60 s", round, f.pending.Load(), len(f.views))
	}
	return f.err()
}

// close runs the close handshake on every view (64 at a time, 3 s each,
// then cut) and waits for the read goroutines. Call it once.
func (f *liveFleet) close() {
	if f.hbStarted {
		close(f.hbStop)
		<-f.hbDone
		f.hbStarted = false
	}
	work := make(chan *liveView)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				if err := v.ws.Close(ctx, 1000, "bench done"); err != nil {
					_ = v.ws.CloseNow()
				}
				cancel()
			}
		}()
	}
	for _, v := range f.views {
		if v != nil {
			work <- v
		}
	}
	close(work)
	wg.Wait()
	f.readers.Wait()
	f.http.CloseIdleConnections()
}

// liveProtoOf maps the protocol a server announced to its LiveView client.
func liveProtoOf(p *protocol) (liveProto, error) {
	switch p.name {
	case "phoenix":
		return liveParley, nil
	case "jfynelive":
		return liveJfyne, nil
	}
	return 0, fmt.Errorf("live: the server speaks %s, which serves no LiveView (parley or jfynelive)", p.name)
}

// liveRun connects n views to a running server, makes warmup unmeasured
// updates, then updates measured ones.
// With cpuProfile set, the server's CPU profile of the measured updates
// is written there (Parley only).
func liveRun(ctx context.Context, srv *serverProc, n, updates, warmup, sources int, quiet time.Duration, cpuProfile string) (liveResult, error) {
	res := liveResult{Server: srv.name, Proto: srv.proto.name, N: n, Updates: updates, Warmup: warmup}
	proto, err := liveProtoOf(srv.proto)
	if err != nil {
		return res, err
	}
	if err := srv.gc(ctx); err != nil {
		return res, err
	}
	res.RSSBaseKiB, _ = rssKiB(srv.pid)
	began := time.Now()
	f, pageBytes, err := dialLive(ctx, srv.url, proto, n, sources, 32)
	if err != nil {
		return res, err
	}
	defer f.close()
	res.ConnectSecs, res.PageBytes = time.Since(began).Seconds(), pageBytes
	f.views[0].mu.Lock()
	res.JoinBytes = f.views[0].joinBytes
	f.views[0].mu.Unlock()
	// The server counts them too: Parley its connected dashboard views,
	// the jfyne/live peer its mounted sockets.
	st, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	if views := map[liveProto]int64{liveParley: st.LiveViews, liveJfyne: st.Sockets}[proto]; views != int64(n) {
		return res, fmt.Errorf("live: the server counts %d connected views, want %d", views, n)
	}
	round := int64(0)
	for range warmup {
		round++
		if err := f.update(ctx, srv, round); err != nil {
			return res, err
		}
	}
	f.reset()
	if quiet > 0 {
		waitQuiet(ctx, quiet)
	}
	if cpuProfile != "" {
		if err := srv.call(ctx, http.MethodPost, "/bench/cpuprofile/start", nil); err != nil {
			return res, err
		}
	}
	st0, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	for range updates {
		round++
		if err := f.update(ctx, srv, round); err != nil {
			return res, err
		}
	}
	if cpuProfile != "" {
		if err := saveCPUProfile(ctx, srv, cpuProfile); err != nil {
			return res, err
		}
	}
	st1, err := srv.stats(ctx)
	if err != nil {
		return res, err
	}
	if err := srv.gc(ctx); err != nil {
		return res, err
	}
	res.RSSKiB, _ = rssKiB(srv.pid)
	res.KiBPerView = float64(res.RSSKiB-res.RSSBaseKiB) / float64(n)

	res.DiffFrames, res.DiffBytes = f.frames.Load(), f.bytes.Load()
	views := float64(n) * float64(updates)
	res.BytesPerUpdate = float64(res.DiffBytes) / views
	res.FramesPerUpdate = float64(res.DiffFrames) / views
	cpu := float64(st1.CPUMicros - st0.CPUMicros)
	res.ServerCPUUsPerUpdate, res.ServerCPUUsPerView = cpu/float64(updates), cpu/views
	var lat []int64
	all := make([]int64, updates)
	for _, v := range f.views {
		v.mu.Lock()
		if len(v.lat) != updates {
			v.mu.Unlock()
			return res, fmt.Errorf("live: view %d saw %d of %d updates", v.i, len(v.lat), updates)
		}
		lat = append(lat, v.lat...)
		for r, l := range v.lat {
			all[r] = max(all[r], l)
		}
		if v.i == 0 {
			res.SampleDiff = string(v.sample)
		}
		v.mu.Unlock()
	}
	slices.Sort(lat)
	slices.Sort(all)
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	res.P50, res.P99, res.Max = us(percentile(lat, 50)), us(percentile(lat, 99)), us(percentile(lat, 100))
	res.AllMedian, res.AllMax = us(percentile(all, 50)), us(percentile(all, 100))
	return res, f.err()
}

func runLive(args []string) error {
	fs := flag.NewFlagSet("live", flag.ExitOnError)
	n := fs.Int("n", 1000, "connected views")
	updates := fs.Int("updates", 10, "measured updates (broadcasts)")
	warmup := fs.Int("warmup", 2, "unmeasured updates first")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	quiet := fs.Duration("quiet", 0, "before measuring, wait up to this long for the machine to be ≥ 90% idle")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole run")
	cpuProfile := fs.String("cpuprofile", "", "write the server's CPU profile of the measured updates to this file (parley only)")
	sf := addServerFlags(fs)
	_ = fs.Parse(args)
	if *n < 1 || *updates < 1 || *warmup < 0 || *sources < 1 || *sources > 250 {
		return errors.New("live: need -n, -updates ≥ 1, -warmup ≥ 0, 1 ≤ -sources ≤ 250")
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()
	spec, cleanup, err := sf.resolve(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := liveOnce(ctx, spec, *n, *updates, *warmup, *sources, *quiet, *timeout, *cpuProfile)
	if err != nil {
		return err
	}
	printLive(res)
	printResult(res)
	return nil
}

// liveOnce starts the server, runs liveRun and stops the server.
func liveOnce(ctx context.Context, spec serverSpec, n, updates, warmup, sources int, quiet, maxtime time.Duration, cpuProfile string) (liveResult, error) {
	srv, err := startServer(ctx, spec, maxtime+time.Minute)
	if err != nil {
		return liveResult{Server: spec.Name}, err
	}
	res, err := liveRun(ctx, srv, n, updates, warmup, sources, quiet, cpuProfile)
	if serr := srv.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	return res, err
}

func printLive(r liveResult) {
	fmt.Printf("server: %s (%s LiveView protocol)\n", r.Server, r.Proto)
	fmt.Printf("live: %d dashboard views connected in %.1f s; page %d B, %d B on the socket before ready\n",
		r.N, r.ConnectSecs, r.PageBytes, r.JoinBytes)
	fmt.Printf("%d updates (after %d warm-up): %.1f B and %.2f frames per view per update (%d frames, %d B in all)\n",
		r.Updates, r.Warmup, r.BytesPerUpdate, r.FramesPerUpdate, r.DiffFrames, r.DiffBytes)
	fmt.Printf("broadcast → a view's diff, µs: p50 %.0f  p99 %.0f  max %.0f\n", r.P50, r.P99, r.Max)
	fmt.Printf("broadcast → every view's diff, µs: median %.0f  max %.0f\n", r.AllMedian, r.AllMax)
	fmt.Printf("server CPU per update: %.0f µs (%.2f µs per view); server RSS %d KiB (%.1f KiB per view)\n",
		r.ServerCPUUsPerUpdate, r.ServerCPUUsPerView, r.RSSKiB, r.KiBPerView)
	fmt.Printf("a diff frame: %s\n", r.SampleDiff)
}
