package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
	// NodeLat holds the same latencies by node (the index in -urls).
	NodeLat [][]int64 `json:"node_lat_us"`
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
	// Waits counts the epoll_wait calls that returned events, Events the
	// events they returned, since the worker started.
	Waits  int64 `json:"epoll_waits"`
	Events int64 `json:"epoll_events"`
}

// missedPair is one broadcast one connection did not receive.
type missedPair struct {
	Conn      int `json:"conn"` // global connection index
	Node      int `json:"node"`
	Broadcast int `json:"broadcast"` // index into the stamps
}

// workerConn is one connection of a worker. Once joined, its socket is
// read by one of the worker's epoll loops.
type workerConn struct {
	fd     int // a duplicate of the socket's descriptor, closed by worker.close
	global int // index among all of cluster's connections
	node   int
	// readDone is set when the read side has ended (end of stream, an
	// error or the server's close frame).
	readDone atomic.Bool

	// The fields below are guarded by the mu of the connection's loop.
	pending []byte  // the start of a frame not yet whole
	stamps  []int64 // "t" of each "msg" received, in order
	lat     []int64 // its latency, ns
}

// pollLoop is one epoll instance and the goroutine waiting on it.
type pollLoop struct {
	epfd int
	// mu is held while the loop handles the events of one epoll_wait,
	// and while a connection is added; it guards the read state of the
	// loop's connections and their slots in worker.conns.
	mu sync.Mutex
}

// worker holds a slice of cluster's connections: the hidden "worker"
// command, one process per at most ~17k connections. Connections are
// dialled and joined with wsclient, then detached and read by a few
// level-triggered epoll loops, one read system call per wakeup, so that
// the client costs as little CPU per delivery as it can: on this machine
// the clients share two cores with the servers they measure.
type worker struct {
	conns     []*workerConn
	nodes     int // the number of nodes
	loops     []*pollLoop
	delivered atomic.Int64 // "msg" frames received
	warm      atomic.Int64 // "warm" frames received
	closed    atomic.Int64 // connections whose read side ended
	waits     atomic.Int64 // epoll_wait calls that returned events
	events    atomic.Int64 // events they returned
	gather    time.Duration
	stop      chan struct{}
	loopsWG   sync.WaitGroup

	// mu guards errs.
	mu   sync.Mutex
	errs []string
}

