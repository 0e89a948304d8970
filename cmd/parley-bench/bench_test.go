package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// buildBench builds this command into a temporary directory (with flags,
// e.g. -race).
func buildBench(t *testing.T, flags ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := filepath.Join(t.TempDir(), "parley-bench")
	args := append(append([]string{"build"}, flags...), "-o", bin, ".")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBench runs the binary with args (bounded by 60 s) and decodes its
// PARLEY_BENCH_RESULT line into out.
func runBench(t *testing.T, bin string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("parley-bench %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	text := stdout.String()
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PARLEY_BENCH_RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), out); err != nil {
				t.Fatalf("result line %q: %v", rest, err)
			}
			t.Logf("parley-bench %s:\n%s", strings.Join(args, " "), text)
			return
		}
	}
	t.Fatalf("no PARLEY_BENCH_RESULT line in:\n%s\nstderr:\n%s", text, &stderr)
}

// TestSmoke runs idle and fanout (burst and paced) with tiny numbers
// through real processes: the client command, its serve child, loopback
// TCP from several source addresses.
func TestSmoke(t *testing.T) {
	bin := buildBench(t)
	t.Run("idle", func(t *testing.T) {
		var r idleResult
		runBench(t, bin, &r, "idle", "-n", "20", "-topics", "3", "-settle", "2s", "-timeout", "45s")
		if r.N != 20 || r.Sockets != 20 {
			t.Errorf("n %d, server sockets %d; want 20 and 20", r.N, r.Sockets)
		}
		if r.RSSBaseKiB <= 0 || r.RSSKiB <= 0 {
			t.Errorf("RSS base %d KiB, with connections %d KiB; want both positive", r.RSSBaseKiB, r.RSSKiB)
		}
		// Idle connections are parked on the transport's poller (Linux):
		// no goroutine of their own.
		if r.GoroutinesBase <= 0 || r.Goroutines < r.GoroutinesBase || (runtime.GOOS == "linux" && r.Goroutines >= r.GoroutinesBase+20) {
			t.Errorf("server goroutines %d with 20 idle connections, base %d: want more than 0 and no goroutine per connection",
				r.Goroutines, r.GoroutinesBase)
		}
	})
	for _, mode := range [][]string{{"-burst"}, {"-rate", "100"}} {
		t.Run("fanout"+mode[0], func(t *testing.T) {
			var r fanoutResult
			args := append([]string{"fanout", "-n", "20", "-topics", "2", "-msgs", "5", "-size", "100", "-timeout", "45s"}, mode...)
			runBench(t, bin, &r, args...)
			if r.Expected != 100 || r.Delivered != 100 || r.MinPerConn != 5 || r.MaxPerConn != 5 {
				t.Errorf("expected %d delivered %d, per connection %d..%d; want 100, 100, 5..5",
					r.Expected, r.Delivered, r.MinPerConn, r.MaxPerConn)
			}
			if r.P50 <= 0 || r.Max < r.P99 || r.P99 < r.P50 || r.DeliveriesSec <= 0 {
				t.Errorf("implausible latency or throughput: %+v", r)
			}
		})
	}
}

// TestCompareSmoke runs compare with tiny numbers: Parley, the gorilla
// peer and the coalescing raw writer (their modules are built with the go
// command; the proxy is needed only the first time), one repeat.
func TestCompareSmoke(t *testing.T) {
	bin := buildBench(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "compare", "-n", "20", "-servers", "parley,gorilla,raw-coalesced", "-repeats", "1",
		"-msgs", "3", "-paced-msgs", "2", "-rate", "20", "-memsizes", "10", "-settle", "1s",
		"-peers", "../../bench/peers", "-bindir", t.TempDir(), "-out", out, "-timeout", "80s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("compare: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "compare.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep compareReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Summary) != 3 {
		t.Fatalf("summary of %d servers, want 3", len(rep.Summary))
	}
	for _, s := range rep.Summary {
		if s.Runs != 1 || s.BurstDelivS <= 0 || s.PacedP99 <= 0 || s.SlowP99 <= 0 || s.KiBPerConn == 0 {
			t.Errorf("implausible summary: %+v", s)
		}
	}
	// Memory and burst throughput against connection count: 10 and 20.
	for _, name := range []string{"parley", "gorilla"} {
		pts := rep.Memory[name]
		if len(pts) != 2 || pts[0].N != 10 || pts[1].N != 20 {
			t.Fatalf("%s: points %+v, want n=10 and n=20", name, pts)
		}
		for _, pt := range pts {
			if pt.KiBPerConn == 0 || pt.BurstPerCoreS <= 0 || pt.BurstDelivS <= 0 {
				t.Errorf("%s: implausible point %+v", name, pt)
			}
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "compare.md"))
	if err != nil || !bytes.Contains(md, []byte("## Targets")) {
		t.Errorf("compare.md without targets (%v):\n%s", err, md)
	}
}

