package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clusterResult is the PARLEY_BENCH_RESULT of cluster.
type clusterResult struct {
	Nodes   int     `json:"nodes"`
	N       int     `json:"n"`
	Workers int     `json:"workers"`
	Msgs    int     `json:"msgs"`
	Rate    float64 `json:"rate"` // broadcasts per second; 0: back to back
	Size    int     `json:"size"`
	// JoinSeconds is the time from starting the workers until every
	// connection is joined; JoinsPerSec is N over it.
	JoinSeconds float64 `json:"join_s"`
	JoinsPerSec float64 `json:"joins_per_s"`
	// Expected is N × Msgs; Delivered counts the deliveries of the
	// measured broadcasts (each connection's first of each); Missed is
	// Expected − Delivered, MissedList the first missed pairs.
	Expected   int64        `json:"expected"`
	Delivered  int64        `json:"delivered"`
	Missed     int64        `json:"missed"`
	MissedList []missedPair `json:"missed_list,omitempty"`
	Duplicates int          `json:"duplicates"`
	Unknown    int          `json:"unknown"`
	Closed     int          `json:"closed"` // client connections closed before the report
	// EventsPerWait is the client workers' epoll events per wakeup over
	// the whole run: how many sockets one wakeup of a client found ready.
	EventsPerWait float64 `json:"events_per_wait"`
	Gather        float64 `json:"gather_us"` // the workers' -gather pause, µs
	// Broadcasts has one entry per measured broadcast; Overall is over
	// every delivery.
	Broadcasts []latencyStats `json:"broadcasts"`
	Overall    latencyStats   `json:"overall"`
	// PerNode is each node's connections, memory and CPU.
	PerNode []clusterNode `json:"per_node"`
	// RSS of the NATS server after the measurement, KiB.
	NATSRSSKiB int64 `json:"nats_rss_kib"`
	// CPU seconds used during the measurement (from the first broadcast
	// until the last delivery or the time limit): by the nodes together,
	// the workers together, NATS, and the machine (all processes, all
	// cores; 2 cores give 2 s per second).
	MeasureSeconds float64 `json:"measure_s"`
	NodesCPU       float64 `json:"nodes_cpu_s"`
	WorkersCPU     float64 `json:"workers_cpu_s"`
	NATSCPU        float64 `json:"nats_cpu_s"`
	MachineCPU     float64 `json:"machine_cpu_s"`
	MachineCores   float64 `json:"machine_cores"` // machine CPU seconds per second of wall time available
	// MachineSplit is the machine's CPU seconds during the measurement by
	// /proc/stat field: user, nice, system, idle, iowait, irq, softirq,
	// steal. This run's processes are not niced, so "nice" is other
	// people's niced work (the fuzzer, their benchmarks).
	MachineSplit map[string]float64 `json:"machine_split_s"`
	// PacedLateMax is the worst lateness of a scheduled broadcast at the
	// sending node, µs.
	PacedLateMax float64  `json:"paced_late_max_us"`
	LoadStart    string   `json:"loadavg_start"`
	LoadEnd      string   `json:"loadavg_end"`
	Seconds      float64  `json:"seconds"` // the whole run
	Errors       []string `json:"errors,omitempty"`
}

// latencyStats summarises the deliveries of one broadcast (or of all),
// latencies in µs from the broadcast's stamp to the client's read.
type latencyStats struct {
	Stamp      int64   `json:"stamp,omitempty"`
	Deliveries int     `json:"deliveries"`
	Missed     int     `json:"missed"`
	P50        float64 `json:"p50_us"`
	P90        float64 `json:"p90_us"`
	P99        float64 `json:"p99_us"`
	Max        float64 `json:"max_us"`
}

