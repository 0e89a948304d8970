// Command measure drives the wsmem benchmark. Run it from bench/wsmem:
//
//	go run ./cmd/measure
//
// It builds the candidate servers and the client, then for each repeat and
// each library in interleaved order (A B C D A B C D ...) it starts the
// server, reads its baseline VmRSS after a forced GC, starts the client with
// -n idle connections spread over several 127.0.0.x listeners, waits for RSS
// to settle, forces a GC and reads VmRSS again: (RSS - baseline) / n is the
// memory per idle connection. Then it asks the server to broadcast -k text
// frames of -size bytes to every connection, once per write mode the library
// offers (see internal/harness), and reads the server's CPU time (utime+stime from /proc/<pid>/stat)
// before the request and after the client has counted every frame. Finally
// it checks the echo path on a few connections and stops both processes.
// It prints every run, then the medians.
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
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// writeModes are the server's broadcast modes, in the order measured.
var writeModes = []string{"plain", "prepared", "byconn", "batch"}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
const clockTick = 10 * time.Millisecond

type config struct {
	n       int
	k       int
	size    int
	repeats int
	libs    []string
	ips     int
	echo    int
	out     string
	bindir  string
	quiet   time.Duration
}

// fanout is one broadcast measurement.
type fanout struct {
	Mode       string  `json:"mode"`
	Frames     int     `json:"frames"`
	CPUNSFrame float64 `json:"cpu_ns_per_frame"`
	PerSec     float64 `json:"deliveries_per_s"`
	WriteMS    float64 `json:"write_ms"`
	Errors     int64   `json:"errors"`
	// SoftirqMS is CPU time of the kernel's ksoftirqd threads during the
	// measurement: mostly loopback TCP work of this very traffic that the
	// kernel deferred, so charged to neither process.
	SoftirqMS float64 `json:"ksoftirqd_ms"`
	// OtherCPUMS is CPU time the machine spent outside the server, the
	// client, this driver and ksoftirqd: other work that may have disturbed
	// the measurement.
	OtherCPUMS float64 `json:"other_cpu_ms"`
}

// run is one library's measurement in one repeat.
type run struct {
	Lib         string   `json:"lib"`
	Repeat      int      `json:"repeat"`
	Conns       int      `json:"conns"`
	ConnectS    float64  `json:"connect_s"`
	BaseRSSKiB  int64    `json:"base_rss_kib"`
	SettledKiB  int64    `json:"settled_rss_kib"`
	GCRSSKiB    int64    `json:"gc_rss_kib"`
	KiBConn     float64  `json:"kib_per_conn"`
	KiBConnNoGC float64  `json:"kib_per_conn_settled"`
	HeapBConn   float64  `json:"heap_b_per_conn"`
	StackBConn  float64  `json:"stack_b_per_conn"`
	GoroutConn  float64  `json:"goroutines_per_conn"`
	Fanouts     []fanout `json:"fanouts"`
	EchoOK      bool     `json:"echo_ok"`
}

