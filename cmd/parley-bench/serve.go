package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley-go/parley"
	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
	"github.com/parley-go/parley/transport/websocket"
)

// benchChannel serves "bench:*": every join is accepted, "ping" is
// answered ok.
type benchChannel struct{}

func (benchChannel) Join(*channel.Context, json.RawMessage) (any, error) { return nil, nil }

func (benchChannel) HandleIn(_ *channel.Context, m channel.Message) (*channel.Reply, error) {
	if m.Event == "ping" {
		return channel.Ok(nil), nil
	}
	return channel.ErrorReply(map[string]string{"reason": "unknown event"}), nil
}

// serverStats is the body of GET /bench/stats.
type serverStats struct {
	Goroutines  int    `json:"goroutines"`
	Sockets     int64  `json:"sockets"`
	HeapInuse   uint64 `json:"heap_inuse"`
	HeapObjects uint64 `json:"heap_objects"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
	// CPUMicros is user+system CPU of the process from getrusage, in µs.
	CPUMicros int64 `json:"cpu_us"`
	// LiveViews counts the connected dashboard views (command live).
	LiveViews int64 `json:"live_views"`
	// Adapter is the cluster adapter's counters (serve -nats only).
	Adapter *pubsub.AdapterStats `json:"adapter,omitempty"`
	// Arrivals maps the stamp of each of the latest "msg" broadcasts of
	// the -probe topic to when it reached this node's PubSub (unix ns).
	Arrivals map[int64]int64 `json:"arrivals,omitempty"`
}

// arrivalProbe is a PubSub subscriber that records when each "msg"
// broadcast arrives: on the sending node that is the moment of the
// broadcast, on the others the moment the NATS adapter hands it over.
type arrivalProbe struct {
	// mu guards at.
	mu sync.Mutex
	at map[int64]int64 // stamp → unix ns
}

// Deliver records m's arrival; it keeps the latest 1024 stamps.
func (p *arrivalProbe) Deliver(m *pubsub.Message) {
	now := time.Now().UnixNano()
	i := bytes.Index(m.Payload, msgMarker)
	if i < 0 {
		return
	}
	t, ok := leadingInt(m.Payload[i+len(msgMarker):])
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at == nil || len(p.at) >= 1024 {
		p.at = make(map[int64]int64)
	}
	p.at[t] = now
}

func (p *arrivalProbe) arrivals() map[int64]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.at)
}

// clusterPubSub returns nils for an empty natsURL (the Endpoint makes its
// own in-process PubSub), else a PubSub over NATS named node and its
// adapter; the caller closes the PubSub after the Endpoint's Shutdown.
func clusterPubSub(natsURL, node string, logger *slog.Logger) (*pubsub.PubSub, *natspubsub.Adapter, error) {
	if natsURL == "" {
		return nil, nil, nil
	}
	if node == "" {
		node = fmt.Sprintf("bench-%d", os.Getpid())
	}
	a := natspubsub.New(natspubsub.Config{URL: natsURL, Namespace: "parley-bench", Logger: logger})
	ps, err := pubsub.New(pubsub.Config{Node: node, Adapter: a, Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("serve: -nats: %w", err)
	}
	return ps, a, nil
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	maxtime := fs.Duration("maxtime", 30*time.Minute, "exit by itself after this long")
	memRate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate (0 keeps the default 512 KiB; 1 records every allocation)")
	logLevel := fs.String("log", "warn", "log level: debug, info, warn, error")
	natsURL := fs.String("nats", "", "NATS URL (nats://host:port): broadcasts reach every serve on the same NATS (default: in-process PubSub)")
	node := fs.String("node", "", "this node's name with -nats, unique among the nodes (default bench-<pid>)")
	fastlane := fs.Bool("fastlane", true, "dashboard views are live.SharedViews: views that went through the same update share one render")
	withPresence := fs.Bool("presence", true, "serve presence:* (its tracker gossips over the PubSub, over NATS too with -nats)")
	compress := fs.Bool("compress", false, "negotiate permessage-deflate with clients that offer it")
	probeTopic := fs.String("probe", "", "record when each \"msg\" broadcast of this topic reaches this node's PubSub (GET /bench/stats: arrivals)")
	_ = fs.Parse(args)
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("serve: -log: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ps, adapter, err := clusterPubSub(*natsURL, *node, logger)
	if err != nil {
		return err
	}
	if ps != nil {
		defer ps.Close()
	}
	// BundledClient: the bench's clients are Go programs, never browsers,
	// so the server needs no npm packages to serve.
	ep, err := parley.New(parley.Config{Logger: logger, DisableLongPoll: true, PubSub: ps, BundledClient: true,
		WebSocket: websocket.Options{Compression: *compress}})
	if err != nil {
		return err
	}
	probe := &arrivalProbe{}
	if *probeTopic != "" {
		// Subscribed before any socket, so LocalBroadcast reaches it first.
		if err := ep.PubSub().Subscribe(*probeTopic, probe); err != nil {
			return fmt.Errorf("serve: -probe: %w", err)
		}
	}
	router := &channel.Router{}
	router.Handle("bench:*", func() channel.Channel { return benchChannel{} })
	var tracker *presence.Tracker
	if *withPresence {
		if tracker, err = presence.New(presence.Config{PubSub: ep.PubSub(), Logger: logger}); err != nil {
			return fmt.Errorf("serve: presence: %w", err)
		}
		router.Handle("presence:*", func() channel.Channel { return presenceChannel{tracker: tracker} })
	}
	sockets, err := ep.Socket("/socket", channel.Config{Router: router})
	if err != nil {
		return err
	}
	// The LiveView scenario: the dashboard page at /dashboard, its socket
	// at /live; a broadcast to dashboardTopic is one dashboard update.
	lv, err := live.New(live.Config{Logger: logger})
	if err != nil {
		return err
	}
	dash := newDashboard()
	mountDashboard(lv, dash, *fastlane)
	if err := ep.Live(lv); err != nil {
		return err
	}
	send := func(ctx context.Context, topic, event string, payload json.RawMessage) error {
		if topic == dashboardTopic {
			return dash.publish(ctx, lv.PubSub())
		}
		return ep.Broadcast(ctx, topic, event, payload)
	}
	ep.HandleFunc("POST /bench/broadcast", func(w http.ResponseWriter, r *http.Request) {
		res, err := broadcast(r.Context(), send, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, res)
	})
	ep.HandleFunc("POST /bench/gc", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		writeJSON(w, map[string]bool{"ok": true})
	})
	ep.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := serverStats{
			Goroutines: runtime.NumGoroutine(), Sockets: sockets.Sockets(),
			HeapInuse: ms.HeapInuse, HeapObjects: ms.HeapObjects, StackInuse: ms.StackInuse, Sys: ms.Sys,
			CPUMicros: selfCPU().Microseconds(), LiveViews: dash.views.Load(),
		}
		if adapter != nil {
			as := adapter.Stats()
			st.Adapter = &as
		}
		st.Arrivals = probe.arrivals()
		writeJSON(w, st)
	})
	// runtime/pprof directly: no net/http/pprof, which registers on
	// http.DefaultServeMux.
	ep.HandleFunc("GET /bench/pprof/{name}", func(w http.ResponseWriter, r *http.Request) {
		p := pprof.Lookup(r.PathValue("name"))
		if p == nil {
			http.NotFound(w, r)
			return
		}
		if p.Name() == "heap" {
			runtime.GC() // the heap profile is as of the last GC
		}
		dbg, _ := strconv.Atoi(r.URL.Query().Get("debug"))
		_ = p.WriteTo(w, dbg)
	})

	var cpuProf cpuProfiler
	ep.HandleFunc("POST /bench/cpuprofile/start", cpuProf.start)
	ep.HandleFunc("POST /bench/cpuprofile/stop", cpuProf.stop)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: ep, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	fmt.Printf("PARLEY_LISTENING http://%s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	limit := time.NewTimer(*maxtime)
	defer limit.Stop()
	select {
	case s := <-sig:
		logger.Info("serve: stopping", "signal", s.String())
	case <-limit.C:
		logger.Warn("serve: -maxtime reached, stopping", "maxtime", *maxtime)
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := []error{hs.Shutdown(ctx)}
	errs = append(errs, ep.Shutdown(ctx))
	if tracker != nil {
		errs = append(errs, tracker.Close(ctx))
	}
	if ps != nil {
		errs = append(errs, ps.Close())
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// broadcastResult is the answer of POST /bench/broadcast.
type broadcastResult struct {
	// Sent counts broadcasts (messages × topics).
	Sent int64 `json:"sent"`
	// LateMaxNanos is the worst lateness of a paced send.
	LateMaxNanos int64 `json:"late_max_ns"`
	// Stamps are the messages' "t" values, in sending order.
	Stamps []int64 `json:"stamps"`
}

// broadcast serves POST /bench/broadcast?topic=&n=&size=&rate=&event=:
// n messages, each to every listed topic, with the payload
// {"t":<unix nanos>,"p":"xxx…"} padded to size bytes. Without rate they go
// out back to back and t is the time of sending; with rate (messages per
// second) message i is due at start+i/rate, open loop, and t is that
// scheduled time, so lateness counts as latency. send makes one
// broadcast; for dashboardTopic it is one dashboard update instead.
func broadcast(ctx context.Context, send func(ctx context.Context, topic, event string, payload json.RawMessage) error, r *http.Request) (res broadcastResult, err error) {
	q := r.URL.Query()
	topics := q["topic"]
	if len(topics) == 0 {
		return res, errors.New("topic required")
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		return res, fmt.Errorf("bad n %q", q.Get("n"))
	}
	size := 64
	if s := q.Get("size"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 0 || size > 1<<20 {
			return res, fmt.Errorf("bad size %q", s)
		}
	}
	var rate float64
	if s := q.Get("rate"); s != "" {
		if rate, err = strconv.ParseFloat(s, 64); err != nil || rate < 0 {
			return res, fmt.Errorf("bad rate %q", s)
		}
	}
	event := q.Get("event")
	if event == "" {
		event = "msg"
	}
	chat := q.Get("text") == "chat"
	start := time.Now()
	buf := make([]byte, 0, size+32)
	for i := range n {
		var t time.Time
		if rate > 0 {
			t = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(t); d > 0 {
				timer := time.NewTimer(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					timer.Stop()
					return res, ctx.Err()
				}
			}
			res.LateMaxNanos = max(res.LateMaxNanos, int64(time.Since(t)))
		} else {
			t = time.Now()
		}
		// A fresh slice per message: the encoded frame is shared by
		// every connection's queue.
		if chat {
			buf = chatPayload(buf[:0], t.UnixNano(), size)
		} else {
			buf = benchPayload(buf[:0], t.UnixNano(), size)
		}
		res.Stamps = append(res.Stamps, t.UnixNano())
		payload := json.RawMessage(append([]byte(nil), buf...))
		for _, topic := range topics {
			if err := send(ctx, topic, event, payload); err != nil {
				return res, err
			}
			res.Sent++
		}
	}
	return res, nil
}

// benchPayload appends {"t":nanos,"p":"xx…"} padded with x to size bytes
// (or its minimum length).
func benchPayload(dst []byte, nanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, nanos, 10)
	dst = append(dst, `,"p":"`...)
	if pad := size - (len(dst) - start) - 2; pad > 0 {
		dst = append(dst, strings.Repeat("x", pad)...)
	}
	return append(dst, `"}`...)
}