// clusterNode is one serve node's figures.
type clusterNode struct {
	URL     string `json:"url"`
	Sockets int64  `json:"sockets"`
	// RSS before any connection and with every connection joined (after
	// a forced GC), KiB; KiBPerConn is the difference per socket.
	RSSBaseKiB int64   `json:"rss_base_kib"`
	RSSKiB     int64   `json:"rss_kib"`
	KiBPerConn float64 `json:"kib_per_conn"`
	CPU        float64 `json:"cpu_s"` // during the measurement
	// Received counts messages the node's NATS adapter handed to its
	// PubSub during the run (warm-up and measured broadcasts).
	Received uint64 `json:"nats_received"`
	// Latency is over the deliveries of the measured broadcasts to this
	// node's connections.
	Latency latencyStats `json:"latency"`
	// Arrival is, for each measured broadcast, the time from its stamp
	// until it reached this node's PubSub, µs (-1: never): the NATS hop
	// for every node but 0.
	Arrival []float64 `json:"arrival_us"`
}

func runCluster(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	nodes := fs.Int("nodes", 6, "serve nodes sharing one NATS server")
	n := fs.Int("n", 100000, "connections, spread evenly over the nodes")
	perWorker := fs.Int("per-worker", 17000, "at most this many connections per client worker process (a process holds at most ~19,500 sockets here)")
	msgs := fs.Int("msgs", 10, "measured broadcasts, sent through node 0")
	rate := fs.Float64("rate", 1, "broadcasts per second, open loop (latency counts from the scheduled time); 0 sends them back to back")
	size := fs.Int("size", 64, "payload bytes of each broadcast")
	warmup := fs.Int("warmup", 1, "unmeasured broadcasts first, each awaited at every connection")
	sources := fs.Int("sources", 8, "source addresses per worker (127.1.<worker>.2 and up)")
	dialers := fs.Int("dialers", 32, "concurrent dials per worker")
	gather := fs.Duration("gather", 0, "client workers pause this long after a wakeup that found fewer than 64 sockets ready (fewer, larger wakeups; the pause counts in the latency)")
	wait := fs.Duration("wait", 30*time.Second, "after the last broadcast is due, wait at most this long for every delivery")
	timeout := fs.Duration("timeout", 15*time.Minute, "bound on the whole run")
	cpuProfile := fs.String("cpuprofile", "", "write the CPU profile of the measurement of each node and each worker into this directory")
	_ = fs.Parse(args)
	if *nodes < 1 || *nodes > 250 || *n < *nodes || *perWorker < 1 || *msgs < 1 || *rate < 0 || *warmup < 0 || *sources < 1 || *sources > 250 {
		return errors.New("cluster: need 1 ≤ -nodes ≤ 250, -n ≥ -nodes, -per-worker ≥ 1, -msgs ≥ 1, -rate ≥ 0, -warmup ≥ 0, 1 ≤ -sources ≤ 250")
	}
	workers := (*n + *perWorker - 1) / *perWorker
	if workers > 250 {
		return errors.New("cluster: more than 250 workers; raise -per-worker")
	}
	started := time.Now()
	ctx, cancel := runContext(*timeout)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	res := clusterResult{
		Nodes: *nodes, N: *n, Workers: workers, Msgs: *msgs, Rate: *rate, Size: *size, LoadStart: loadAvg(),
		Gather: float64(gather.Microseconds()),
	}
	c := &clusterRun{res: &res}
	err = c.run(ctx, exe, *perWorker, *warmup, *sources, *dialers, *timeout, *wait, *cpuProfile)
	if serr := c.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	res.LoadEnd = loadAvg()
	res.Seconds = time.Since(started).Seconds()
	if res.Expected > 0 {
		c.print()
		printResult(res)
	}
	return err
}

// clusterRun is the processes of one cluster run.
type clusterRun struct {
	res     *clusterResult
	nats    *serverProc
	nodes   []*serverProc
	workers []*workerProc
}

