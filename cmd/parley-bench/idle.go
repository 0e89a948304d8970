package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// idleResult is the PARLEY_BENCH_RESULT of idle.
type idleResult struct {
	Mode        string  `json:"mode"`
	Server      string  `json:"server"`
	N           int     `json:"n"`
	Topics      int     `json:"topics"`
	ConnectSecs float64 `json:"connect_s"`
	// RSS of the server in KiB: at start (after /bench/gc), with the
	// connections before and after /bench/gc, and whether it held still.
	RSSBaseKiB    int64   `json:"rss_base_kib"`
	RSSNoGCKiB    int64   `json:"rss_nogc_kib"`
	RSSKiB        int64   `json:"rss_kib"`
	RSSStable     bool    `json:"rss_stable"`
	KiBPerConn    float64 `json:"kib_per_conn"`
	NoGCKiBPerCon float64 `json:"nogc_kib_per_conn"`
	// Go runtime figures per connection (deltas over the baseline).
	HeapPerConn    float64 `json:"heap_inuse_per_conn"`
	StackPerConn   float64 `json:"stack_inuse_per_conn"`
	ObjectsPerConn float64 `json:"heap_objects_per_conn"`
	GoroutinesBase int     `json:"goroutines_base"`
	Goroutines     int     `json:"goroutines"`
	Sockets        int64   `json:"sockets"`
}

func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	n := fs.Int("n", 10000, "connections")
	topics := fs.Int("topics", 1, "connection i joins bench:<i % topics>")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2 … 127.0.0.(1+sources)")
	dialers := fs.Int("dialers", 64, "concurrent dials")
	settle := fs.Duration("settle", 30*time.Second, "wait at most this long for the server RSS to hold still")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole run")
	profile := fs.String("profile", "", "write the server's heap and goroutine profiles into this directory")
	compress := fs.Bool("compress", false, "permessage-deflate negotiated on every connection (parley only)")
	memRate := fs.Int("memprofilerate", 0, "the server's runtime.MemProfileRate (with -profile, e.g. 1 for every allocation; inflates RSS)")
	sf := addServerFlags(fs)
	_ = fs.Parse(args)
	if *n < 1 || *topics < 1 || *sources < 1 || *sources > 250 {
		return errors.New("idle: need -n ≥ 1, -topics ≥ 1, 1 ≤ -sources ≤ 250")
	}
	ctx, cancel := runContext(*timeout)
	defer cancel()

	spec, cleanup, err := sf.resolve(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var extra []string
	if *memRate > 0 {
		extra = append(extra, "-memprofilerate", fmt.Sprint(*memRate))
	}
	if *compress {
		extra = append(extra, "-compress")
	}
	srv, err := startServer(ctx, spec, *timeout+time.Minute, extra...)
	if err != nil {
		return err
	}
	res, f, err := idleRun(ctx, srv, fleetConfig{URL: srv.url, Proto: srv.proto, N: *n, Topics: *topics, Sources: *sources, Dialers: *dialers,
		Compress: *compress}, *settle, *profile)
	if f != nil {
		f.close(context.Background())
	}
	if serr := srv.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return err
	}
	fmt.Printf("server: %s (%s protocol)\n", res.Server, srv.proto.name)
	fmt.Printf("idle: %d connections joined to %d topic(s) in %.1f s\n", res.N, res.Topics, res.ConnectSecs)
	fmt.Printf("server RSS: base %d KiB, with connections %d KiB (before GC %d KiB), stable=%v\n",
		res.RSSBaseKiB, res.RSSKiB, res.RSSNoGCKiB, res.RSSStable)
	fmt.Printf("RSS per idle joined connection: %.2f KiB (%.2f KiB before forced GC)\n", res.KiBPerConn, res.NoGCKiBPerCon)
	fmt.Printf("Go runtime per connection: heap in use %.0f B (%.1f objects), stacks in use %.0f B\n",
		res.HeapPerConn, res.ObjectsPerConn, res.StackPerConn)
	fmt.Printf("server goroutines: %d (base %d), sockets %d\n", res.Goroutines, res.GoroutinesBase, res.Sockets)
	printResult(res)
	return nil
}

