package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
)

// The worker's lines on stdout, read by cluster.
const (
	// workerJoined is followed by a workerJoin in JSON once every
	// connection is joined.
	workerJoined = "WORKER_JOINED "
	// workerProgress is followed by "<msg deliveries> <warm deliveries>",
	// every progress interval.
	workerProgress = "WORKER_PROGRESS "
	// workerReport is followed by a workerReportBody in JSON, the answer
	// to the "report" command.
	workerReport = "WORKER_REPORT "
)

// workerJoin is the body of the WORKER_JOINED line.
type workerJoin struct {
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
	// PerNode counts this worker's connections on each node.
	PerNode []int `json:"per_node"`
}

// workerReportBody is a worker's deliveries of the measured broadcasts.
type workerReportBody struct {
	N int `json:"n"`
	// Lat holds, for the i-th stamp of the report command, the latency
	// of every delivery of that broadcast, µs.
	Lat [][]int64 `json:"lat_us"`
	// MissedCount counts (connection, broadcast) pairs never delivered;
	// Missed lists the first of them.
	MissedCount int          `json:"missed_count"`
	Missed      []missedPair `json:"missed,omitempty"`
	// Duplicates counts deliveries of a broadcast a connection already
	// had; Unknown counts "msg" deliveries whose stamp was not asked for.
	Duplicates int      `json:"duplicates"`
	Unknown    int      `json:"unknown"`
	Errors     []string `json:"errors,omitempty"`
	// Closed counts connections whose read ended (the server closed them
	// or the socket failed) before the report.
	Closed int `json:"closed"`
}

// missedPair is one broadcast one connection did not receive.
type missedPair struct {
	Conn      int `json:"conn"` // global connection index
	Node      int `json:"node"`
	Broadcast int `json:"broadcast"` // index into the stamps
}

// workerConn is one connection of a worker.
type workerConn struct {
	ws     *wsclient.Conn
	global int // index among all of cluster's connections
	node   int
	joined chan struct{} // closed on the ok join reply

	// mu guards stamps and lat.
	mu     sync.Mutex
	stamps []int64 // "t" of each "msg" received, in order
	lat    []int64 // its latency, ns
}

// worker holds a slice of cluster's connections: the hidden "worker"
// command, one process per at most ~17k connections.
type worker struct {
	conns     []*workerConn
	delivered atomic.Int64 // "msg" frames received
	warm      atomic.Int64 // "warm" frames received
	closed    atomic.Int64 // read loops ended
	readers   sync.WaitGroup

	// mu guards errs.
	mu   sync.Mutex
	errs []string
}

func (w *worker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, err.Error())
	}
}