func (c *clusterRun) run(ctx context.Context, exe string, perWorker, warmup, sources, dialers int, timeout, wait time.Duration, cpuProfile string) error {
	res := c.res
	maxtime := timeout + time.Minute
	var err error
	c.nats, err = startServer(ctx, serverSpec{Name: "nats", Exe: exe, Args: []string{"nats"}}, maxtime)
	if err != nil {
		return fmt.Errorf("cluster: nats: %w", err)
	}
	natsURL := c.nats.url
	for i := range res.Nodes {
		spec := serverSpec{
			Name: fmt.Sprintf("node%d", i), Exe: exe, Addr: fmt.Sprintf("127.0.1.%d:0", i+1),
			// No presence tracker: its gossip would be NATS traffic too.
			Args: []string{"serve", "-nats", natsURL, "-node", fmt.Sprintf("node%d", i), "-probe", "bench:0", "-presence=false"},
		}
		s, err := startServer(ctx, spec, maxtime)
		if err != nil {
			return fmt.Errorf("cluster: node %d: %w", i, err)
		}
		c.nodes = append(c.nodes, s)
		res.PerNode = append(res.PerNode, clusterNode{URL: s.url})
	}
	if err := c.eachNode(func(i int, s *serverProc) error {
		if err := s.gc(ctx); err != nil {
			return err
		}
		res.PerNode[i].RSSBaseKiB, _ = stableRSS(ctx, s.pid, 5*time.Second)
		return nil
	}); err != nil {
		return err
	}

	// Connect and join.
	urls := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		urls[i] = s.url
	}
	if cpuProfile != "" {
		if err := os.MkdirAll(cpuProfile, 0o755); err != nil {
			return err
		}
	}
	joinStart := time.Now()
	for w := range res.Workers {
		lo, hi := w*res.N/res.Workers, (w+1)*res.N/res.Workers
		args := []string{
			"-urls", strings.Join(urls, ","), "-first", strconv.Itoa(lo), "-n", strconv.Itoa(hi - lo),
			"-src", fmt.Sprintf("127.1.%d", w), "-sources", strconv.Itoa(sources), "-dialers", strconv.Itoa(dialers),
			"-maxtime", maxtime.String(), "-gather", time.Duration(res.Gather * 1e3).String(),
		}
		if cpuProfile != "" {
			args = append(args, "-cpuprofile", filepath.Join(cpuProfile, fmt.Sprintf("worker%d.pprof", w)))
		}
		wp, err := startWorker(exe, w, args)
		if err != nil {
			return err
		}
		c.workers = append(c.workers, wp)
	}
	for _, wp := range c.workers {
		select {
		case <-wp.joinedCh:
		case <-wp.done:
			return fmt.Errorf("cluster: worker %d exited before joining its connections (%s)", wp.index, wp.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("cluster: joining: %w", ctx.Err())
		}
	}
	res.JoinSeconds = time.Since(joinStart).Seconds()
	res.JoinsPerSec = float64(res.N) / res.JoinSeconds
	fmt.Printf("cluster: %d connections joined over %d nodes by %d workers in %.1f s (%.0f joins/s)\n",
		res.N, res.Nodes, res.Workers, res.JoinSeconds, res.JoinsPerSec)
	var sockets int64
	if err := c.eachNode(func(i int, s *serverProc) error {
		if err := s.gc(ctx); err != nil {
			return err
		}
		rss, _ := stableRSS(ctx, s.pid, 10*time.Second)
		st, err := s.stats(ctx)
		if err != nil {
			return err
		}
		nd := &res.PerNode[i]
		nd.RSSKiB, nd.Sockets = rss, st.Sockets
		if st.Sockets > 0 {
			nd.KiBPerConn = float64(rss-nd.RSSBaseKiB) / float64(st.Sockets)
		}
		atomic.AddInt64(&sockets, st.Sockets)
		return nil
	}); err != nil {
		return err
	}
	if sockets != int64(res.N) {
		return fmt.Errorf("cluster: the nodes hold %d sockets, want %d", sockets, res.N)
	}

	// Warm-up: every connection gets each warm-up broadcast.
	node0 := c.nodes[0]
	q := url.Values{"topic": {"bench:0"}, "size": {strconv.Itoa(res.Size)}}
	if warmup > 0 {
		wq := cloneValues(q)
		wq.Set("n", strconv.Itoa(warmup))
		wq.Set("event", "warm")
		if err := node0.call(ctx, http.MethodPost, "/bench/broadcast?"+wq.Encode(), nil); err != nil {
			return err
		}
		want := int64(res.N) * int64(warmup)
		if !waitFor(ctx, 60*time.Second, func() bool { return c.total(func(wp *workerProc) int64 { return wp.warm.Load() }) >= want }) {
			return fmt.Errorf("cluster: warm-up: %d of %d delivered", c.total(func(wp *workerProc) int64 { return wp.warm.Load() }), want)
		}
	}

	// The measurement.
	res.Expected = int64(res.N) * int64(res.Msgs)
	q.Set("n", strconv.Itoa(res.Msgs))
	if res.Rate > 0 {
		q.Set("rate", strconv.FormatFloat(res.Rate, 'g', -1, 64))
	}
	if cpuProfile != "" {
		if err := c.eachNode(func(_ int, s *serverProc) error {
			return s.call(ctx, http.MethodPost, "/bench/cpuprofile/start", nil)
		}); err != nil {
			return err
		}
		if err := c.tellWorkers("profile-start"); err != nil {
			return err
		}
	}
	cpu0 := c.cpu()
	busy0, _, total0, _ := machineCPU()
	split0 := statFields()
	start := time.Now()
	var ans broadcastResult
	callErr := make(chan error, 1)
	go func() { callErr <- node0.call(ctx, http.MethodPost, "/bench/broadcast?"+q.Encode(), &ans) }()
	limit := wait
	if res.Rate > 0 {
		limit += time.Duration(float64(res.Msgs-1) / res.Rate * float64(time.Second))
	}
	delivered := func() int64 { return c.total(func(wp *workerProc) int64 { return wp.delivered.Load() }) }
	complete := waitFor(ctx, limit, func() bool { return delivered() >= res.Expected })
	res.MeasureSeconds = time.Since(start).Seconds()
	cpu1 := c.cpu()
	busy1, _, total1, _ := machineCPU()
	split1 := statFields()
	if len(split0) == len(statNames) && len(split1) == len(statNames) {
		res.MachineSplit = map[string]float64{}
		for i, name := range statNames {
			res.MachineSplit[name] = float64(split1[i]-split0[i]) / clockTicks
		}
	}
	if err := <-callErr; err != nil {
		return fmt.Errorf("cluster: broadcast: %w", err)
	}
	res.PacedLateMax = float64(ans.LateMaxNanos) / 1e3
	for i := range c.nodes {
		res.PerNode[i].CPU = (cpu1.nodes[i] - cpu0.nodes[i]).Seconds()
		res.NodesCPU += res.PerNode[i].CPU
	}
	for i := range c.workers {
		res.WorkersCPU += (cpu1.workers[i] - cpu0.workers[i]).Seconds()
	}
	res.NATSCPU = (cpu1.nats - cpu0.nats).Seconds()
	res.MachineCPU = (busy1 - busy0).Seconds()
	if res.MeasureSeconds > 0 {
		res.MachineCores = (total1 - total0).Seconds() / res.MeasureSeconds
	}
	if cpuProfile != "" {
		if err := c.eachNode(func(i int, s *serverProc) error {
			return saveCPUProfile(ctx, s, filepath.Join(cpuProfile, fmt.Sprintf("node%d.pprof", i)))
		}); err != nil {
			return err
		}
		if err := c.tellWorkers("profile-stop"); err != nil {
			return err
		}
	}
	if err := c.eachNode(func(i int, s *serverProc) error {
		st, err := s.stats(ctx)
		if st.Adapter != nil {
			res.PerNode[i].Received = st.Adapter.Received
		}
		for _, t := range ans.Stamps {
			a := -1.0
			if at, ok := st.Arrivals[t]; ok {
				a = float64(at-t) / 1e3
			}
			res.PerNode[i].Arrival = append(res.PerNode[i].Arrival, a)
		}
		return err
	}); err != nil {
		return err
	}
	res.NATSRSSKiB, _ = rssKiB(c.nats.pid)

	if err := c.collect(ctx, ans.Stamps); err != nil {
		return err
	}
	if !complete || res.Missed > 0 {
		return fmt.Errorf("cluster: %d of %d deliveries missed", res.Missed, res.Expected)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("cluster: client errors: %s", strings.Join(res.Errors, "; "))
	}
	return nil
}