// idleRun measures; the caller closes the fleet it returns (also on error)
// and stops the server.
func idleRun(ctx context.Context, srv *serverProc, cfg fleetConfig, settle time.Duration, profile string) (idleResult, *fleet, error) {
	res := idleResult{Mode: "idle", Server: srv.name, N: cfg.N, Topics: cfg.Topics}
	if err := srv.gc(ctx); err != nil {
		return res, nil, err
	}
	base, _ := stableRSS(ctx, srv.pid, 5*time.Second)
	baseStats, err := srv.stats(ctx)
	if err != nil {
		return res, nil, err
	}
	res.RSSBaseKiB, res.GoroutinesBase = base, baseStats.Goroutines

	start := time.Now()
	f, err := dialFleet(ctx, cfg)
	if err != nil {
		return res, nil, err
	}
	res.ConnectSecs = time.Since(start).Seconds()
	// Let the join goroutines end and the heap settle without forcing.
	if !sleepCtx(ctx, 2*time.Second) {
		return res, f, ctx.Err()
	}
	res.RSSNoGCKiB, _ = rssKiB(srv.pid)
	if err := srv.gc(ctx); err != nil {
		return res, f, err
	}
	res.RSSKiB, res.RSSStable = stableRSS(ctx, srv.pid, settle)
	st, err := srv.stats(ctx)
	if err != nil {
		return res, f, err
	}
	n := float64(cfg.N)
	res.KiBPerConn = float64(res.RSSKiB-base) / n
	res.NoGCKiBPerCon = float64(res.RSSNoGCKiB-base) / n
	res.HeapPerConn = (float64(st.HeapInuse) - float64(baseStats.HeapInuse)) / n
	res.StackPerConn = (float64(st.StackInuse) - float64(baseStats.StackInuse)) / n
	res.ObjectsPerConn = (float64(st.HeapObjects) - float64(baseStats.HeapObjects)) / n
	res.Goroutines, res.Sockets = st.Goroutines, st.Sockets
	if profile != "" {
		if err := saveProfiles(ctx, srv, profile); err != nil {
			return res, f, err
		}
	}
	if got := f.joined.Load(); got != int64(cfg.N) {
		return res, f, fmt.Errorf("idle: %d of %d joined", got, cfg.N)
	}
	return res, f, f.err()
}

// stableRSS polls VmRSS every 500 ms until three successive readings are
// within max(0.5%, 256 KiB) of each other, or limit passes.
func stableRSS(ctx context.Context, pid int, limit time.Duration) (int64, bool) {
	deadline := time.Now().Add(limit)
	prev, _ := rssKiB(pid)
	still := 0
	for {
		if time.Now().After(deadline) || !sleepCtx(ctx, 500*time.Millisecond) {
			return prev, false
		}
		cur, err := rssKiB(pid)
		if err != nil {
			return prev, false
		}
		if d := cur - prev; max(d, -d) <= max(cur/200, 256) {
			still++
		} else {
			still = 0
		}
		prev = cur
		if still >= 2 {
			return cur, true
		}
	}
}

// saveProfiles writes heap.pb.gz (after a GC), goroutine.pb.gz and
// goroutine.txt (stacks grouped) into dir.
func saveProfiles(ctx context.Context, srv *serverProc, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for file, path := range map[string]string{
		"heap.pb.gz":      "/bench/pprof/heap",
		"goroutine.pb.gz": "/bench/pprof/goroutine",
		"goroutine.txt":   "/bench/pprof/goroutine?debug=1",
		"heap.txt":        "/bench/pprof/heap?debug=1",
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.url+path, nil)
		if err != nil {
			return err
		}
		resp, err := srv.http.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// serverFlags are -server, -peers and -bindir, shared by the client
// commands.
type serverFlags struct {
	server, peers, binDir *string
}

func addServerFlags(fs *flag.FlagSet) serverFlags {
	return serverFlags{
		server: fs.String("server", "parley", "server to measure: parley, gorilla, gws, centrifuge, raw, raw-coalesced, or a path to a server binary"),
		peers:  fs.String("peers", "bench/peers", "directory of the peer modules (built with the go command)"),
		binDir: fs.String("bindir", "", "directory for built peer binaries (default: a temporary directory, removed afterwards)"),
	}
}

// resolve builds the named server if needed; cleanup removes a temporary
// binary directory.
func (sf serverFlags) resolve(ctx context.Context) (serverSpec, func(), error) {
	dir, cleanup := *sf.binDir, func() {}
	if dir == "" && *sf.server != "parley" && !strings.Contains(*sf.server, "/") {
		tmp, err := os.MkdirTemp("", "parley-bench-peers-")
		if err != nil {
			return serverSpec{}, cleanup, err
		}
		dir, cleanup = tmp, func() { _ = os.RemoveAll(tmp) }
	}
	spec, err := resolveServer(ctx, *sf.server, *sf.peers, dir)
	return spec, cleanup, err
}
