package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// compareRun is one server's measurements in one repeat: idle memory,
// a burst fan-out, a paced fan-out, and the same paced fan-out with slow
// connections that stop reading, all on one server process and one fleet.
type compareRun struct {
	Server    string       `json:"server"`
	Repeat    int          `json:"repeat"`
	Idle      idleResult   `json:"idle"`
	Burst     fanoutResult `json:"burst"`
	Paced     fanoutResult `json:"paced"`
	PacedSlow fanoutResult `json:"paced_slow"`
	Err       string       `json:"error,omitempty"`
}

// compareSummary is one server's medians over the repeats.
type compareSummary struct {
	Server        string  `json:"server"`
	Runs          int     `json:"runs"`
	KiBPerConn    float64 `json:"kib_per_conn"`
	BurstDelivS   float64 `json:"burst_deliveries_per_s"`
	BurstCPUUs    float64 `json:"burst_server_cpu_us_per_delivery"`
	BurstPerCoreS float64 `json:"burst_deliveries_per_server_cpu_s"`
	BurstFPW      float64 `json:"burst_frames_per_write"`
	BurstP99      float64 `json:"burst_p99_us"`
	PacedP50      float64 `json:"paced_p50_us"`
	PacedP99      float64 `json:"paced_p99_us"`
	PacedCPUUs    float64 `json:"paced_server_cpu_us_per_delivery"`
	SlowP99       float64 `json:"paced_slow_p99_us"`
	SlowRSSGrowth float64 `json:"paced_slow_rss_growth_kib"`
	OtherBusy     float64 `json:"other_busy"`
}

// memPoint is server RSS per idle connection at one connection count.
type memPoint struct {
	N          int     `json:"n"`
	KiBPerConn float64 `json:"kib_per_conn"`
	// The burst fan-out at N connections (one run; the repeats' median at
	// -n): deliveries per second and per server CPU-second.
	BurstDelivS   float64 `json:"burst_deliveries_per_s,omitempty"`
	BurstPerCoreS float64 `json:"burst_deliveries_per_server_cpu_s,omitempty"`
}

// compareReport is the JSON file compare writes.
type compareReport struct {
	Command   string                        `json:"command"`
	Date      string                        `json:"date"`
	Machine   string                        `json:"machine"`
	LoadStart string                        `json:"loadavg_start"`
	LoadEnd   string                        `json:"loadavg_end"`
	Seconds   float64                       `json:"seconds"`
	N         int                           `json:"n"`
	Servers   []string                      `json:"servers"`
	Runs      []compareRun                  `json:"runs"`
	Summary   []compareSummary              `json:"summary"`
	Memory    map[string][]memPoint         `json:"memory"`
	Latency   map[string]map[string][]int64 `json:"latency_quantiles_ns"` // server → burst|paced|paced_slow → p0.5 … p100
}

func runCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	n := fs.Int("n", 10000, "connections")
	servers := fs.String("servers", "parley,gorilla,gws,centrifuge,raw,raw-coalesced", "servers, measured interleaved in this order every repeat")
	repeats := fs.Int("repeats", 3, "repeats of the interleaved order")
	msgs := fs.Int("msgs", 20, "burst: messages")
	size := fs.Int("size", 64, "payload bytes")
	rate := fs.Float64("rate", 5, "paced: messages per second")
	pacedMsgs := fs.Int("paced-msgs", 8, "paced: messages")
	slow := fs.Int("slow", 1, "connections that stop reading in the slow-consumer run")
	memSizes := fs.String("memsizes", "1000,5000", "extra connection counts for idle memory and one burst fan-out (parley, gorilla, gws, centrifuge), comma-separated; empty for none")
	settle := fs.Duration("settle", 10*time.Second, "idle: wait at most this long for RSS to hold still")
	quiet := fs.Duration("quiet", 0, "before each fan-out, wait up to this long for the machine to be ≥ 90% idle")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	timeout := fs.Duration("timeout", 9*time.Minute, "bound on the whole run")
	out := fs.String("out", "bench/results", "directory for compare.md and compare.json")
	sf := addServerFlags(fs)
	_ = fs.Parse(args)
	names := strings.Split(*servers, ",")
	if *n < 1 || *repeats < 1 || *msgs < 1 || *pacedMsgs < 1 || *rate <= 0 || len(names) == 0 {
		return errors.New("compare: need -n, -repeats, -msgs, -paced-msgs ≥ 1, -rate > 0, -servers")
	}
	var sizes []int
	for s := range strings.SplitSeq(*memSizes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 {
				return fmt.Errorf("compare: bad -memsizes entry %q", s)
			}
			sizes = append(sizes, v)
		}
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()
	began := time.Now()
	rep := compareReport{
		Command: "parley-bench compare " + strings.Join(args, " "), Date: began.UTC().Format(time.RFC3339),
		Machine: machineInfo(), LoadStart: loadAvg(), N: *n, Servers: names,
		Memory: map[string][]memPoint{}, Latency: map[string]map[string][]int64{},
	}

	// Build every peer first.
	specs, cleanup, err := resolveServers(ctx, names, *sf.peers, *sf.binDir)
	if err != nil {
		return err
	}
	defer cleanup()

	lats := map[string]map[string][]int64{}
	for r := range *repeats {
		for _, name := range names {
			run := compareOne(ctx, specs[name], r+1, *n, *sources, *msgs, *pacedMsgs, *size, *rate, *slow, *settle, *quiet)
			fmt.Fprintf(os.Stderr, "compare: repeat %d %-14s idle %.2f KiB/conn; burst %.0f/s %.2f µs/delivery %.1f frames/write; paced p99 %.1f ms, with slow %.1f ms %s\n",
				r+1, name, run.Idle.KiBPerConn, run.Burst.DeliveriesSec, run.Burst.ServerRusageCPUUs, run.Burst.FramesPerWrite,
				run.Paced.P99/1e3, run.PacedSlow.P99/1e3, run.Err)
			if lats[name] == nil {
				lats[name] = map[string][]int64{}
			}
			lats[name]["burst"] = append(lats[name]["burst"], run.Burst.lat...)
			lats[name]["paced"] = append(lats[name]["paced"], run.Paced.lat...)
			lats[name]["paced_slow"] = append(lats[name]["paced_slow"], run.PacedSlow.lat...)
			rep.Runs = append(rep.Runs, run)
			if ctx.Err() != nil {
				break
			}
		}
	}
	for _, name := range names {
		rep.Summary = append(rep.Summary, summarize(name, rep.Runs))
		rep.Latency[name] = map[string][]int64{}
		for kind, l := range lats[name] {
			slices.Sort(l)
			q := make([]int64, 0, 200)
			for i := 1; i <= 200; i++ {
				q = append(q, percentile(l, float64(i)/2))
			}
			if len(l) > 0 {
				rep.Latency[name][kind] = q
			}
		}
	}
	// Memory against connection count: the extra sizes, then N from the
	// repeats' median.
	for _, count := range sizes {
		for _, name := range names {
			if strings.HasPrefix(name, "raw") || ctx.Err() != nil {
				continue
			}
			pt, err := sizeRun(ctx, specs[name], count, *sources, *msgs, *size, *settle, *quiet)
			if err != nil {
				fmt.Fprintf(os.Stderr, "compare: idle and burst %s n=%d: %v\n", name, count, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "compare: idle %-14s n=%d %.2f KiB/conn; burst %.0f deliveries per server CPU-s\n",
				name, count, pt.KiBPerConn, pt.BurstPerCoreS)
			rep.Memory[name] = append(rep.Memory[name], pt)
		}
	}
	for _, s := range rep.Summary {
		if !strings.HasPrefix(s.Server, "raw") && s.Runs > 0 {
			rep.Memory[s.Server] = append(rep.Memory[s.Server], memPoint{
				N: *n, KiBPerConn: s.KiBPerConn, BurstDelivS: s.BurstDelivS, BurstPerCoreS: s.BurstPerCoreS,
			})
		}
	}
	rep.LoadEnd, rep.Seconds = loadAvg(), time.Since(began).Seconds()

	if err := writeReport(*out, "compare", &rep, compareMarkdown(&rep, *repeats, *msgs, *pacedMsgs, *size, *rate, *slow)); err != nil {
		return err
	}
	var failed []string
	for _, r := range rep.Runs {
		if r.Err != "" {
			failed = append(failed, fmt.Sprintf("%s#%d: %s", r.Server, r.Repeat, r.Err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("compare: %d failed runs: %s", len(failed), strings.Join(failed, "; "))
	}
	return ctx.Err()
}

// compareOne measures one server once; errors are recorded in the run.
func compareOne(ctx context.Context, spec serverSpec, repeat, n, sources, msgs, pacedMsgs, size int, rate float64, slow int, settle, quiet time.Duration) compareRun {
	run := compareRun{Server: spec.Name, Repeat: repeat}
	srv, err := startServer(ctx, spec, 5*time.Minute)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	cfg := fleetConfig{URL: srv.url, Proto: srv.proto, N: n, Topics: 1, Sources: sources, Dialers: 64, Expect: max(msgs, pacedMsgs)}
	idle, f, err := idleRun(ctx, srv, cfg, settle, "")
	run.Idle = idle
	if err == nil {
		run.Burst = fanoutResult{Mode: "burst", Server: spec.Name, N: n, Topics: 1, Msgs: msgs, Size: size}
		err = fanoutRun(ctx, srv, f, &run.Burst, 2, quiet, "")
	}
	if err == nil {
		run.Paced = fanoutResult{Mode: "paced", Server: spec.Name, N: n, Topics: 1, Msgs: pacedMsgs, Size: size, Rate: rate}
		err = fanoutRun(ctx, srv, f, &run.Paced, 0, quiet, "")
	}
	if err == nil && slow > 0 {
		if err = f.addSlow(ctx, slow); err == nil {
			run.PacedSlow = fanoutResult{Mode: "paced", Server: spec.Name, Slow: slow, N: n, Topics: 1, Msgs: pacedMsgs, Size: size, Rate: rate}
			err = fanoutRun(ctx, srv, f, &run.PacedSlow, 0, quiet, "")
		}
	}
	if f != nil {
		f.close(context.Background())
	}
	if serr := srv.stop(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		run.Err = err.Error()
	}
	return run
}

// sizeRun measures RSS per idle joined connection at n connections, then
// one burst fan-out of msgs messages over them.
func sizeRun(ctx context.Context, spec serverSpec, n, sources, msgs, size int, settle, quiet time.Duration) (memPoint, error) {
	pt := memPoint{N: n}
	srv, err := startServer(ctx, spec, 5*time.Minute)
	if err != nil {
		return pt, err
	}
	res, f, err := idleRun(ctx, srv, fleetConfig{URL: srv.url, Proto: srv.proto, N: n, Topics: 1, Sources: sources, Dialers: 64, Expect: msgs}, settle, "")
	pt.KiBPerConn = res.KiBPerConn
	if err == nil {
		burst := fanoutResult{Mode: "burst", Server: spec.Name, N: n, Topics: 1, Msgs: msgs, Size: size}
		if err = fanoutRun(ctx, srv, f, &burst, 2, quiet, ""); err == nil {
			pt.BurstDelivS = burst.DeliveriesSec
			if burst.ServerRusageCPUUs > 0 {
				pt.BurstPerCoreS = 1e6 / burst.ServerRusageCPUUs
			}
		}
	}
	if f != nil {
		f.close(context.Background())
	}
	if serr := srv.stop(); serr != nil && err == nil {
		err = serr
	}
	return pt, err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize takes the medians of a server's successful runs.
func summarize(name string, runs []compareRun) compareSummary {
	s := compareSummary{Server: name}
	var kib, ds, cpu, pc, fpw, bp99, p50, p99, pcpu, sp99, grow, other []float64
	for _, r := range runs {
		if r.Server != name || r.Err != "" {
			continue
		}
		s.Runs++
		kib = append(kib, r.Idle.KiBPerConn)
		ds = append(ds, r.Burst.DeliveriesSec)
		cpu = append(cpu, r.Burst.ServerRusageCPUUs)
		if r.Burst.ServerRusageCPUUs > 0 {
			pc = append(pc, 1e6/r.Burst.ServerRusageCPUUs)
		}
		fpw = append(fpw, r.Burst.FramesPerWrite)
		bp99 = append(bp99, r.Burst.P99)
		p50 = append(p50, r.Paced.P50)
		p99 = append(p99, r.Paced.P99)
		pcpu = append(pcpu, r.Paced.ServerRusageCPUUs)
		sp99 = append(sp99, r.PacedSlow.P99)
		grow = append(grow, float64(r.PacedSlow.RSSPeakKiB-r.PacedSlow.RSSBeforeKiB))
		other = append(other, r.Burst.OtherBusy, r.Paced.OtherBusy, r.PacedSlow.OtherBusy)
	}
	s.KiBPerConn, s.BurstDelivS, s.BurstCPUUs, s.BurstPerCoreS = median(kib), median(ds), median(cpu), median(pc)
	s.BurstFPW, s.BurstP99, s.PacedP50, s.PacedP99 = median(fpw), median(bp99), median(p50), median(p99)
	s.PacedCPUUs, s.SlowP99, s.SlowRSSGrowth, s.OtherBusy = median(pcpu), median(sp99), median(grow), median(other)
	return s
}

// compareMarkdown renders the report: medians, ratios, targets, memory
// against connection count and every run.
func compareMarkdown(rep *compareReport, repeats, msgs, pacedMsgs, size int, rate float64, slow int) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# parley-bench compare\n\n")
	p("`%s`\n\n", rep.Command)
	p("- date %s, %.0f s; machine: %s\n", rep.Date, rep.Seconds, rep.Machine)
	p("- load average (1, 5, 15 min) at start %s, at end %s\n", rep.LoadStart, rep.LoadEnd)
	p("- %d connections, 1 topic; %d repeats of the order %s; medians\n", rep.N, repeats, strings.Join(rep.Servers, " → "))
	p("- burst: %d × %d-byte messages back to back; paced: %d messages at %g/s, open loop; slow: the paced run again with %d extra connection(s) that stop reading\n\n", msgs, size, pacedMsgs, rate, slow)
	p("## Medians\n\n")
	p("| server | runs | KiB / idle conn | burst deliveries/s | server CPU µs / delivery (burst) | deliveries per server CPU-s | frames / write | burst p99 ms | paced p50 ms | paced p99 ms | paced CPU µs / delivery | paced p99 with slow ms | RSS growth with slow KiB | other busy |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Summary {
		p("| %s | %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.1f | %.1f | %.1f | %.2f | %.1f | %.0f | %.0f %% |\n",
			s.Server, s.Runs, s.KiBPerConn, s.BurstDelivS, s.BurstCPUUs, s.BurstPerCoreS, s.BurstFPW, s.BurstP99/1e3,
			s.PacedP50/1e3, s.PacedP99/1e3, s.PacedCPUUs, s.SlowP99/1e3, s.SlowRSSGrowth, 100*s.OtherBusy)
	}
	var parley *compareSummary
	for i := range rep.Summary {
		if rep.Summary[i].Server == "parley" && rep.Summary[i].Runs > 0 {
			parley = &rep.Summary[i]
		}
	}
	if parley == nil {
		return b.String()
	}
	ratio := func(a, c float64) string {
		if c == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a/c)
	}
	p("\n## Parley / peer\n\n")
	p("| peer | KiB / idle conn | burst deliveries/s | deliveries per server CPU-s | server CPU µs / delivery | paced p99 |\n|---|---|---|---|---|---|\n")
	for _, s := range rep.Summary {
		if s.Server == "parley" || s.Runs == 0 {
			continue
		}
		p("| %s | %s | %s | %s | %s | %s |\n", s.Server, ratio(parley.KiBPerConn, s.KiBPerConn), ratio(parley.BurstDelivS, s.BurstDelivS),
			ratio(parley.BurstPerCoreS, s.BurstPerCoreS), ratio(parley.BurstCPUUs, s.BurstCPUUs), ratio(parley.PacedP99, s.PacedP99))
	}
	get := func(name string) *compareSummary {
		for i := range rep.Summary {
			if rep.Summary[i].Server == name && rep.Summary[i].Runs > 0 {
				return &rep.Summary[i]
			}
		}
		return nil
	}
	met := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**not met**"
	}
	p("\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	p("| RSS per idle joined connection ≤ 8 KiB | %.2f KiB | %s |\n", parley.KiBPerConn, met(parley.KiBPerConn <= 8))
	if g := get("gws"); g != nil {
		p("| … and ≤ 0.6× gws | %.2f× (gws %.2f KiB) | %s |\n", parley.KiBPerConn/g.KiBPerConn, g.KiBPerConn, met(parley.KiBPerConn <= 0.6*g.KiBPerConn))
		p("| burst deliveries per server CPU-s ≥ 3× gws | %.2f× | %s |\n", parley.BurstPerCoreS/g.BurstPerCoreS, met(parley.BurstPerCoreS >= 3*g.BurstPerCoreS))
	}
	if g := get("gorilla"); g != nil {
		p("| burst deliveries per server CPU-s ≥ 4× gorilla hub | %.2f× | %s |\n", parley.BurstPerCoreS/g.BurstPerCoreS, met(parley.BurstPerCoreS >= 4*g.BurstPerCoreS))
	}
	p("| server CPU per delivery ≤ 2 µs (burst) | %.2f µs (paced: %.2f µs) | %s |\n", parley.BurstCPUUs, parley.PacedCPUUs, met(parley.BurstCPUUs <= 2))
	best := ""
	bestP99 := 0.0
	for _, s := range rep.Summary {
		if s.Server != "parley" && !strings.HasPrefix(s.Server, "raw") && s.Runs > 0 && (best == "" || s.PacedP99 < bestP99) {
			best, bestP99 = s.Server, s.PacedP99
		}
	}
	if best != "" {
		p("| paced p99 ≤ 0.8× best peer | %.1f ms vs %s %.1f ms = %.2f× | %s |\n", parley.PacedP99/1e3, best, bestP99/1e3, parley.PacedP99/bestP99, met(parley.PacedP99 <= 0.8*bestP99))
	}
	if parley.SlowP99 > 0 {
		p("| slow consumer: others' paced p99 within 10%% of without | %.1f ms vs %.1f ms = %.2f× | %s |\n", parley.SlowP99/1e3, parley.PacedP99/1e3, parley.SlowP99/parley.PacedP99, met(parley.SlowP99 <= 1.1*parley.PacedP99))
		p("| slow consumer: server RSS bounded | grew %.0f KiB during the slow run | see note |\n", parley.SlowRSSGrowth)
	}
	if len(rep.Memory) > 0 {
		var ns []int
		for _, pts := range rep.Memory {
			for _, pt := range pts {
				if !slices.Contains(ns, pt.N) {
					ns = append(ns, pt.N)
				}
			}
		}
		slices.Sort(ns)
		table := func(title string, cell func(memPoint) string) {
			p("\n## %s\n\n| server |", title)
			for _, n := range ns {
				p(" %d |", n)
			}
			p("\n|---|%s\n", strings.Repeat("---|", len(ns)))
			for _, name := range rep.Servers {
				pts, ok := rep.Memory[name]
				if !ok {
					continue
				}
				p("| %s |", name)
				for _, n := range ns {
					i := slices.IndexFunc(pts, func(pt memPoint) bool { return pt.N == n })
					if i < 0 {
						p(" – |")
					} else {
						p(" %s |", cell(pts[i]))
					}
				}
				p("\n")
			}
		}
		table("RSS per idle joined connection (KiB) against connection count", func(pt memPoint) string {
			return fmt.Sprintf("%.2f", pt.KiBPerConn)
		})
		table("Burst deliveries per server CPU-second against connection count (one run each; at -n the median)", func(pt memPoint) string {
			return fmt.Sprintf("%.0f", pt.BurstPerCoreS)
		})
	}
	p("\n## Every run\n\n| server | repeat | KiB/conn | burst deliveries/s | burst CPU µs | frames/write | burst p99 ms | paced p99 ms | slow p99 ms | slow RSS KiB before → peak | other busy (burst) | error |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		p("| %s | %d | %.2f | %.0f | %.2f | %.2f | %.1f | %.1f | %.1f | %d → %d | %.0f %% | %s |\n", r.Server, r.Repeat, r.Idle.KiBPerConn,
			r.Burst.DeliveriesSec, r.Burst.ServerRusageCPUUs, r.Burst.FramesPerWrite, r.Burst.P99/1e3, r.Paced.P99/1e3, r.PacedSlow.P99/1e3,
			r.PacedSlow.RSSBeforeKiB, r.PacedSlow.RSSPeakKiB, 100*r.Burst.OtherBusy, strings.ReplaceAll(r.Err, "|", "/"))
	}
	return b.String()
}

// machineInfo describes the machine: cores, CPU model, kernel, Go.
func machineInfo() string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s %s/%s", runtime.NumCPU(), model, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadAvg returns the three load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