// collect asks every worker for its deliveries of the broadcasts stamped
// stamps and fills in the latency figures.
func (c *clusterRun) collect(ctx context.Context, stamps []int64) error {
	res := c.res
	if len(stamps) != res.Msgs {
		return fmt.Errorf("cluster: node 0 sent %d broadcasts, want %d", len(stamps), res.Msgs)
	}
	line, err := json.Marshal(stamps)
	if err != nil {
		return err
	}
	per := make([][]int64, len(stamps))
	perNode := make([][]int64, len(c.nodes))
	var all []int64
	var waits, events int64
	for _, wp := range c.workers {
		if _, err := fmt.Fprintf(wp.stdin, "report %s\n", line); err != nil {
			return fmt.Errorf("cluster: worker %d: %w", wp.index, err)
		}
		var r workerReportBody
		select {
		case r = <-wp.reports:
		case <-wp.done:
			return fmt.Errorf("cluster: worker %d exited before reporting (%s)", wp.index, wp.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("cluster: report: %w", ctx.Err())
		}
		if len(r.Lat) != len(stamps) || len(r.NodeLat) != len(c.nodes) {
			return fmt.Errorf("cluster: worker %d reported %d broadcasts over %d nodes, want %d over %d",
				wp.index, len(r.Lat), len(r.NodeLat), len(stamps), len(c.nodes))
		}
		for i, l := range r.Lat {
			per[i] = append(per[i], l...)
			all = append(all, l...)
		}
		for i, l := range r.NodeLat {
			perNode[i] = append(perNode[i], l...)
		}
		res.Missed += int64(r.MissedCount)
		for _, m := range r.Missed {
			if len(res.MissedList) < 50 {
				res.MissedList = append(res.MissedList, m)
			}
		}
		res.Duplicates += r.Duplicates
		res.Unknown += r.Unknown
		res.Closed += r.Closed
		waits += r.Waits
		events += r.Events
		for _, e := range r.Errors {
			res.Errors = append(res.Errors, fmt.Sprintf("worker %d: %s", wp.index, e))
		}
	}
	res.Delivered = int64(len(all))
	if waits > 0 {
		res.EventsPerWait = float64(events) / float64(waits)
	}
	for i, l := range per {
		st := summarise(l, res.N)
		st.Stamp = stamps[i]
		res.Broadcasts = append(res.Broadcasts, st)
	}
	res.Overall = summarise(all, res.N*res.Msgs)
	for i, l := range perNode {
		res.PerNode[i].Latency = summarise(l, int(res.PerNode[i].Sockets)*res.Msgs)
	}
	return nil
}

// summarise sorts lat (µs) and returns its percentiles; want is the
// number of deliveries expected.
func summarise(lat []int64, want int) latencyStats {
	slices.Sort(lat)
	return latencyStats{
		Deliveries: len(lat), Missed: want - len(lat),
		P50: float64(percentile(lat, 50)), P90: float64(percentile(lat, 90)),
		P99: float64(percentile(lat, 99)), Max: float64(percentile(lat, 100)),
	}
}

// print writes the human-readable report.
func (c *clusterRun) print() {
	r := c.res
	ms := func(us float64) string { return strconv.FormatFloat(us/1e3, 'f', 1, 64) }
	fmt.Printf("cluster: %d nodes over NATS, %d connections (%d client workers), %d broadcasts of %d B through node 0",
		r.Nodes, r.N, r.Workers, r.Msgs, r.Size)
	if r.Rate > 0 {
		fmt.Printf(" at %g/s", r.Rate)
	}
	fmt.Printf("\nconnect+join: %.1f s, %.0f joins/s\n", r.JoinSeconds, r.JoinsPerSec)
	fmt.Printf("deliveries %d of %d (missed %d, duplicates %d, unknown %d, client connections closed %d)\n",
		r.Delivered, r.Expected, r.Missed, r.Duplicates, r.Unknown, r.Closed)
	for _, m := range r.MissedList {
		fmt.Printf("  missed: connection %d on node %d, broadcast %d\n", m.Conn, m.Node, m.Broadcast)
	}
	fmt.Println("latency ms   deliveries   p50     p90     p99     max")
	for i, b := range r.Broadcasts {
		fmt.Printf("  #%-3d       %10d %7s %7s %7s %7s\n", i, b.Deliveries, ms(b.P50), ms(b.P90), ms(b.P99), ms(b.Max))
	}
	o := r.Overall
	fmt.Printf("  all        %10d %7s %7s %7s %7s\n", o.Deliveries, ms(o.P50), ms(o.P90), ms(o.P99), ms(o.Max))
	fmt.Println("node  sockets  RSS base MiB  RSS MiB  KiB/conn  CPU s  NATS msgs in  p50 ms  p99 ms  max ms")
	for i, nd := range r.PerNode {
		fmt.Printf("  %d  %7d  %12.1f  %7.1f  %8.2f  %5.2f  %12d  %6s  %6s  %6s\n", i, nd.Sockets,
			float64(nd.RSSBaseKiB)/1024, float64(nd.RSSKiB)/1024, nd.KiBPerConn, nd.CPU, nd.Received,
			ms(nd.Latency.P50), ms(nd.Latency.P99), ms(nd.Latency.Max))
	}
	fmt.Print("broadcast reached the node's PubSub after (ms), per broadcast:\n")
	for i, nd := range r.PerNode {
		fmt.Printf("  %d ", i)
		for _, a := range nd.Arrival {
			fmt.Printf(" %7s", ms(a))
		}
		fmt.Println()
	}
	fmt.Printf("NATS RSS %.1f MiB\n", float64(r.NATSRSSKiB)/1024)
	fmt.Printf("CPU during the %.2f s measurement: nodes %.2f s, client workers %.2f s, NATS %.2f s; machine %.2f s of %.2f s (%.0f cores)\n",
		r.MeasureSeconds, r.NodesCPU, r.WorkersCPU, r.NATSCPU, r.MachineCPU, r.MachineCores*r.MeasureSeconds, r.MachineCores)
	if m := r.MachineSplit; m != nil {
		fmt.Printf("machine CPU by kind: user %.2f s, nice (others' niced work) %.2f s, system %.2f s, irq+softirq %.2f s, idle %.2f s, steal %.2f s\n",
			m["user"], m["nice"], m["system"], m["irq"]+m["softirq"], m["idle"]+m["iowait"], m["steal"])
	}
	fmt.Printf("client workers: %.1f ready sockets per epoll wakeup (pause after a small one: %.0f µs)\n", r.EventsPerWait, r.Gather)
	fmt.Printf("worst lateness of a scheduled broadcast at node 0: %.0f µs\n", r.PacedLateMax)
	fmt.Printf("load average: %s at start, %s at end; whole run %.1f s\n", r.LoadStart, r.LoadEnd, r.Seconds)
}

// statNames are the first fields of the "cpu" line of /proc/stat.
var statNames = [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

// statFields returns the machine's CPU ticks by the fields of statNames,
// or nil.
func statFields() []int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 1+len(statNames) || f[0] != "cpu" {
		return nil
	}
	out := make([]int64, len(statNames))
	for i := range out {
		if out[i], err = strconv.ParseInt(f[1+i], 10, 64); err != nil {
			return nil
		}
	}
	return out
}

// eachNode runs f for every node concurrently and joins the errors.
func (c *clusterRun) eachNode(f func(i int, s *serverProc) error) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, s := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i, s); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tellWorkers sends cmd to every worker.
func (c *clusterRun) tellWorkers(cmd string) error {
	for _, wp := range c.workers {
		if _, err := io.WriteString(wp.stdin, cmd+"\n"); err != nil {
			return fmt.Errorf("cluster: worker %d: %w", wp.index, err)
		}
	}
	return nil
}

