// Package harness is the process layout shared by every candidate server of
// the wsmem benchmark: one listener per loopback address, the WebSocket
// endpoint at /ws, and the control endpoints the driver uses.
//
// Control endpoints (served on every listener):
//
//	/broadcast?n=K&size=B&mode=plain|prepared|byconn|batch
//	    writes K text frames of B bytes to every open connection and answers
//	    when the writes have been issued. "plain" frames every write; the
//	    other modes frame each message once and write the same bytes to every
//	    connection. plain and prepared write message 1 to every connection,
//	    then message 2, and so on; "byconn" writes all K frames to one
//	    connection (one write call each) before the next connection; "batch"
//	    writes the K frames of one connection with one gathered write.
//	/gc     runs debug.FreeOSMemory (a full GC that returns memory to the OS).
//	/stats  connection count and Go runtime memory figures as JSON.
//
// A server exits by itself after -maxtime, or on SIGTERM/SIGINT.
package harness

import (
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Hub is the set of open connections. It is safe for concurrent use.
type Hub[C comparable] struct {
	// mu guards conns.
	mu    sync.Mutex
	conns map[C]struct{}
}

// Add registers an open connection.
func (h *Hub[C]) Add(c C) {
	h.mu.Lock()
	if h.conns == nil {
		h.conns = make(map[C]struct{})
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

// Remove forgets a connection.
func (h *Hub[C]) Remove(c C) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// Len reports the number of open connections.
func (h *Hub[C]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Snapshot returns the open connections at this moment.
func (h *Hub[C]) Snapshot() []C {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]C, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// Candidate is what one WebSocket library plugs into the harness. C is its
// connection handle, P its pre-framed (prepared) message.
type Candidate[C comparable, P any] struct {
	// Name is the library's short name.
	Name string
	// Upgrade upgrades r, registers the connection with hub.Add, starts the
	// connection's read goroutine (which echoes text messages) and returns.
	// The read goroutine calls hub.Remove when the connection ends.
	Upgrade func(hub *Hub[C], w http.ResponseWriter, r *http.Request)
	// Write frames payload as one text message and writes it to c. It may be
	// called concurrently with c's read goroutine.
	Write func(c C, payload []byte) error
	// Prepare frames payload once as a text message; nil if the library has
	// no way to write pre-framed bytes.
	Prepare func(payload []byte) (P, error)
	// WritePrepared writes a prepared message to c.
	WritePrepared func(c C, p P) error
	// Release, if set, is called once a prepared message has been written to
	// every connection.
	Release func(p P)
	// WriteBatch, if set, writes all ps to c with one gathered (writev) write.
	WriteBatch func(c C, ps []P) error
}

// Options are the process-level flags every server shares.
type Options struct {
	Addrs   string
	MaxTime time.Duration
}

// Register adds the shared flags to fs.
func (o *Options) Register(fs *flag.FlagSet) {
	fs.StringVar(&o.Addrs, "addrs", "127.0.0.1:0", "comma-separated listen addresses, one listener each")
	fs.DurationVar(&o.MaxTime, "maxtime", 5*time.Minute, "exit by itself after this long")
}

// Serve runs cand, with hub as its set of connections, until SIGTERM, SIGINT
// or opts.MaxTime. It prints one line "LISTEN addr1 addr2 ..." to stdout once
// every listener is open.
func Serve[C comparable, P any](opts Options, hub *Hub[C], cand Candidate[C, P]) {
	if err := serve(opts, hub, cand); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cand.Name, err)
		os.Exit(1)
	}
}

func serve[C comparable, P any](opts Options, hub *Hub[C], cand Candidate[C, P]) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		cand.Upgrade(hub, w, r)
	})
	mux.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		debug.FreeOSMemory()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		writeJSON(w, Stats{
			Lib:        cand.Name,
			Conns:      hub.Len(),
			Goroutines: runtime.NumGoroutine(),
			HeapInuse:  ms.HeapInuse,
			HeapAlloc:  ms.HeapAlloc,
			StackInuse: ms.StackInuse,
			Sys:        ms.Sys,
			NumGC:      ms.NumGC,
		})
	})
	mux.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
		res, err := broadcast(hub, cand, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, res)
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var lns []net.Listener
	for _, a := range strings.Split(opts.Addrs, ",") {
		ln, err := net.Listen("tcp", strings.TrimSpace(a))
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	var names []string
	for _, ln := range lns {
		names = append(names, ln.Addr().String())
		go srv.Serve(ln)
	}
	fmt.Printf("LISTEN %s\n", strings.Join(names, " "))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(opts.MaxTime):
		fmt.Fprintf(os.Stderr, "%s: -maxtime reached, exiting\n", cand.Name)
	}
	// The WebSocket connections are hijacked; exiting closes them all.
	return nil
}

