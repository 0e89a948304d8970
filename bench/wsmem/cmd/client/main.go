// Command client opens -n WebSocket connections to the candidate server,
// spread round-robin over the -addrs listeners (several 127.0.0.x addresses,
// so no single destination runs out of ephemeral ports), then leaves them
// idle and counts every data frame the server sends.
//
// It prints "CTL addr" once its control endpoint listens:
//
//	/stats     {"dialed","failed","open","frames"} as JSON
//	/echo?n=M  sends one masked text frame on each of the first M connections;
//	           each echo shows up as one more counted frame
//
// It exits by itself after -maxtime, or on SIGTERM/SIGINT.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

type counters struct {
	dialed atomic.Int64
	failed atomic.Int64
	open   atomic.Int64
	frames atomic.Int64
}

func main() {
	addrs := flag.String("addrs", "127.0.0.1:8080", "comma-separated server addresses")
	n := flag.Int("n", 1000, "connections to open")
	conc := flag.Int("conc", 32, "concurrent dials")
	ctl := flag.String("ctl", "127.0.0.1:0", "control listen address")
	maxTime := flag.Duration("maxtime", 5*time.Minute, "exit by itself after this long")
	flag.Parse()

	targets := strings.Split(*addrs, ",")
	var cnt counters

	// conns holds the open connections in dial order, for /echo.
	var connsMu sync.Mutex
	conns := make([]net.Conn, *n)

	ln, err := net.Listen("tcp", *ctl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"dialed": cnt.dialed.Load(),
			"failed": cnt.failed.Load(),
			"open":   cnt.open.Load(),
			"frames": cnt.frames.Load(),
		})
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		m, _ := strconv.Atoi(r.URL.Query().Get("n"))
		sent := 0
		connsMu.Lock()
		for i := 0; i < len(conns) && sent < m; i++ {
			if c := conns[i]; c != nil {
				f := ws.MaskFrame(ws.NewTextFrame([]byte("echo " + strconv.Itoa(i))))
				b, err := ws.CompileFrame(f)
				if err == nil {
					_, err = c.Write(b)
				}
				if err == nil {
					sent++
				}
			}
		}
		connsMu.Unlock()
		fmt.Fprintln(w, sent)
	})
	go http.Serve(ln, mux)
	fmt.Printf("CTL %s\n", ln.Addr())

	ctx, cancel := context.WithTimeout(context.Background(), *maxTime)
	defer cancel()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		cancel()
	}()

	dialer := ws.Dialer{Timeout: 10 * time.Second}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				url := "ws://" + targets[i%len(targets)] + "/ws"
				c, br, _, err := dialer.Dial(ctx, url)
				if err != nil {
					cnt.failed.Add(1)
					continue
				}
				if br == nil {
					br = bufio.NewReaderSize(c, 4096)
				}
				connsMu.Lock()
				conns[i] = c
				connsMu.Unlock()
				cnt.open.Add(1)
				cnt.dialed.Add(1)
				go readFrames(c, br, &cnt)
			}
		}()
	}
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()

	<-ctx.Done()
	os.Exit(0)
}

// readFrames counts whole data messages until the connection ends.
func readFrames(c net.Conn, br *bufio.Reader, cnt *counters) {
	defer cnt.open.Add(-1)
	defer c.Close()
	var hb [ws.MaxHeaderSize - 2]byte
	for {
		h, err := ws.ReadHeaderBuffer(br, hb[:])
		if err != nil {
			return
		}
		if _, err := br.Discard(int(h.Length)); err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			return
		}
		if h.Fin && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary || h.OpCode == ws.OpContinuation) {
			cnt.frames.Add(1)
		}
	}
}