// newWorker makes a worker for n connections and starts its epoll loops.
func newWorker(n, nodes, loops int, gather time.Duration) (*worker, error) {
	w := &worker{conns: make([]*workerConn, n), nodes: nodes, stop: make(chan struct{}), gather: gather}
	for range max(1, loops) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("worker: epoll_create: %w", err)
		}
		l := &pollLoop{epfd: epfd}
		w.loops = append(w.loops, l)
		w.loopsWG.Add(1)
		go w.poll(l)
	}
	return w, nil
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
	loops := fs.Int("loops", 1, "epoll loops reading the connections")
	gather := fs.Duration("gather", 0, "after an epoll_wait that found fewer than 64 ready sockets, pause this long before the next (fewer wakeups; the pause counts in the latency)")
	progress := fs.Duration("progress", 100*time.Millisecond, "interval of WORKER_PROGRESS lines")
	maxtime := fs.Duration("maxtime", 30*time.Minute, "exit by itself after this long")
	cpuProfile := fs.String("cpuprofile", "", "file for the CPU profile taken between the commands profile-start and profile-stop")
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

	w, err := newWorker(*n, len(nodes), *loops, *gather)
	if err != nil {
		return err
	}
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

	var profFile *os.File
	defer func() {
		if profFile != nil {
			pprof.StopCPUProfile()
			_ = profFile.Close()
		}
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
			if cmd == "profile-start" || cmd == "profile-stop" {
				if err := profileCmd(cmd, *cpuProfile, &profFile); err != nil {
					return err
				}
				continue
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

// profileCmd starts the CPU profile into path or stops it; a no-op
// without a path.
func profileCmd(cmd, path string, f **os.File) error {
	if path == "" {
		return nil
	}
	if cmd == "profile-stop" {
		if *f == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := (*f).Close()
		*f = nil
		if err != nil {
			return fmt.Errorf("worker: cpu profile: %w", err)
		}
		return nil
	}
	if *f != nil {
		return nil
	}
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("worker: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		_ = file.Close()
		return fmt.Errorf("worker: cpu profile: %w", err)
	}
	*f = file
	return nil
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
				if err := w.dialOne(dctx, nodes, i, g, topic, srcs[i%len(srcs)]); err != nil {
					once.Do(func() { ferr = fmt.Errorf("worker: connection %d (node %d): %w", g, g%len(nodes), err) })
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if ferr == nil && ctx.Err() != nil {
		ferr = fmt.Errorf("worker: dialling: %w", ctx.Err())
	}
	return ferr
}

// dialOne connects global connection g (local index i) to its node,
// joins topic, waits for the ok reply and hands the socket to a loop.
func (w *worker) dialOne(ctx context.Context, nodes []string, i, g int, topic string, src netip.Addr) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node := g % len(nodes)
	p := protocols["phoenix"]
	wsURL := "ws" + strings.TrimPrefix(nodes[node], "http") + p.path(topic)
	ws, err := wsclient.Dial(cctx, wsURL, &wsclient.Options{LocalAddr: src, ReadBufferSize: 2048})
	if err != nil {
		return err
	}
	if err := ws.Write(cctx, wsclient.Text, p.join(topic)); err != nil {
		_ = ws.CloseNow()
		return fmt.Errorf("join: %w", err)
	}
	for {
		_, data, err := ws.Read(cctx)
		if err != nil {
			_ = ws.CloseNow()
			return fmt.Errorf("join %s: no ok reply: %w", topic, err)
		}
		ok, err := p.joined(data)
		if err != nil {
			_ = ws.CloseNow()
			return err
		}
		if ok {
			break
		}
	}
	nc, rest := ws.Detach()
	fd, err := dupSocket(nc)
	_ = nc.Close() // the duplicate keeps the socket open
	if err != nil {
		return err
	}
	c := &workerConn{fd: fd, global: g, node: node}
	l := w.loops[i%len(w.loops)]
	l.mu.Lock()
	defer l.mu.Unlock()
	w.conns[i] = c
	if len(rest) > 0 {
		w.consume(l, c, rest, time.Now().UnixNano())
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// dupSocket returns a close-on-exec duplicate of nc's descriptor. It stays
// non-blocking: the flag belongs to the open socket, which both share.
func dupSocket(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("worker: %T has no descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("worker: %w", err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("worker: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("worker: dup: %w", dupErr)
	}
	return fd, nil
}

// poll is an epoll loop: it reads every ready connection once per
// epoll_wait (level-triggered: what is left is reported again) until
// w.stop is closed.
func (w *worker) poll(l *pollLoop) {
	defer w.loopsWG.Done()
	events := make([]unix.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		n, err := unix.EpollWait(l.epfd, events, 100)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			w.fail(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		if n > 0 {
			w.waits.Add(1)
			w.events.Add(int64(n))
		}
		l.mu.Lock()
		for _, ev := range events[:n] {
			c := w.conns[ev.Fd]
			if c.readDone.Load() {
				continue
			}
			m, err := unix.Read(c.fd, buf)
			switch {
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			case err != nil || m == 0:
				if !w.endRead(l, c) {
					break
				}
				if err != nil {
					w.fail(fmt.Errorf("connection %d: read: %w", c.global, err))
				} else {
					w.fail(fmt.Errorf("connection %d: the server closed the socket", c.global))
				}
			default:
				w.consume(l, c, buf[:m], time.Now().UnixNano())
			}
		}
		l.mu.Unlock()
		if n > 0 && n < 64 && w.gather > 0 {
			time.Sleep(w.gather)
		}
	}
}

// endRead stops reading c and reports whether it was still being read.
// l.mu is held.
func (w *worker) endRead(l *pollLoop, c *workerConn) bool {
	if c.readDone.Swap(true) {
		return false
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	w.closed.Add(1)
	c.pending = nil
	return true
}

// consume parses the server frames in data (after what was pending) that
// were read at now. l.mu is held.
func (w *worker) consume(l *pollLoop, c *workerConn, data []byte, now int64) {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	for len(data) >= 2 {
		if data[1]&0x80 != 0 {
			w.fail(fmt.Errorf("connection %d: masked server frame", c.global))
			w.endRead(l, c)
			return
		}
		hl, n := 2, int64(data[1]&0x7f)
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if len(data) < hl {
			break
		}
		switch n {
		case 126:
			n = int64(binary.BigEndian.Uint16(data[2:4]))
		case 127:
			n = int64(binary.BigEndian.Uint64(data[2:10]) & (1<<63 - 1))
		}
		if n > 16<<20 {
			w.fail(fmt.Errorf("connection %d: frame of %d bytes", c.global, n))
			w.endRead(l, c)
			return
		}
		if int64(len(data)) < int64(hl)+n {
			break
		}
		w.frame(l, c, data[0], data[hl:hl+int(n)], now)
		if c.readDone.Load() {
			return
		}
		data = data[hl+int(n):]
	}
	// Keep the incomplete rest (append copies forward, so data may lie
	// inside c.pending).
	c.pending = append(c.pending[:0], data...)
}

// frame handles one whole server frame. l.mu is held.
func (w *worker) frame(l *pollLoop, c *workerConn, b0 byte, payload []byte, now int64) {
	if b0&0x80 == 0 || b0&0x0f == 0 {
		w.fail(fmt.Errorf("connection %d: fragmented frame (the server sends none)", c.global))
		return
	}
	p := protocols["phoenix"]
	switch b0 & 0x0f {
	case 0x1: // text
		if i := indexAfter(payload, p.msg); i >= 0 {
			t, ok := leadingInt(payload[i:])
			if !ok {
				w.fail(fmt.Errorf("connection %d: bad timestamp in %.80q", c.global, payload))
				return
			}
			c.stamps = append(c.stamps, t)
			c.lat = append(c.lat, now-t)
			w.delivered.Add(1)
		} else if indexAfter(payload, p.warm) >= 0 {
			w.warm.Add(1)
		}
	case 0x8: // close: echo its code, stop reading
		_ = writeFrame(c.fd, 0x8, payload[:min(2, len(payload))])
		w.endRead(l, c)
	case 0x9: // ping
		if err := writeFrame(c.fd, 0xA, payload); err != nil {
			w.fail(fmt.Errorf("connection %d: pong: %w", c.global, err))
		}
	}
}

// writeFrame writes one masked client frame of at most 125 bytes of
// payload, whole, to the non-blocking socket fd.
func writeFrame(fd int, op byte, payload []byte) error {
	if len(payload) > 125 {
		return errors.New("frame too long")
	}
	var b [6 + 125]byte
	key := rand.Uint32()
	b[0], b[1] = 0x80|op, 0x80|byte(len(payload))
	binary.BigEndian.PutUint32(b[2:6], key)
	for i, x := range payload {
		b[6+i] = x ^ b[2+i%4]
	}
	frame := b[:6+len(payload)]
	n, err := unix.Write(fd, frame)
	if err != nil {
		return err
	}
	if n != len(frame) {
		return fmt.Errorf("short write: %d of %d bytes", n, len(frame))
	}
	return nil
}

// indexAfter returns the index just past the first sep in data, or -1.
func indexAfter(data, sep []byte) int {
	if i := bytes.Index(data, sep); i >= 0 {
		return i + len(sep)
	}
	return -1
}

// heartbeats sends the Phoenix heartbeat to every connection once every
// 30 s, as the phoenix client does (the server closes a connection silent
// for 60 s), spread evenly over that period so that no burst of heartbeats
// lands in a measurement: 100,000 connections make 3,333 heartbeats a
// second in all, which the nodes answer during every measurement.
func (w *worker) heartbeats(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	const period, step = 30 * time.Second, 100 * time.Millisecond
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
			if c.readDone.Load() {
				continue
			}
			if err := writeFrame(c.fd, 0x1, []byte(`[null,"hb`+strconv.Itoa(ref)+`","phoenix","heartbeat",{}]`)); err != nil {
				w.fail(fmt.Errorf("connection %d: heartbeat: %w", c.global, err))
			}
		}
	}
}

// report sorts every connection's deliveries into the broadcasts named by
// stamps.
func (w *worker) report(stamps []int64) workerReportBody {
	r := workerReportBody{
		N: len(w.conns), Lat: make([][]int64, len(stamps)), Closed: int(w.closed.Load()),
		Waits: w.waits.Load(), Events: w.events.Load(), NodeLat: make([][]int64, w.nodes),
	}
	index := make(map[int64]int, len(stamps))
	for i, t := range stamps {
		index[t] = i
		r.Lat[i] = make([]int64, 0, len(w.conns))
	}
	for _, l := range w.loops {
		l.mu.Lock()
		defer l.mu.Unlock()
	}
	seen := make([]bool, len(stamps))
	for _, c := range w.conns {
		clear(seen)
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
				r.NodeLat[c.node] = append(r.NodeLat[c.node], c.lat[k]/1e3)
			}
		}
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

// close stops the epoll loops, sends a close frame (1000) on every
// connection still open and closes every socket and epoll instance.
func (w *worker) close() {
	close(w.stop)
	w.loopsWG.Wait()
	for _, c := range w.conns {
		if c == nil {
			continue
		}
		if !c.readDone.Load() {
			_ = writeFrame(c.fd, 0x8, []byte{0x03, 0xe8})
		}
		_ = unix.Close(c.fd)
	}
	for _, l := range w.loops {
		_ = unix.Close(l.epfd)
	}
}