// Stats is the /stats answer.
type Stats struct {
	Lib        string `json:"lib"`
	Conns      int    `json:"conns"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
}

// BroadcastResult is the /broadcast answer.
type BroadcastResult struct {
	Conns   int   `json:"conns"`
	Frames  int   `json:"frames"`
	Errors  int64 `json:"errors"`
	WriteNS int64 `json:"write_ns"`
}

func broadcast[C comparable, P any](hub *Hub[C], cand Candidate[C, P], r *http.Request) (BroadcastResult, error) {
	q := r.URL.Query()
	k, err := strconv.Atoi(q.Get("n"))
	if err != nil || k < 1 || k > 10000 {
		return BroadcastResult{}, errors.New("n must be 1..10000")
	}
	size, err := strconv.Atoi(q.Get("size"))
	if err != nil || size < 0 || size > 1<<20 {
		return BroadcastResult{}, errors.New("size must be 0..1MiB")
	}
	mode := q.Get("mode")
	if mode == "" {
		mode = "plain"
	}
	switch {
	case mode == "plain":
	case (mode == "prepared" || mode == "byconn") && cand.Prepare != nil:
	case mode == "batch" && cand.Prepare != nil && cand.WriteBatch != nil:
	default:
		return BroadcastResult{}, fmt.Errorf("mode %q not supported by %s", mode, cand.Name)
	}

	payload := []byte(strings.Repeat("x", size))
	conns := hub.Snapshot()
	start := time.Now()

	// K distinct messages, as K separate broadcasts would be: each is framed
	// once in the prepared modes.
	var prepared []P
	if mode != "plain" {
		prepared = make([]P, k)
		for i := range prepared {
			p, err := cand.Prepare(payload)
			if err != nil {
				return BroadcastResult{}, err
			}
			prepared[i] = p
		}
	}

	// The same fixed pool of writers for every library: one per P.
	workers := runtime.GOMAXPROCS(0)
	var errs atomic.Int64
	var wg sync.WaitGroup
	for wi := 0; wi < workers; wi++ {
		lo, hi := len(conns)*wi/workers, len(conns)*(wi+1)/workers
		shard := conns[lo:hi]
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch mode {
			case "plain":
				for i := 0; i < k; i++ {
					for _, c := range shard {
						if cand.Write(c, payload) != nil {
							errs.Add(1)
						}
					}
				}
			case "prepared":
				for i := 0; i < k; i++ {
					for _, c := range shard {
						if cand.WritePrepared(c, prepared[i]) != nil {
							errs.Add(1)
						}
					}
				}
			case "byconn":
				for _, c := range shard {
					for i := 0; i < k; i++ {
						if cand.WritePrepared(c, prepared[i]) != nil {
							errs.Add(1)
						}
					}
				}
			case "batch":
				for _, c := range shard {
					if cand.WriteBatch(c, prepared) != nil {
						errs.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if cand.Release != nil {
		for _, p := range prepared {
			cand.Release(p)
		}
	}
	return BroadcastResult{
		Conns:   len(conns),
		Frames:  len(conns) * k,
		Errors:  errs.Load(),
		WriteNS: time.Since(start).Nanoseconds(),
	}, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
