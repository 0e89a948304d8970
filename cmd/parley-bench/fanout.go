package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"
)

// fanoutResult is the PARLEY_BENCH_RESULT of fanout.
type fanoutResult struct {
	Mode     string  `json:"mode"` // "burst" or "paced"
	Server   string  `json:"server"`
	Slow     int     `json:"slow,omitempty"` // connections that stop reading
	N        int     `json:"n"`
	Topics   int     `json:"topics"`
	Msgs     int     `json:"msgs"`
	Size     int     `json:"size"`
	Rate     float64 `json:"rate,omitempty"` // messages per second, paced
	Expected int64   `json:"expected"`
	// Delivered counts "msg" broadcasts received; every connection must
	// get every message (MinPerConn == MaxPerConn == Msgs).
	Delivered  int64 `json:"delivered"`
	MinPerConn int   `json:"min_per_conn"`
	MaxPerConn int   `json:"max_per_conn"`
	// Seconds from the broadcast request to the last delivery.
	Seconds       float64 `json:"seconds"`
	DeliveriesSec float64 `json:"deliveries_per_s"`
	// Latency from the payload timestamp to receipt, µs.
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	// Server CPU (utime+stime) per delivery, µs: from /proc/<pid>/stat
	// (10 ms ticks) and from the server's getrusage; this client's CPU
	// per delivery.
	ServerCPUUs       float64 `json:"server_cpu_us_per_delivery"`
	ServerRusageCPUUs float64 `json:"server_rusage_cpu_us_per_delivery"`
	ClientCPUUs       float64 `json:"client_cpu_us_per_delivery"`
	// Compress: permessage-deflate negotiated; Text: the payload kind.
	Compress bool   `json:"compress,omitempty"`
	Text     string `json:"text,omitempty"`
	// WireBytes is the bytes the server wrote per delivery during the
	// measurement (/proc/<pid>/io wchar: frames, headers and all).
	WireBytes float64 `json:"wire_bytes_per_delivery"`
	// FramesPerWrite is deliveries per write system call of the server
	// (/proc/<pid>/io syscw): how well the writer coalesces frames.
	FramesPerWrite float64 `json:"frames_per_write"`
	// OtherBusy is the machine's busy time not charged to the server or
	// this client during the measurement, as a fraction of all cores:
	// other processes, and kernel work in ksoftirqd or on idle CPUs. A
	// disturbed run shows here. QuietBusy is the machine's busy fraction
	// in the second before (with -quiet; -1 without).
	OtherBusy float64 `json:"other_busy"`
	QuietBusy float64 `json:"quiet_busy"`
	// IRQBusy is the machine's irq+softirq time during the measurement as
	// a fraction of all cores, IRQCPUUs the same per delivery, µs: mostly
	// the kernel's loopback TCP receive work. Under tick-based accounting
	// (no CONFIG_IRQ_TIME_ACCOUNTING) the part that interrupted a process
	// is also in that process's stime, so it overlaps the CPU figures.
	IRQBusy      float64 `json:"irq_busy"`
	IRQCPUUs     float64 `json:"irq_cpu_us_per_delivery"`
	PacedLateMax float64 `json:"paced_late_max_us,omitempty"`
	// Server RSS just before the measurement and its peak during it
	// (sampled every 50 ms), KiB.
	RSSBeforeKiB int64 `json:"rss_before_kib"`
	RSSPeakKiB   int64 `json:"rss_peak_kib"`

	lat []int64 // every latency, sorted, ns (for compare's plots)
}

func runFanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	n := fs.Int("n", 10000, "connections")
	topics := fs.Int("topics", 1, "connection i joins bench:<i % topics>; each message goes to every topic")
	msgs := fs.Int("msgs", 100, "messages broadcast to each topic")
	size := fs.Int("size", 64, "payload bytes of each message")
	burst := fs.Bool("burst", false, "broadcast every message at once")
	rate := fs.Float64("rate", 0, "paced: messages per second, open loop (latency counts from the scheduled send time)")
	warmup := fs.Int("warmup", 2, "unmeasured messages broadcast first")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	dialers := fs.Int("dialers", 64, "concurrent dials")
	quiet := fs.Duration("quiet", 0, "before measuring, wait up to this long for the machine to be ≥ 90% idle")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
	cpuProfile := fs.String("cpuprofile", "", "write the server's CPU profile of the measured broadcast to this file")
	compress := fs.Bool("compress", false, "permessage-deflate: the server negotiates it, the clients offer it (parley only)")
	text := fs.String("text", "", `payload text: "" pads with x, "chat" is words of a chat message`)
	slow := fs.Int("slow", 0, "extra connections that join and then stop reading (not counted in the results)")
	sf := addServerFlags(fs)
	_ = fs.Parse(args)
	if *burst == (*rate > 0) {
		return errors.New("fanout: choose one of -burst and -rate")
	}
	if *n < 1 || *topics < 1 || *msgs < 1 || *sources < 1 || *sources > 250 || *warmup < 0 {
		return errors.New("fanout: need -n, -topics, -msgs ≥ 1, -warmup ≥ 0, 1 ≤ -sources ≤ 250")
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()
	spec, cleanup, err := sf.resolve(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var extra []string
	if *compress {
		extra = append(extra, "-compress")
	}
	srv, err := startServer(ctx, spec, *timeout+time.Minute, extra...)
	if err != nil {
		return err
	}
	cfg := fleetConfig{URL: srv.url, Proto: srv.proto, N: *n, Topics: *topics, Sources: *sources, Dialers: *dialers, Expect: *msgs,
		Compress: *compress}
	res := fanoutResult{Mode: "burst", Server: srv.name, Slow: *slow, N: *n, Topics: *topics, Msgs: *msgs, Size: *size,
		Compress: *compress, Text: *text}
	if !*burst {
		res.Mode, res.Rate = "paced", *rate
	}
	f, err := dialFleet(ctx, cfg)
	if err == nil && *slow > 0 {
		err = f.addSlow(ctx, *slow)
	}
	if err == nil {
		err = fanoutRun(ctx, srv, f, &res, *warmup, *quiet, *cpuProfile)
	}
	if f != nil {
		f.close(context.Background())
	}
	if serr := srv.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return err
	}
	fmt.Printf("server: %s (%s protocol)", res.Server, srv.proto.name)
	if res.Slow > 0 {
		fmt.Printf(", %d slow connection(s) not reading", res.Slow)
	}
	fmt.Printf("\nserver RSS %d KiB before, peak %d KiB during the measurement\n", res.RSSBeforeKiB, res.RSSPeakKiB)
	fmt.Printf("fanout (%s): %d connections, %d topic(s), %d messages of %d B", res.Mode, res.N, res.Topics, res.Msgs, res.Size)
	if res.Mode == "paced" {
		fmt.Printf(" at %g msgs/s", res.Rate)
	}
	fmt.Printf("\ndelivered %d of %d in %.3f s: %.0f deliveries/s (per connection min %d max %d)\n",
		res.Delivered, res.Expected, res.Seconds, res.DeliveriesSec, res.MinPerConn, res.MaxPerConn)
	fmt.Printf("latency µs: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", res.P50, res.P90, res.P99, res.P999, res.Max)
	fmt.Printf("server CPU per delivery: %.3f µs (/proc stat), %.3f µs (getrusage); client CPU %.3f µs\n",
		res.ServerCPUUs, res.ServerRusageCPUUs, res.ClientCPUUs)
	fmt.Printf("server wrote %.1f bytes per delivery (compression %v, payload text %q)\n", res.WireBytes, res.Compress, res.Text)
	fmt.Printf("server: %.2f frames per write system call; machine irq+softirq %.3f µs per delivery (overlaps the above)\n",
		res.FramesPerWrite, res.IRQCPUUs)
	fmt.Printf("machine CPU not charged to server or client during the run: %.0f%% of all cores", 100*res.OtherBusy)
	if res.QuietBusy >= 0 {
		fmt.Printf(" (just before: %.0f%%)", 100*res.QuietBusy)
	}
	fmt.Println()
	if res.Mode == "paced" {
		fmt.Printf("worst lateness of a paced send: %.0f µs\n", res.PacedLateMax)
	}
	printResult(res)
	return nil
}