type serverStats struct {
	Conns      int    `json:"conns"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
}

type clientStats struct {
	Dialed int64 `json:"dialed"`
	Failed int64 `json:"failed"`
	Open   int64 `json:"open"`
	Frames int64 `json:"frames"`
}

func main() {
	var cfg config
	var libs string
	var timeout time.Duration
	flag.IntVar(&cfg.n, "n", 10000, "idle connections per run")
	flag.IntVar(&cfg.k, "k", 50, "frames per connection in the fan-out")
	flag.IntVar(&cfg.size, "size", 64, "payload bytes per fan-out frame")
	flag.IntVar(&cfg.repeats, "repeats", 3, "repeats of the interleaved sequence")
	flag.StringVar(&libs, "libs", "gorilla,coder,gws,gobwas", "libraries, in the order run")
	flag.IntVar(&cfg.ips, "ips", 8, "listen on 127.0.0.1 .. 127.0.0.<ips>")
	flag.IntVar(&cfg.echo, "echo", 100, "connections on which to check the echo")
	flag.StringVar(&cfg.out, "json", "", "also write every run as JSON to this file")
	flag.StringVar(&cfg.bindir, "bindir", "", "where to build the binaries (default: a temporary directory)")
	flag.DurationVar(&cfg.quiet, "quiet", 5*time.Second, "before each fan-out, wait up to this long for the machine's other CPU use to drop under 10% of a core")
	flag.DurationVar(&timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.Parse()
	cfg.libs = strings.Split(libs, ",")

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	defer cancelT()

	if err := measure(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "measure:", err)
		os.Exit(1)
	}
}

func measure(ctx context.Context, cfg config) error {
	if cfg.bindir == "" {
		dir, err := os.MkdirTemp("", "wsmem-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.bindir = dir
	}
	targets := []string{"./cmd/client"}
	for _, lib := range cfg.libs {
		targets = append(targets, "./cmd/server-"+lib)
	}
	for _, t := range targets {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(cfg.bindir, filepath.Base(t)), t)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", t, err)
		}
	}

	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average before: %s", la)
	}
	fmt.Printf("wsmem: N=%d idle connections, fan-out K=%d frames of %d B, %d repeats, order %s\n",
		cfg.n, cfg.k, cfg.size, cfg.repeats, strings.Join(cfg.libs, " "))
	var runs []run
	for rep := 1; rep <= cfg.repeats; rep++ {
		for _, lib := range cfg.libs {
			r, err := runOne(ctx, cfg, lib, rep)
			if err != nil {
				return fmt.Errorf("%s repeat %d: %w", lib, rep, err)
			}
			printRun(r)
			runs = append(runs, r)
		}
	}
	if cfg.out != "" {
		b, _ := json.MarshalIndent(runs, "", "  ")
		if err := os.WriteFile(cfg.out, b, 0o644); err != nil {
			return err
		}
	}
	printMedians(cfg, runs)
	return nil
}

// proc is a child process whose first stdout line has been read.
type proc struct {
	cmd   *exec.Cmd
	first string
}

func start(ctx context.Context, prefix string, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	// The child dies with the driver, whatever happens to the driver.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		if first {
			close(lines)
		}
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, prefix+" ") {
			p.stop()
			return nil, fmt.Errorf("%s: no %q line (got %q)", bin, prefix, l)
		}
		p.first = strings.TrimPrefix(l, prefix+" ")
		return p, nil
	case <-time.After(15 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s: no %q line in 15s", bin, prefix)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

// stop sends SIGTERM, then SIGKILL after 5s, and reaps the process.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func runOne(ctx context.Context, cfg config, lib string, rep int) (r run, err error) {
	r = run{Lib: lib, Repeat: rep}
	var listen []string
	for i := 1; i <= cfg.ips; i++ {
		listen = append(listen, fmt.Sprintf("127.0.0.%d:0", i))
	}
	srv, err := start(ctx, "LISTEN", filepath.Join(cfg.bindir, "server-"+lib),
		"-addrs", strings.Join(listen, ","), "-maxtime", "4m")
	if err != nil {
		return r, err
	}
	defer srv.stop()
	addrs := strings.Fields(srv.first)
	base := "http://" + addrs[0]

	time.Sleep(300 * time.Millisecond)
	if _, err := get(ctx, base+"/gc"); err != nil {
		return r, err
	}
	time.Sleep(300 * time.Millisecond)
	r.BaseRSSKiB, err = vmRSS(srv.pid())
	if err != nil {
		return r, err
	}
	var st0 serverStats
	if err := getJSON(ctx, base+"/stats", &st0); err != nil {
		return r, err
	}

	t0 := time.Now()
	cli, err := start(ctx, "CTL", filepath.Join(cfg.bindir, "client"),
		"-addrs", strings.Join(addrs, ","), "-n", strconv.Itoa(cfg.n), "-maxtime", "4m")
	if err != nil {
		return r, err
	}
	defer cli.stop()
	ctl := "http://" + cli.first

	var cs clientStats
	err = waitFor(ctx, 120*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := getJSON(ctx, ctl+"/stats", &cs); err != nil {
			return false, err
		}
		return cs.Dialed+cs.Failed >= int64(cfg.n), nil
	})
	if err != nil {
		return r, fmt.Errorf("connecting: %w (client %+v)", err, cs)
	}
	if cs.Failed > 0 {
		return r, fmt.Errorf("%d of %d dials failed", cs.Failed, cfg.n)
	}
	var st1 serverStats
	err = waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := getJSON(ctx, base+"/stats", &st1); err != nil {
			return false, err
		}
		return st1.Conns >= cfg.n, nil
	})
	if err != nil {
		return r, fmt.Errorf("server sees %d of %d connections: %w", st1.Conns, cfg.n, err)
	}
	r.Conns = st1.Conns
	r.ConnectS = time.Since(t0).Seconds()

	// Idle: wait until RSS holds still (4 samples 250ms apart within 0.5%).
	var samples []int64
	err = waitFor(ctx, 20*time.Second, 250*time.Millisecond, func() (bool, error) {
		v, err := vmRSS(srv.pid())
		if err != nil {
			return false, err
		}
		samples = append(samples, v)
		if len(samples) < 4 {
			return false, nil
		}
		last := samples[len(samples)-4:]
		lo, hi := last[0], last[0]
		for _, s := range last {
			lo, hi = min(lo, s), max(hi, s)
		}
		return float64(hi-lo) <= 0.005*float64(hi), nil
	})
	if err != nil {
		return r, fmt.Errorf("RSS did not settle: %w", err)
	}
	r.SettledKiB = samples[len(samples)-1]
	if _, err := get(ctx, base+"/gc"); err != nil {
		return r, err
	}
	time.Sleep(500 * time.Millisecond)
	if r.GCRSSKiB, err = vmRSS(srv.pid()); err != nil {
		return r, err
	}
	if err := getJSON(ctx, base+"/stats", &st1); err != nil {
		return r, err
	}
	n := float64(r.Conns)
	r.KiBConn = float64(r.GCRSSKiB-r.BaseRSSKiB) / n
	r.KiBConnNoGC = float64(r.SettledKiB-r.BaseRSSKiB) / n
	r.HeapBConn = (float64(st1.HeapInuse) - float64(st0.HeapInuse)) / n
	r.StackBConn = (float64(st1.StackInuse) - float64(st0.StackInuse)) / n
	r.GoroutConn = float64(st1.Goroutines-st0.Goroutines) / n

	// Fan-out, once per write mode the library offers, each started when
	// the machine is quiet (the server and client are idle then).
	for _, mode := range writeModes {
		waitQuiet(ctx, cfg.quiet)
		f, ok, err := fanOut(ctx, cfg, srv.pid(), cli.pid(), base, ctl, mode)
		if err != nil {
			return r, fmt.Errorf("fan-out %s: %w", mode, err)
		}
		if ok {
			r.Fanouts = append(r.Fanouts, f)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Echo on a few connections.
	if err := getJSON(ctx, ctl+"/stats", &cs); err != nil {
		return r, err
	}
	before := cs.Frames
	if _, err := get(ctx, ctl+"/echo?n="+strconv.Itoa(cfg.echo)); err != nil {
		return r, err
	}
	err = waitFor(ctx, 10*time.Second, 20*time.Millisecond, func() (bool, error) {
		if err := getJSON(ctx, ctl+"/stats", &cs); err != nil {
			return false, err
		}
		return cs.Frames >= before+int64(min(cfg.echo, cfg.n)), nil
	})
	r.EchoOK = err == nil && cs.Frames == before+int64(min(cfg.echo, cfg.n))
	return r, nil
}

// fanOut measures one broadcast; ok is false if the server lacks the mode.
func fanOut(ctx context.Context, cfg config, pid, clientPid int, base, ctl, mode string) (f fanout, ok bool, err error) {
	f.Mode = mode
	var cs clientStats
	if err := getJSON(ctx, ctl+"/stats", &cs); err != nil {
		return f, false, err
	}
	before := cs.Frames
	cpu0, err := cpuTime(pid)
	if err != nil {
		return f, false, err
	}
	ccpu0, _ := cpuTime(clientPid)
	self0, _ := cpuTime(os.Getpid())
	soft0 := softirqTime()
	busy0, _ := machineBusy()
	t0 := time.Now()
	u := fmt.Sprintf("%s/broadcast?n=%d&size=%d&mode=%s", base, cfg.k, cfg.size, mode)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return f, false, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusBadRequest {
		return f, false, nil
	}
	var br struct {
		Frames  int   `json:"frames"`
		Errors  int64 `json:"errors"`
		WriteNS int64 `json:"write_ns"`
	}
	if err := json.Unmarshal(body, &br); err != nil {
		return f, false, fmt.Errorf("%s: %q", u, body)
	}
	want := before + int64(br.Frames)
	err = waitFor(ctx, 120*time.Second, 5*time.Millisecond, func() (bool, error) {
		if err := getJSON(ctx, ctl+"/stats", &cs); err != nil {
			return false, err
		}
		return cs.Frames >= want, nil
	})
	elapsed := time.Since(t0)
	cpu1, cerr := cpuTime(pid)
	ccpu1, _ := cpuTime(clientPid)
	self1, _ := cpuTime(os.Getpid())
	soft1 := softirqTime()
	busy1, _ := machineBusy()
	if err != nil {
		return f, false, fmt.Errorf("client got %d of %d frames: %w", cs.Frames-before, br.Frames, err)
	}
	if cerr != nil {
		return f, false, cerr
	}
	f.Frames = br.Frames
	f.Errors = br.Errors
	f.WriteMS = float64(br.WriteNS) / 1e6
	f.CPUNSFrame = float64((cpu1 - cpu0).Nanoseconds()) / float64(br.Frames)
	f.PerSec = float64(br.Frames) / elapsed.Seconds()
	f.SoftirqMS = float64(soft1-soft0) / 1e6
	f.OtherCPUMS = float64((busy1-busy0)-(cpu1-cpu0)-(ccpu1-ccpu0)-(self1-self0)-(soft1-soft0)) / 1e6
	return f, true, nil
}

func waitFor(ctx context.Context, limit, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return b, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	b, err := get(ctx, url)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// vmRSS reads VmRSS in KiB from /proc/<pid>/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// cpuTime reads utime+stime of the whole process from /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" closing comm start at field 3 (state).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	// utime is field 14 and stime field 15, that is f[11] and f[12].
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad utime/stime")
	}
	return time.Duration(ut+st) * clockTick, nil
}

// softirqTime sums the CPU time of the ksoftirqd kernel threads.
func softirqTime() time.Duration {
	ents, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || !strings.HasPrefix(string(comm), "ksoftirqd/") {
			continue
		}
		if t, err := cpuTime(pid); err == nil {
			sum += t
		}
	}
	return sum
}

// waitQuiet returns once the machine was under 10% of one core busy for a
// second, or after limit.
func waitQuiet(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b0, err := machineBusy()
		if err != nil {
			return
		}
		time.Sleep(time.Second)
		b1, _ := machineBusy()
		if b1-b0 < 100*time.Millisecond {
			return
		}
	}
}

// machineBusy reads the machine's non-idle CPU time from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("bad /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle, iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

func printRun(r run) {
	fmt.Printf("run %d %-8s conns=%d connect=%.1fs base=%dKiB settled=%dKiB gc=%dKiB  %.2f KiB/conn (%.2f before GC)  heap %.0f B/conn  stack %.0f B/conn  goroutines %.2f/conn  echo=%v\n",
		r.Repeat, r.Lib, r.Conns, r.ConnectS, r.BaseRSSKiB, r.SettledKiB, r.GCRSSKiB, r.KiBConn, r.KiBConnNoGC,
		r.HeapBConn, r.StackBConn, r.GoroutConn, r.EchoOK)
	for _, f := range r.Fanouts {
		fmt.Printf("        %-8s %-8s frames=%d  %.0f ns CPU/frame  %.0f deliveries/s  writes %.0f ms  errors=%d  ksoftirqd %.0f ms  other CPU %.0f ms\n",
			r.Lib, f.Mode, f.Frames, f.CPUNSFrame, f.PerSec, f.WriteMS, f.Errors, f.SoftirqMS, f.OtherCPUMS)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printMedians(cfg config, runs []run) {
	fmt.Printf("\nMedians of %d repeats, N=%d idle connections (server RSS from /proc/<pid>/status):\n\n", cfg.repeats, cfg.n)
	fmt.Println("| library | KiB/conn (after GC) | KiB/conn (settled, no forced GC) | Go heap B/conn | goroutine stack B/conn | goroutines/conn | echo ok |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---|")
	for _, lib := range cfg.libs {
		var a, b, c, d, e []float64
		echo := true
		for _, r := range runs {
			if r.Lib != lib {
				continue
			}
			a, b, c = append(a, r.KiBConn), append(b, r.KiBConnNoGC), append(c, r.HeapBConn)
			d, e = append(d, r.StackBConn), append(e, r.GoroutConn)
			echo = echo && r.EchoOK
		}
		fmt.Printf("| %s | %.2f | %.2f | %.0f | %.0f | %.2f | %v |\n", lib, median(a), median(b), median(c), median(d), median(e), echo)
	}
	fmt.Printf("\nFan-out: K=%d text frames of %d B to each of N connections (server CPU = utime+stime from /proc/<pid>/stat):\n\n", cfg.k, cfg.size)
	fmt.Println("| library | write mode | server CPU ns/delivered frame | deliveries/s | write errors | median ksoftirqd ms | max other CPU ms |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, lib := range cfg.libs {
		for _, mode := range writeModes {
			var ns, ps []float64
			var errs int64
			var other float64
			var soft []float64
			for _, r := range runs {
				for _, f := range r.Fanouts {
					if r.Lib == lib && f.Mode == mode {
						ns, ps = append(ns, f.CPUNSFrame), append(ps, f.PerSec)
						errs += f.Errors
						other = max(other, f.OtherCPUMS)
						soft = append(soft, f.SoftirqMS)
					}
				}
			}
			if len(ns) > 0 {
				fmt.Printf("| %s | %s | %.0f | %.0f | %d | %.0f | %.0f |\n", lib, mode, median(ns), median(ps), errs, median(soft), other)
			}
		}
	}
}