// chatWords make chatPayload's text.
var chatWords = strings.Fields(`hello everyone the meeting is moved to three tomorrow can you send me
	the slides from last week I think we should ship it on friday thanks that sounds good to me let's
	talk about the release notes later who is joining the call at noon great work on the demo yesterday`)

// chatPayload appends {"t":nanos,"user":…,"body":"…"}, the body words of a
// chat message (chosen from nanos, so each message differs) up to size
// bytes: a payload that compresses like chat, not like padding.
func chatPayload(dst []byte, nanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, nanos, 10)
	x := uint64(nanos) | 1
	dst = append(dst, `,"user":"user`...)
	dst = strconv.AppendUint(dst, x%1000, 10)
	dst = append(dst, `","body":"`...)
	for first := true; len(dst)-start < size-2; first = false {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		w := chatWords[x%uint64(len(chatWords))]
		if !first {
			w = " " + w
		}
		if room := size - 2 - (len(dst) - start); len(w) > room {
			w = w[:room]
		}
		dst = append(dst, w...)
	}
	return append(dst, `"}`...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// selfCPU returns the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuProfiler serves POST /bench/cpuprofile/start and /stop; stop answers
// with the profile (pprof format).
type cpuProfiler struct {
	// mu guards buf.
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (p *cpuProfiler) start(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf != nil {
		http.Error(w, "already profiling", http.StatusConflict)
		return
	}
	buf := &bytes.Buffer{}
	if err := pprof.StartCPUProfile(buf); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	p.buf = buf
	writeJSON(w, map[string]bool{"ok": true})
}

func (p *cpuProfiler) stop(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.buf == nil {
		http.Error(w, "not profiling", http.StatusConflict)
		return
	}
	pprof.StopCPUProfile()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(p.buf.Bytes())
	p.buf = nil
}