// runWorker is the hidden "worker" command. It opens -n Phoenix V2
// connections, connection i (global index -first+i) to node
// (-first+i) % len(-urls) from source address -src.<2 + i % -sources>,
// joins each to -topic, prints WORKER_JOINED and then a WORKER_PROGRESS
// line every -progress. It reads commands from stdin: "report <json
// stamps>" answers with WORKER_REPORT; "exit" or the end of stdin closes
// the connections and exits.
func runWorker(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	urls := fs.String("urls", "", "comma-separated http://host:port of the nodes")
	first := fs.Int("first", 0, "global index of this worker's first connection")
	n := fs.Int("n", 100, "connections")
	topic := fs.String("topic", "bench:0", "topic every connection joins")
	src := fs.String("src", "127.1.0", "first three bytes of the source addresses")
	sources := fs.Int("sources", 8, "source addresses <src>.2 … <src>.(1+sources)")
	dialers := fs.Int("dialers", 32, "concurrent dials")
	progress := fs.Duration("progress", 100*time.Millisecond, "interval of WORKER_PROGRESS lines")
	maxtime := fs.Duration("maxtime", 30*time.Minute, "exit by itself after this long")
	_ = fs.Parse(args)
	nodes := strings.Split(*urls, ",")
	if *urls == "" || *n < 1 || *sources < 1 || *sources > 250 {
		return errors.New("worker: need -urls, -n ≥ 1, 1 ≤ -sources ≤ 250")
	}
	var srcAddrs []netip.Addr
	for i := range *sources {
		a, err := netip.ParseAddr(fmt.Sprintf("%s.%d", *src, 2+i))
		if err != nil || !a.IsLoopback() {
			return fmt.Errorf("worker: -src %q: not a loopback prefix (%v)", *src, err)
		}
		srcAddrs = append(srcAddrs, a)
	}
	ctx, cancel := runContext(*maxtime)
	defer cancel()

	// Commands arrive on stdin. This goroutine ends at the end of stdin,
	// which cluster closes (or which closes when cluster dies); the
	// process may exit before that on -maxtime.
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			select {
			case cmds <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()

	w := &worker{conns: make([]*workerConn, *n)}
	defer w.close()
	start := time.Now()
	if err := w.dial(ctx, nodes, *first, *topic, srcAddrs, *dialers); err != nil {
		return err
	}
	join := workerJoin{N: *n, Seconds: time.Since(start).Seconds(), PerNode: make([]int, len(nodes))}
	for _, c := range w.conns {
		join.PerNode[c.node]++
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := printLine(out, workerJoined, join); err != nil {
		return err
	}

	hbStop, hbDone := make(chan struct{}), make(chan struct{})
	go w.heartbeats(hbStop, hbDone)
	defer func() {
		close(hbStop)
		<-hbDone
	}()

	tick := time.NewTicker(*progress)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker: %w", ctx.Err())
		case <-tick.C:
			fmt.Fprintf(out, "%s%d %d\n", workerProgress, w.delivered.Load(), w.warm.Load())
			if err := out.Flush(); err != nil {
				return fmt.Errorf("worker: stdout: %w", err)
			}
		case cmd, ok := <-cmds:
			if !ok || cmd == "exit" {
				return nil
			}
			rest, isReport := strings.CutPrefix(cmd, "report ")
			if !isReport {
				return fmt.Errorf("worker: unknown command %q", cmd)
			}
			var stamps []int64
			if err := json.Unmarshal([]byte(rest), &stamps); err != nil {
				return fmt.Errorf("worker: report stamps: %w", err)
			}
			if err := printLine(out, workerReport, w.report(stamps)); err != nil {
				return err
			}
		}
	}
}

// printLine writes prefix and v in JSON as one line and flushes.
func printLine(out *bufio.Writer, prefix string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	out.WriteString(prefix)
	out.Write(b)
	out.WriteByte('\n')
	if err := out.Flush(); err != nil {
		return fmt.Errorf("worker: stdout: %w", err)
	}
	return nil
}

// dial opens and joins every connection, dialers at a time; it stops at
// the first failure.
func (w *worker) dial(ctx context.Context, nodes []string, first int, topic string, srcs []netip.Addr, dialers int) error {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		once sync.Once
		ferr error
	)
	for range max(1, dialers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(w.conns) || dctx.Err() != nil {
					return
				}
				g := first + i
				c, err := w.dialOne(dctx, nodes, g, topic, srcs[i%len(srcs)])
				if err != nil {
					once.Do(func() { ferr = fmt.Errorf("worker: connection %d (node %d): %w", g, g%len(nodes), err) })
					cancel()
					return
				}
				w.conns[i] = c
			}
		}()
	}
	wg.Wait()
	if ferr == nil && ctx.Err() != nil {
		ferr = fmt.Errorf("worker: dialling: %w", ctx.Err())
	}
	return ferr
}

// dialOne connects global connection g to its node, joins topic and waits
// for the ok reply.
func (w *worker) dialOne(ctx context.Context, nodes []string, g int, topic string, src netip.Addr) (*workerConn, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node := g % len(nodes)
	p := protocols["phoenix"]
	wsURL := "ws" + strings.TrimPrefix(nodes[node], "http") + p.path(topic)
	ws, err := wsclient.Dial(cctx, wsURL, &wsclient.Options{LocalAddr: src, ReadBufferSize: 2048})
	if err != nil {
		return nil, err
	}
	c := &workerConn{ws: ws, global: g, node: node, joined: make(chan struct{})}
	if err := ws.Write(cctx, wsclient.Text, p.join(topic)); err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("join: %w", err)
	}
	w.readers.Add(1)
	go w.readLoop(c)
	select {
	case <-c.joined:
		return c, nil
	case <-cctx.Done():
		_ = ws.CloseNow()
		return nil, fmt.Errorf("join %s: no ok reply: %w", topic, cctx.Err())
	}
}

