package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// liveRunRecord is one server's live run in one repeat.
type liveRunRecord struct {
	Repeat int        `json:"repeat"`
	Result liveResult `json:"result"`
	Err    string     `json:"error,omitempty"`
}

// liveSummary is one server's medians over the repeats.
type liveSummary struct {
	Server          string  `json:"server"`
	Runs            int     `json:"runs"`
	BytesPerUpdate  float64 `json:"bytes_per_update"`
	FramesPerUpdate float64 `json:"frames_per_update"`
	P50             float64 `json:"p50_us"`
	P99             float64 `json:"p99_us"`
	AllMedian       float64 `json:"all_views_median_us"`
	AllMax          float64 `json:"all_views_max_us"`
	CPUPerUpdate    float64 `json:"server_cpu_us_per_update"`
	CPUPerView      float64 `json:"server_cpu_us_per_view_update"`
	KiBPerView      float64 `json:"kib_per_view"`
	ConnectSecs     float64 `json:"connect_s"`
	PageBytes       float64 `json:"page_bytes"`
	JoinBytes       float64 `json:"join_bytes"`
	SampleDiff      string  `json:"sample_diff"`
}

// liveReport is the JSON file livecompare writes.
type liveReport struct {
	Command   string          `json:"command"`
	Date      string          `json:"date"`
	Machine   string          `json:"machine"`
	LoadStart string          `json:"loadavg_start"`
	LoadEnd   string          `json:"loadavg_end"`
	Seconds   float64         `json:"seconds"`
	N         int             `json:"n"`
	Updates   int             `json:"updates"`
	Warmup    int             `json:"warmup"`
	Repeats   int             `json:"repeats"`
	Servers   []string        `json:"servers"`
	Runs      []liveRunRecord `json:"runs"`
	Summary   []liveSummary   `json:"summary"`
}