func fanoutRun(ctx context.Context, srv *serverProc, f *fleet, res *fanoutResult, warmup int, quiet time.Duration, cpuProfile string) error {
	q := url.Values{"size": {strconv.Itoa(res.Size)}}
	if res.Text != "" {
		q.Set("text", res.Text)
	}
	for i := range res.Topics {
		q.Add("topic", "bench:"+strconv.Itoa(i))
	}
	n := int64(f.cfg.N)
	f.reset()
	if warmup > 0 {
		wq := cloneValues(q)
		wq.Set("n", strconv.Itoa(warmup))
		wq.Set("event", "warm")
		if err := srv.call(ctx, http.MethodPost, "/bench/broadcast?"+wq.Encode(), nil); err != nil {
			return err
		}
		if !waitFor(ctx, 60*time.Second, func() bool { return f.warm.Load() >= n*int64(warmup) }) {
			return fmt.Errorf("fanout: warm-up: %d of %d delivered", f.warm.Load(), n*int64(warmup))
		}
	}
	res.QuietBusy = -1
	if quiet > 0 {
		res.QuietBusy = waitQuiet(ctx, quiet)
	}
	q.Set("n", strconv.Itoa(res.Msgs))
	if res.Rate > 0 {
		q.Set("rate", strconv.FormatFloat(res.Rate, 'g', -1, 64))
	}
	res.Expected = n * int64(res.Msgs)

	if cpuProfile != "" {
		if err := srv.call(ctx, http.MethodPost, "/bench/cpuprofile/start", nil); err != nil {
			return err
		}
	}
	rusage0, err := srv.stats(ctx)
	if err != nil {
		return err
	}
	writes0, _ := procWrites(srv.pid)
	wchar0, _ := procIOField(srv.pid, "wchar")
	cpu0, err1 := procCPU(srv.pid)
	busy0, irq0, total0, err2 := machineCPU()
	self0 := selfCPU()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	res.RSSBeforeKiB, _ = rssKiB(srv.pid)
	sampleStop, sampled := make(chan struct{}), make(chan int64, 1)
	go func() {
		peak := res.RSSBeforeKiB
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleStop:
				sampled <- peak
				return
			case <-t.C:
				if v, err := rssKiB(srv.pid); err == nil {
					peak = max(peak, v)
				}
			}
		}
	}()
	start := time.Now()
	var ans broadcastResult
	callErr := make(chan error, 1)
	go func() { callErr <- srv.call(ctx, http.MethodPost, "/bench/broadcast?"+q.Encode(), &ans) }()

	limit := 60 * time.Second
	if res.Rate > 0 {
		limit += time.Duration(float64(res.Msgs) / res.Rate * float64(time.Second))
	}
	complete := waitFor(ctx, limit, func() bool { return f.delivered.Load() >= res.Expected })
	close(sampleStop)
	res.RSSPeakKiB = <-sampled
	cpu1, err1 := procCPU(srv.pid)
	writes1, _ := procWrites(srv.pid)
	wchar1, _ := procIOField(srv.pid, "wchar")
	busy1, irq1, total1, err2 := machineCPU()
	self1 := selfCPU()
	if err := errors.Join(err1, err2, <-callErr); err != nil {
		return err
	}
	rusage1, err := srv.stats(ctx)
	if err != nil {
		return err
	}
	if cpuProfile != "" {
		if err := saveCPUProfile(ctx, srv, cpuProfile); err != nil {
			return err
		}
	}

	res.Delivered = f.delivered.Load()
	last := time.Unix(0, f.lastRecv.Load())
	res.Seconds = last.Sub(start).Seconds()
	if res.Seconds > 0 {
		res.DeliveriesSec = float64(res.Delivered) / res.Seconds
	}
	lat, minC, maxC := f.latencies()
	res.lat = lat
	res.MinPerConn, res.MaxPerConn = minC, maxC
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	res.P50, res.P90, res.P99 = us(percentile(lat, 50)), us(percentile(lat, 90)), us(percentile(lat, 99))
	res.P999, res.Max = us(percentile(lat, 99.9)), us(percentile(lat, 100))
	if d := float64(res.Delivered); d > 0 {
		res.ServerCPUUs = float64((cpu1 - cpu0).Microseconds()) / d
		res.ServerRusageCPUUs = float64(rusage1.CPUMicros-rusage0.CPUMicros) / d
		res.ClientCPUUs = float64((self1 - self0).Microseconds()) / d
		res.WireBytes = float64(wchar1-wchar0) / d
		if w := writes1 - writes0; w > 0 {
			res.FramesPerWrite = d / float64(w)
		}
	}
	if total1 > total0 {
		irq := irq1 - irq0
		other := (busy1 - busy0) - (cpu1 - cpu0) - (self1 - self0)
		res.OtherBusy = max(0, float64(other)/float64(total1-total0))
		res.IRQBusy = float64(irq) / float64(total1-total0)
		if res.Delivered > 0 {
			res.IRQCPUUs = float64(irq.Microseconds()) / float64(res.Delivered)
		}
	}
	res.PacedLateMax = us(ans.LateMaxNanos)
	if !complete {
		return fmt.Errorf("fanout: %d of %d delivered before the time limit", res.Delivered, res.Expected)
	}
	if minC != res.Msgs || maxC != res.Msgs {
		return fmt.Errorf("fanout: per-connection deliveries between %d and %d, want %d", minC, maxC, res.Msgs)
	}
	return f.err()
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func saveCPUProfile(ctx context.Context, srv *serverProc, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.url+"/bench/cpuprofile/stop", nil)
	if err != nil {
		return err
	}
	resp, err := srv.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpuprofile: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