// total sums f over the workers.
func (c *clusterRun) total(f func(*workerProc) int64) int64 {
	var sum int64
	for _, wp := range c.workers {
		sum += f(wp)
	}
	return sum
}

// clusterCPU is the CPU time used so far by each process of a run.
type clusterCPU struct {
	nodes, workers []time.Duration
	nats           time.Duration
}

func (c *clusterRun) cpu() clusterCPU {
	var out clusterCPU
	for _, s := range c.nodes {
		d, _ := procCPU(s.pid)
		out.nodes = append(out.nodes, d)
	}
	for _, wp := range c.workers {
		d, _ := procCPU(wp.pid)
		out.workers = append(out.workers, d)
	}
	out.nats, _ = procCPU(c.nats.pid)
	return out
}

// stop ends every process of the run: the workers first (they close their
// connections), then the nodes, then NATS.
func (c *clusterRun) stop() error {
	var errs []error
	var wg sync.WaitGroup
	werrs := make([]error, len(c.workers))
	for i, wp := range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			werrs[i] = wp.stop()
		}()
	}
	wg.Wait()
	errs = append(errs, werrs...)
	errs = append(errs, c.eachNode(func(_ int, s *serverProc) error { return s.stop() }))
	if c.nats != nil {
		errs = append(errs, c.nats.stop())
	}
	return errors.Join(errs...)
}

