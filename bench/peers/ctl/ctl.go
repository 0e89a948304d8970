// Package ctl is the process shell every peer server of Parley's load tool
// shares, so that "parley-bench idle|fanout|compare -server <peer>" drives
// each of them exactly as it drives "parley-bench serve":
//
//	POST /bench/broadcast?topic=&n=&size=&rate=&event=
//	POST /bench/gc
//	GET  /bench/stats
//
// and, on stdout, one line "PARLEY_LISTENING http://host:port proto=<p>"
// naming the client protocol the load client must speak (plain or
// centrifuge). Entry point: [Main]. A peer implements [Server] (and
// optionally [Batcher]) and mounts its WebSocket handler.
//
// The broadcast payload is the one parley-bench serve sends,
// {"t":<unix ns>,"p":"xxx…"} padded to size bytes; [Frame] wraps it in the
// same Phoenix-shaped text ([null,null,topic,event,payload]) Parley puts on
// the wire, so plain peers send byte-for-byte the frames Parley sends.
//
// Concurrency: the control routes run on net/http goroutines; a Server's
// methods must be safe for concurrent use.
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is what a peer offers the control routes.
type Server interface {
	// Broadcast sends one message to every connection subscribed to topic.
	Broadcast(topic, event string, payload []byte) error
	// Sockets reports the open WebSocket connections.
	Sockets() int64
}

// Batcher is implemented by a server that can send a burst of messages in
// one call (the raw writer, which coalesces them into one write per
// connection). Bursts (no rate) go through it when present.
type Batcher interface {
	BroadcastBatch(topic, event string, payloads [][]byte) error
}

// Peer describes one peer server for [Main].
type Peer struct {
	// Proto is announced on the PARLEY_LISTENING line: "plain" or
	// "centrifuge".
	Proto string
	// Routes mounts the WebSocket endpoint(s) on mux.
	Routes func(mux *http.ServeMux)
	// Server receives broadcasts.
	Server Server
	// Stop, if set, runs after the HTTP server has shut down.
	Stop func(ctx context.Context)
}

// flags are the ones parley-bench passes to every server. A peer with
// flags of its own registers them on flag.CommandLine before calling Main.
type flags struct {
	addr    string
	maxtime time.Duration
}

// Main parses the command line (-addr, -maxtime and the peer's own flags),
// serves until SIGTERM, SIGINT or -maxtime, and exits the process.
func Main(p Peer) {
	var f flags
	flag.StringVar(&f.addr, "addr", "127.0.0.1:0", "listen address")
	flag.DurationVar(&f.maxtime, "maxtime", 30*time.Minute, "exit by itself after this long")
	flag.Parse()
	if err := serve(f, p); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func serve(f flags, p Peer) error {
	mux := http.NewServeMux()
	p.Routes(mux)
	mux.HandleFunc("POST /bench/broadcast", func(w http.ResponseWriter, r *http.Request) {
		sent, late, err := broadcast(r.Context(), p.Server, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]int64{"sent": sent, "late_max_ns": late})
	})
	mux.HandleFunc("POST /bench/gc", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		writeJSON(w, map[string]bool{"ok": true})
	})
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		writeJSON(w, map[string]any{
			"goroutines": runtime.NumGoroutine(), "sockets": p.Server.Sockets(),
			"heap_inuse": ms.HeapInuse, "heap_objects": ms.HeapObjects, "stack_inuse": ms.StackInuse, "sys": ms.Sys,
			"cpu_us": (ru.Utime.Nano() + ru.Stime.Nano()) / 1e3,
		})
	})
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	fmt.Printf("PARLEY_LISTENING http://%s proto=%s\n", ln.Addr(), p.Proto)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	limit := time.NewTimer(f.maxtime)
	defer limit.Stop()
	select {
	case <-sig:
	case <-limit.C:
		fmt.Fprintln(os.Stderr, "peer: -maxtime reached")
	case err := <-serveErr:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Hijacked WebSocket connections are not closed by Shutdown; the
	// process exit closes them.
	err = hs.Shutdown(ctx)
	if p.Stop != nil {
		p.Stop(ctx)
	}
	if e := <-serveErr; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// broadcast has the semantics of parley-bench serve's route: n messages to
// every listed topic; without rate back to back (t = time of sending),
// with rate open loop (message i due at start+i/rate, t = that time).
func broadcast(ctx context.Context, s Server, r *http.Request) (sent, lateMax int64, err error) {
	q := r.URL.Query()
	topics := q["topic"]
	if len(topics) == 0 {
		return 0, 0, errors.New("topic required")
	}
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		return 0, 0, fmt.Errorf("bad n %q", q.Get("n"))
	}
	size := 64
	if v := q.Get("size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 0 || size > 1<<20 {
			return 0, 0, fmt.Errorf("bad size %q", v)
		}
	}
	var rate float64
	if v := q.Get("rate"); v != "" {
		if rate, err = strconv.ParseFloat(v, 64); err != nil || rate < 0 {
			return 0, 0, fmt.Errorf("bad rate %q", v)
		}
	}
	event := q.Get("event")
	if event == "" {
		event = "msg"
	}
	if b, ok := s.(Batcher); ok && rate == 0 {
		now := time.Now().UnixNano()
		payloads := make([][]byte, n)
		for i := range payloads {
			payloads[i] = Payload(nil, now, size)
		}
		for _, topic := range topics {
			if err := b.BroadcastBatch(topic, event, payloads); err != nil {
				return sent, 0, err
			}
			sent += int64(n)
		}
		return sent, 0, nil
	}
	start := time.Now()
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
					return sent, lateMax, ctx.Err()
				}
			}
			lateMax = max(lateMax, int64(time.Since(t)))
		} else {
			t = time.Now()
		}
		payload := Payload(nil, t.UnixNano(), size)
		for _, topic := range topics {
			if err := s.Broadcast(topic, event, payload); err != nil {
				return sent, lateMax, err
			}
			sent++
		}
	}
	return sent, lateMax, nil
}

// Payload appends {"t":nanos,"p":"xx…"} padded with x to size bytes (or
// its minimum length), as parley-bench serve does.
func Payload(dst []byte, nanos int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, nanos, 10)
	dst = append(dst, `,"p":"`...)
	if pad := size - (len(dst) - start) - 2; pad > 0 {
		dst = append(dst, strings.Repeat("x", pad)...)
	}
	return append(dst, `"}`...)
}

// Frame appends the Phoenix V2 broadcast text [null,null,"topic","event",payload].
func Frame(dst []byte, topic, event string, payload []byte) []byte {
	dst = append(dst, `[null,null,`...)
	dst = strconv.AppendQuote(dst, topic)
	dst = append(dst, ',')
	dst = strconv.AppendQuote(dst, event)
	dst = append(dst, ',')
	dst = append(dst, payload...)
	return append(dst, ']')
}

// Hello is the text frame a plain peer sends once a connection is
// registered and will receive broadcasts: the load client's "joined".
const Hello = "hello"

// Topic is the topic a plain connection subscribes to: the "topic" query
// parameter of its WebSocket URL, "bench:0" without one.
func Topic(r *http.Request) string {
	if t := r.URL.Query().Get("topic"); t != "" {
		return t
	}
	return "bench:0"
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