// readLoop reads c until its connection ends, recording every "msg"
// broadcast's stamp and latency.
func (w *worker) readLoop(c *workerConn) {
	defer w.readers.Done()
	defer w.closed.Add(1)
	p := protocols["phoenix"]
	joined := false
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			if !joined {
				w.fail(fmt.Errorf("connection %d: before the join reply: %w", c.global, err))
			}
			return
		}
		now := time.Now().UnixNano()
		if !joined {
			ok, err := p.joined(data)
			if err != nil {
				w.fail(fmt.Errorf("connection %d: %w", c.global, err))
				return
			}
			if ok {
				joined = true
				close(c.joined)
			}
			continue
		}
		if i := indexAfter(data, p.msg); i >= 0 {
			t, ok := leadingInt(data[i:])
			if !ok {
				w.fail(fmt.Errorf("connection %d: bad timestamp in %.80q", c.global, data))
				continue
			}
			c.mu.Lock()
			c.stamps = append(c.stamps, t)
			c.lat = append(c.lat, now-t)
			c.mu.Unlock()
			w.delivered.Add(1)
		} else if indexAfter(data, p.warm) >= 0 {
			w.warm.Add(1)
		}
	}
}

// indexAfter returns the index just past the first sep in data, or -1.
func indexAfter(data, sep []byte) int {
	if i := bytes.Index(data, sep); i >= 0 {
		return i + len(sep)
	}
	return -1
}

// heartbeats sends the Phoenix heartbeat to every connection once every
// 25 s (the server closes a connection silent for 60 s), spread evenly
// over that period so that no burst of heartbeats lands in a measurement.
func (w *worker) heartbeats(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	const period, step = 25 * time.Second, 100 * time.Millisecond
	per := (len(w.conns)*int(step/time.Millisecond) + int(period/time.Millisecond) - 1) / int(period/time.Millisecond)
	t := time.NewTicker(step)
	defer t.Stop()
	next, ref := 0, 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for range per {
			c := w.conns[next]
			next = (next + 1) % len(w.conns)
			ref++
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.ws.Write(ctx, wsclient.Text, []byte(`[null,"hb`+strconv.Itoa(ref)+`","phoenix","heartbeat",{}]`))
			cancel()
			if err != nil && !errors.Is(err, wsclient.ErrClosed) {
				w.fail(fmt.Errorf("connection %d: heartbeat: %w", c.global, err))
			}
		}
	}
}

// report sorts every connection's deliveries into the broadcasts named by
// stamps.
func (w *worker) report(stamps []int64) workerReportBody {
	r := workerReportBody{N: len(w.conns), Lat: make([][]int64, len(stamps)), Closed: int(w.closed.Load())}
	index := make(map[int64]int, len(stamps))
	for i, t := range stamps {
		index[t] = i
		r.Lat[i] = make([]int64, 0, len(w.conns))
	}
	seen := make([]bool, len(stamps))
	for _, c := range w.conns {
		clear(seen)
		c.mu.Lock()
		for k, t := range c.stamps {
			i, ok := index[t]
			switch {
			case !ok:
				r.Unknown++
			case seen[i]:
				r.Duplicates++
			default:
				seen[i] = true
				r.Lat[i] = append(r.Lat[i], c.lat[k]/1e3)
			}
		}
		c.mu.Unlock()
		for i, ok := range seen {
			if ok {
				continue
			}
			r.MissedCount++
			if len(r.Missed) < 50 {
				r.Missed = append(r.Missed, missedPair{Conn: c.global, Node: c.node, Broadcast: i})
			}
		}
	}
	w.mu.Lock()
	r.Errors = append(r.Errors, w.errs...)
	w.mu.Unlock()
	return r
}

// close runs the close handshake on every connection (64 at a time, 2 s
// each, then cut) and waits for the read goroutines.
func (w *worker) close() {
	work := make(chan *workerConn)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if err := c.ws.Close(ctx, 1000, "bench done"); err != nil {
					_ = c.ws.CloseNow()
				}
				cancel()
			}
		}()
	}
	for _, c := range w.conns {
		if c != nil {
			work <- c
		}
	}
	close(work)
	wg.Wait()
	w.readers.Wait()
}