// runLiveCompare runs the live scenario for Parley and jfyne/live,
// interleaved A B A B …, and writes medians, ratios and the target as
// live.md and live.json.
func runLiveCompare(args []string) error {
	fs := flag.NewFlagSet("livecompare", flag.ExitOnError)
	n := fs.Int("n", 500, "connected views")
	updates := fs.Int("updates", 4, "measured updates per run")
	warmup := fs.Int("warmup", 1, "unmeasured updates first")
	repeats := fs.Int("repeats", 3, "repeats of the interleaved order")
	servers := fs.String("servers", "parley,jfynelive", "servers, measured interleaved in this order every repeat")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	quiet := fs.Duration("quiet", 0, "before measuring, wait up to this long for the machine to be ≥ 90% idle")
	timeout := fs.Duration("timeout", 3*time.Minute, "bound on the whole run")
	out := fs.String("out", "bench/results", "directory for live.md and live.json")
	sf := addServerFlags(fs)
	_ = fs.Parse(args)
	names := strings.Split(*servers, ",")
	if *n < 1 || *updates < 1 || *warmup < 0 || *repeats < 1 || *sources < 1 || *sources > 250 {
		return errors.New("livecompare: need -n, -updates, -repeats ≥ 1, -warmup ≥ 0, 1 ≤ -sources ≤ 250")
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()
	began := time.Now()
	rep := liveReport{
		Command: "parley-bench livecompare " + strings.Join(args, " "), Date: began.UTC().Format(time.RFC3339),
		Machine: machineInfo(), LoadStart: loadAvg(), N: *n, Updates: *updates, Warmup: *warmup, Repeats: *repeats, Servers: names,
	}
	specs, cleanup, err := resolveServers(ctx, names, *sf.peers, *sf.binDir)
	if err != nil {
		return err
	}
	defer cleanup()
	for r := range *repeats {
		for _, name := range names {
			res, err := liveOnce(ctx, specs[name], *n, *updates, *warmup, *sources, *quiet, *timeout, "")
			rec := liveRunRecord{Repeat: r + 1, Result: res}
			if err != nil {
				rec.Err = err.Error()
			}
			rec.Result.Server = name
			fmt.Fprintf(os.Stderr, "livecompare: repeat %d %-10s %.1f B/update, all views in %.1f ms (median), %.0f µs CPU/update %s\n",
				r+1, name, res.BytesPerUpdate, res.AllMedian/1e3, res.ServerCPUUsPerUpdate, rec.Err)
			rep.Runs = append(rep.Runs, rec)
			if ctx.Err() != nil {
				break
			}
		}
	}
	for _, name := range names {
		rep.Summary = append(rep.Summary, summarizeLive(name, rep.Runs))
	}
	rep.LoadEnd, rep.Seconds = loadAvg(), time.Since(began).Seconds()
	if err := writeReport(*out, "live", &rep, liveMarkdown(&rep)); err != nil {
		return err
	}
	var failed []string
	for _, r := range rep.Runs {
		if r.Err != "" {
			failed = append(failed, fmt.Sprintf("%s#%d: %s", r.Result.Server, r.Repeat, r.Err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("livecompare: %d failed runs: %s", len(failed), strings.Join(failed, "; "))
	}
	return ctx.Err()
}

// summarizeLive takes the medians of a server's successful runs.
func summarizeLive(name string, runs []liveRunRecord) liveSummary {
	s := liveSummary{Server: name}
	var b, fr, p50, p99, am, ax, cpu, cpv, kib, conn, page, join []float64
	for _, r := range runs {
		if r.Result.Server != name || r.Err != "" {
			continue
		}
		x := r.Result
		s.Runs++
		b, fr, p50, p99 = append(b, x.BytesPerUpdate), append(fr, x.FramesPerUpdate), append(p50, x.P50), append(p99, x.P99)
		am, ax, cpu, cpv = append(am, x.AllMedian), append(ax, x.AllMax), append(cpu, x.ServerCPUUsPerUpdate), append(cpv, x.ServerCPUUsPerView)
		kib, conn = append(kib, x.KiBPerView), append(conn, x.ConnectSecs)
		page, join = append(page, float64(x.PageBytes)), append(join, float64(x.JoinBytes))
		if s.SampleDiff == "" {
			s.SampleDiff = x.SampleDiff
		}
	}
	s.BytesPerUpdate, s.FramesPerUpdate, s.P50, s.P99 = median(b), median(fr), median(p50), median(p99)
	s.AllMedian, s.AllMax, s.CPUPerUpdate, s.CPUPerView = median(am), median(ax), median(cpu), median(cpv)
	s.KiBPerView, s.ConnectSecs, s.PageBytes, s.JoinBytes = median(kib), median(conn), median(page), median(join)
	return s
}

// frameParts splits a sample diff frame into the changes it carries and
// the envelope around them: for Parley the rendered-diff object of the
// Phoenix push [join_ref, ref, topic, "diff", {…}], for jfyne/live the
// patch list of {"t":"patch","d":[…]}.
func frameParts(frame string) (body, envelope int) {
	b := []byte(frame)
	var i, j int
	if bytes.HasPrefix(b, jfynePatch) {
		i, j = bytes.IndexByte(b, '['), bytes.LastIndexByte(b, ']')
	} else {
		i, j = bytes.IndexByte(b, '{'), bytes.LastIndexByte(b, '}')
	}
	if i < 0 || j < i {
		return len(b), 0
	}
	return j + 1 - i, len(b) - (j + 1 - i)
}

// liveMarkdown renders the report: medians, ratios, the target, every run.
func liveMarkdown(rep *liveReport) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# parley-bench livecompare\n\n")
	p("`%s`\n\n", rep.Command)
	p("- date %s, %.0f s; machine: %s\n", rep.Date, rep.Seconds, rep.Machine)
	p("- load average (1, 5, 15 min) at start %s, at end %s\n", rep.LoadStart, rep.LoadEnd)
	p("- %d connected dashboard views (50 rows + a header counter); per run %d warm-up and %d measured updates, each one broadcast that changes one row's counter and the header counter; %d repeats of the order %s; medians\n\n",
		rep.N, rep.Warmup, rep.Updates, rep.Repeats, strings.Join(rep.Servers, " → "))
	p("## Medians\n\n")
	p("| server | runs | bytes / view / update | frames / view / update | broadcast → every view (median update) ms | worst update ms | p50 view ms | p99 view ms | server CPU / update ms | server CPU / view-update µs | server KiB / view | page B | socket B before ready |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Summary {
		p("| %s | %d | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.0f |\n", s.Server, s.Runs, s.BytesPerUpdate, s.FramesPerUpdate,
			s.AllMedian/1e3, s.AllMax/1e3, s.P50/1e3, s.P99/1e3, s.CPUPerUpdate/1e3, s.CPUPerView, s.KiBPerView, s.PageBytes, s.JoinBytes)
	}
	p("\n## Diff frames of one update (first view, first measured update)\n\n")
	for _, s := range rep.Summary {
		if s.Runs == 0 {
			continue
		}
		body, env := frameParts(s.SampleDiff)
		p("- %s, %d B (%d B of changes, %d B of envelope): `%s`\n", s.Server, len(s.SampleDiff), body, env, s.SampleDiff)
	}
	var parley, peer *liveSummary
	for i := range rep.Summary {
		switch s := &rep.Summary[i]; {
		case s.Runs == 0:
		case s.Server == "parley":
			parley = s
		case peer == nil && !strings.HasPrefix(s.Server, "parley"):
			peer = s
		}
	}
	if parley == nil || peer == nil || peer.BytesPerUpdate == 0 {
		return b.String()
	}
	ratio := func(a, c float64) string {
		if c == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a/c)
	}
	p("\n## Parley / %s\n\n", peer.Server)
	p("| bytes / update | broadcast → every view | server CPU / update | server KiB / view |\n|---|---|---|---|\n")
	p("| %s | %s | %s | %s |\n", ratio(parley.BytesPerUpdate, peer.BytesPerUpdate), ratio(parley.AllMedian, peer.AllMedian),
		ratio(parley.CPUPerUpdate, peer.CPUPerUpdate), ratio(parley.KiBPerView, peer.KiBPerView))
	r := parley.BytesPerUpdate / peer.BytesPerUpdate
	status := "**not met**"
	if r <= 0.1 {
		status = "**met**"
	}
	p("\n## Target\n\n| target | measured | |\n|---|---|---|\n")
	p("| LiveView bytes per update ≤ 1/10 of %s for the same change | %.1f B vs %.1f B = %.3f× (1/10 would be %.1f B) | %s |\n",
		peer.Server, parley.BytesPerUpdate, peer.BytesPerUpdate, r, peer.BytesPerUpdate/10, status)
	p("\n## Every run\n\n| server | repeat | bytes / update | frames / update | every view ms (median, worst) | p99 ms | CPU / update ms | KiB / view | connect s | error |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		x := r.Result
		p("| %s | %d | %.1f | %.2f | %.1f, %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", x.Server, r.Repeat, x.BytesPerUpdate, x.FramesPerUpdate,
			x.AllMedian/1e3, x.AllMax/1e3, x.P99/1e3, x.ServerCPUUsPerUpdate/1e3, x.KiBPerView, x.ConnectSecs, strings.ReplaceAll(r.Err, "|", "/"))
	}
	return b.String()
}