// workerProc is a running "parley-bench worker" child.
type workerProc struct {
	index int
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser

	joinedCh  chan workerJoin
	reports   chan workerReportBody
	delivered atomic.Int64
	warm      atomic.Int64
	done      chan struct{} // closed when the process has exited
}

// startWorker starts worker index with args. It dies with this process
// (Pdeathsig). Its stdout is read by a goroutine that ends when the
// process exits.
func startWorker(exe string, index int, args []string) (*workerProc, error) {
	cmd := exec.Command(exe, append([]string{"worker"}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster: start worker %d: %w", index, err)
	}
	wp := &workerProc{
		index: index, cmd: cmd, pid: cmd.Process.Pid, stdin: stdin,
		joinedCh: make(chan workerJoin, 1), reports: make(chan workerReportBody, 1), done: make(chan struct{}),
	}
	go wp.readStdout(stdout)
	return wp, nil
}

// readStdout routes the worker's lines until it exits, then reaps it.
func (wp *workerProc) readStdout(stdout io.Reader) {
	defer close(wp.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, workerProgress):
			var d, w int64
			if _, err := fmt.Sscanf(line[len(workerProgress):], "%d %d", &d, &w); err == nil {
				wp.delivered.Store(d)
				wp.warm.Store(w)
			}
		case strings.HasPrefix(line, workerJoined):
			var j workerJoin
			if err := json.Unmarshal([]byte(line[len(workerJoined):]), &j); err != nil {
				fmt.Fprintf(os.Stderr, "worker %d: bad line: %v\n", wp.index, err)
				continue
			}
			wp.joinedCh <- j
		case strings.HasPrefix(line, workerReport):
			var r workerReportBody
			if err := json.Unmarshal([]byte(line[len(workerReport):]), &r); err != nil {
				fmt.Fprintf(os.Stderr, "worker %d: bad report: %v\n", wp.index, err)
				continue
			}
			wp.reports <- r
		default:
			fmt.Fprintf(os.Stderr, "worker %d: %s\n", wp.index, line)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "worker %d: stdout: %v\n", wp.index, err)
		_, _ = io.Copy(io.Discard, stdout) // let it exit
	}
	_ = wp.cmd.Wait()
}

// stop asks the worker to close its connections and exit, and kills it
// after 30 s.
func (wp *workerProc) stop() error {
	_, _ = io.WriteString(wp.stdin, "exit\n")
	_ = wp.stdin.Close()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-wp.done:
		if st := wp.cmd.ProcessState; st != nil && !st.Success() {
			return fmt.Errorf("worker %d exited with %s", wp.index, st)
		}
		return nil
	case <-t.C:
		_ = wp.cmd.Process.Kill()
		<-wp.done
		return fmt.Errorf("worker %d did not exit within 30 s; killed", wp.index)
	}
}