// TestLiveSmoke runs the LiveView scenario against Parley with a few
// views: every view must get exactly one diff frame per update, and the
// diff must carry the update's change. Under -race the tool itself is
// built with -race.
func TestLiveSmoke(t *testing.T) {
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	bin := buildBench(t, flags...)
	var r liveResult
	runBench(t, bin, &r, "live", "-n", "6", "-updates", "3", "-warmup", "2", "-sources", "3", "-timeout", "45s")
	if r.N != 6 || r.Updates != 3 || r.DiffFrames != 18 || r.FramesPerUpdate != 1 {
		t.Errorf("%d views, %d updates, %d diff frames (%.2f per view and update); want 6, 3, 18 (1)", r.N, r.Updates, r.DiffFrames, r.FramesPerUpdate)
	}
	if r.DiffBytes <= 0 || r.BytesPerUpdate != float64(r.DiffBytes)/18 || r.BytesPerUpdate > 200 {
		t.Errorf("diff bytes %d, %.1f per view and update; want a small positive count", r.DiffBytes, r.BytesPerUpdate)
	}
	// The first measured update is the third: row 7·3 mod 50 = 21 counts
	// 1000+37·21+1, the header shows 3.
	if !strings.Contains(r.SampleDiff, `"diff",{"0":"3",`) || !strings.Contains(r.SampleDiff, `"5":"1778"`) {
		t.Errorf("sample diff %s: want the header 3 and row 21's counter 1778", r.SampleDiff)
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.AllMedian <= 0 || r.AllMax < r.AllMedian {
		t.Errorf("implausible latencies: %+v", r)
	}
	if r.JoinBytes <= 0 || r.PageBytes <= 0 || r.ServerCPUUsPerUpdate <= 0 {
		t.Errorf("page %d B, join %d B, server CPU %.0f µs per update; want all positive", r.PageBytes, r.JoinBytes, r.ServerCPUUsPerUpdate)
	}
}

// TestLiveCompareSmoke runs livecompare with Parley (with and without the
// fastlane) and the jfyne/live peer (its module is built with the go
// command; the proxy is needed only the first time), a few views, one
// repeat: all must deliver the same change, and the report must hold the
// target row.
func TestLiveCompareSmoke(t *testing.T) {
	bin := buildBench(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "livecompare", "-n", "4", "-updates", "2", "-warmup", "1", "-repeats", "1",
		"-servers", "parley,parley-solo,jfynelive", "-peers", "../../bench/peers", "-bindir", t.TempDir(), "-out", out, "-timeout", "80s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("livecompare: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "live.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep liveReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Summary) != 3 {
		t.Fatalf("summary of %d servers, want 3", len(rep.Summary))
	}
	for _, s := range rep.Summary {
		if s.Runs != 1 || s.BytesPerUpdate <= 0 || s.FramesPerUpdate != 1 || s.AllMedian <= 0 {
			t.Errorf("implausible summary: %+v", s)
		}
		// Update 2: row 14 counts 1000+37·14+1.
		if !strings.Contains(s.SampleDiff, "1519") {
			t.Errorf("%s: sample diff %s without row 14's counter 1519", s.Server, s.SampleDiff)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "live.md"))
	if err != nil || !bytes.Contains(md, []byte("## Target")) || !bytes.Contains(md, []byte("LiveView bytes per update ≤ 1/10 of jfynelive")) {
		t.Errorf("live.md without the target (%v):\n%s", err, md)
	}
	t.Logf("%s", md)
}

func TestFrameParts(t *testing.T) {
	for _, c := range []struct {
		head, body, tail string
	}{
		{`["1",null,"lv:phx-x","diff",`, `{"0":"3","1":{"k":{"2":{"0":"x"},"kc":3}}}`, `]`},
		{`{"t":"patch","d":`, `[{"Anchor":"_l_1","Action":1,"HTML":"\u003cb\u003e"}]`, `}`},
		{``, `garbage`, ``},
	} {
		frame := c.head + c.body + c.tail
		env := len(c.head) + len(c.tail)
		if b, e := frameParts(frame); b != len(c.body) || e != env {
			t.Errorf("frameParts(%s) = %d, %d; want %d, %d", frame, b, e, len(c.body), env)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name holds a space and a parenthesis.
	stat := "4242 (my (bench) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 123 0 0"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3250*time.Millisecond {
		t.Fatalf("got %v, %v; want 3.25s", d, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("no error for garbage")
	}
}

func TestParseMachineCPU(t *testing.T) {
	busy, irq, total, err := parseMachineCPU("cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4\n")
	if err != nil || busy != 1600*time.Millisecond || irq != 50*time.Millisecond || total != 9800*time.Millisecond {
		t.Fatalf("got %v %v %v %v; want 1.6s busy (0.05s irq) of 9.8s", busy, irq, total, err)
	}
}

func TestPercentile(t *testing.T) {
	var v []int64
	for i := int64(1); i <= 1000; i++ {
		v = append(v, i)
	}
	for _, c := range []struct {
		p    float64
		want int64
	}{{50, 500}, {90, 900}, {99, 990}, {99.9, 999}, {100, 1000}, {0.01, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestBenchPayload(t *testing.T) {
	for _, size := range []int{0, 10, 32, 64, 1000} {
		p := benchPayload(nil, 1732421234123456789, size)
		var v struct {
			T int64  `json:"t"`
			P string `json:"p"`
		}
		if err := json.Unmarshal(p, &v); err != nil || v.T != 1732421234123456789 {
			t.Fatalf("size %d: %s: %v", size, p, err)
		}
		if want := max(size, 32); len(p) != want {
			t.Errorf("size %d: %d bytes, want %d", size, len(p), want)
		}
		frame := append([]byte(`[null,null,"bench:0","msg",`), p...)
		i := bytes.Index(frame, msgMarker)
		if got, ok := leadingInt(frame[i+len(msgMarker):]); !ok || got != v.T {
			t.Errorf("client parse: %d %v", got, ok)
		}
	}
}

// TestPresenceSmoke runs the presence churn scenario with tiny numbers:
// every watcher must see every churner join and leave, and end listing
// exactly the watchers.
func TestPresenceSmoke(t *testing.T) {
	bin := buildBench(t)
	var r presenceResult
	runBench(t, bin, &r, "presence", "-n", "20", "-churn", "5", "-rate", "50", "-hold", "100ms", "-timeout", "45s")
	if r.N != 20 || r.Churn != 5 || r.Expected != 2*5*20 || r.Delivered != r.Expected || r.Converged != 20 {
		t.Errorf("n %d churn %d, diffs %d of %d, converged %d; want 20, 5, 200 of 200, 20",
			r.N, r.Churn, r.Delivered, r.Expected, r.Converged)
	}
	if r.StateBytes <= 0 || r.JoinP50 <= 0 || r.JoinP99 < r.JoinP50 || r.LeaveP50 <= 0 || r.CPUUsPerChange <= 0 {
		t.Errorf("state %d B, join seen p50 %.0f p99 %.0f µs, leave seen p50 %.0f µs, CPU %.0f µs per change: want real numbers",
			r.StateBytes, r.JoinP50, r.JoinP99, r.LeaveP50, r.CPUUsPerChange)
	}
}

// TestClusterSmoke runs cluster with tiny numbers: an embedded NATS server
// and two serve nodes over it, two client workers of 50 connections each,
// three broadcasts through node 0 that must reach all 100 connections,
// half of them on the other node.
func TestClusterSmoke(t *testing.T) {
	bin := buildBench(t)
	var r clusterResult
	runBench(t, bin, &r, "cluster", "-nodes", "2", "-n", "100", "-per-worker", "50", "-msgs", "3", "-rate", "20",
		"-sources", "2", "-timeout", "45s")
	if r.Workers != 2 || r.Expected != 300 || r.Delivered != 300 || r.Missed != 0 || r.Duplicates != 0 || r.Unknown != 0 {
		t.Errorf("workers %d, expected %d, delivered %d, missed %d, duplicates %d, unknown %d; want 2, 300, 300, 0, 0, 0",
			r.Workers, r.Expected, r.Delivered, r.Missed, r.Duplicates, r.Unknown)
	}
	if len(r.PerNode) != 2 || r.PerNode[0].Sockets != 50 || r.PerNode[1].Sockets != 50 {
		t.Fatalf("per node %+v, want 50 sockets on each of 2 nodes", r.PerNode)
	}
	// Node 1 got the warm-up and the 3 measured broadcasts over NATS;
	// node 0 sent them and got none back (NoEcho).
	if r.PerNode[1].Received != 4 || r.PerNode[0].Received != 0 {
		t.Errorf("NATS messages received by node 0 %d, node 1 %d; want 0 and 4", r.PerNode[0].Received, r.PerNode[1].Received)
	}
	for i, nd := range r.PerNode {
		if nd.Latency.Deliveries != 150 || nd.Latency.P50 <= 0 {
			t.Errorf("node %d: latency over %d deliveries (p50 %v µs), want 150", i, nd.Latency.Deliveries, nd.Latency.P50)
		}
	}
	if len(r.Broadcasts) != 3 {
		t.Fatalf("%d broadcasts reported, want 3", len(r.Broadcasts))
	}
	for i, b := range r.Broadcasts {
		if b.Deliveries != 100 || b.Missed != 0 || b.P50 <= 0 || b.P99 < b.P50 || b.Max < b.P99 || b.Max > 10e6 {
			t.Errorf("broadcast %d: implausible %+v", i, b)
		}
	}
	if o := r.Overall; o.Deliveries != 300 || o.P50 <= 0 || o.Max < o.P99 || r.JoinsPerSec <= 0 {
		t.Errorf("implausible overall %+v, joins/s %v", o, r.JoinsPerSec)
	}
}
