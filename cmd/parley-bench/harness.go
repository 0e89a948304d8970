package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// serverProc is a running "parley-bench serve" child.
type serverProc struct {
	cmd   *exec.Cmd
	pid   int
	url   string // http://127.0.0.1:port
	proto *protocol
	name  string
	http  *http.Client
	done  chan struct{} // closed when the process has exited
}

// serverSpec names a server program: Parley (this executable's serve
// command) or a peer binary from bench/peers.
type serverSpec struct {
	Name string
	Exe  string
	Args []string
	// Addr is the listen address passed as -addr; default 127.0.0.1:0.
	Addr string
}

// parleySpec is this executable's serve command.
func parleySpec() (serverSpec, error) {
	exe, err := os.Executable()
	return serverSpec{Name: "parley", Exe: exe, Args: []string{"serve"}}, err
}

// startServer starts spec as a child process and waits for its
// PARLEY_LISTENING line, which names its client protocol ("proto=plain";
// none means Parley's phoenix). The child dies with this process
// (Pdeathsig) and after maxtime on its own.
func startServer(ctx context.Context, spec serverSpec, maxtime time.Duration, extra ...string) (*serverProc, error) {
	addr := spec.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := append(append(slices.Clone(spec.Args), "-addr", addr, "-maxtime", maxtime.String()), extra...)
	cmd := exec.Command(spec.Exe, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &serverProc{
		cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), name: spec.Name,
		http: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}},
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && strings.HasPrefix(sc.Text(), "PARLEY_LISTENING ") {
				found = true
				lines <- strings.TrimPrefix(sc.Text(), "PARLEY_LISTENING ")
				continue
			}
			fmt.Fprintln(os.Stderr, "serve:", sc.Text())
		}
		_ = cmd.Wait()
		close(s.done)
	}()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		s.url, s.proto = f[0], protocols["phoenix"]
		for _, kv := range f[1:] {
			if name, ok := strings.CutPrefix(kv, "proto="); ok {
				if s.proto = protocols[name]; s.proto == nil {
					s.kill()
					return nil, fmt.Errorf("server %s speaks unknown protocol %q", spec.Name, name)
				}
			}
		}
		return s, nil
	case <-s.done:
		return nil, errors.New("server exited before listening")
	case <-t.C:
	case <-ctx.Done():
	}
	s.kill()
	return nil, errors.New("server did not print PARLEY_LISTENING in time")
}

// stop sends SIGTERM and waits up to 25 s for a clean exit, then kills.
func (s *serverProc) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(25 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
		s.http.CloseIdleConnections()
		if st := s.cmd.ProcessState; st != nil && !st.Success() {
			return fmt.Errorf("server exited with %s", st)
		}
		return nil
	case <-t.C:
		s.kill()
		return errors.New("server did not exit within 25 s of SIGTERM; killed")
	}
}

func (s *serverProc) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
	s.http.CloseIdleConnections()
}

// call makes a control request and decodes a JSON answer into out (if
// not nil).
func (s *serverProc) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

func (s *serverProc) stats(ctx context.Context) (serverStats, error) {
	var st serverStats
	err := s.call(ctx, http.MethodGet, "/bench/stats", &st)
	return st, err
}

func (s *serverProc) gc(ctx context.Context) error {
	return s.call(ctx, http.MethodPost, "/bench/gc", nil)
}

// rssKiB reads VmRSS of pid in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// procCPU reads utime+stime of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU extracts utime+stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// machineCPU reads the machine's CPU time from /proc/stat: busy (all but
// idle and iowait), the irq+softirq part of it, and the total.
func machineCPU() (busy, irq, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	return parseMachineCPU(string(b))
}

func parseMachineCPU(stat string) (busy, irq, total time.Duration, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, 0, errors.New("malformed /proc/stat")
	}
	var idle, irqs, sum int64
	// user nice system idle iowait irq softirq steal (guest is in user).
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, 0, err
		}
		sum += v
		switch i {
		case 3, 4:
			idle += v
		case 5, 6:
			irqs += v
		}
	}
	tick := time.Second / clockTicks
	return time.Duration(sum-idle) * tick, time.Duration(irqs) * tick, time.Duration(sum) * tick, nil
}

// waitQuiet waits up to limit for one second in which the machine is at
// least 90% idle (this tool's own processes are idle at that point). It
// returns the busy fraction of the last second observed.
func waitQuiet(ctx context.Context, limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		b0, _, t0, err0 := machineCPU()
		if !sleepCtx(ctx, time.Second) {
			return -1
		}
		b1, _, t1, err1 := machineCPU()
		if err0 != nil || err1 != nil || t1 == t0 {
			return -1
		}
		busy := float64(b1-b0) / float64(t1-t0)
		if busy < 0.10 || time.Now().After(deadline) {
			return busy
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// runContext is the context of a client command: it ends on SIGINT or
// SIGTERM and after timeout.
func runContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() {
		cancel()
		stop()
	}
}

// printResult prints the machine-readable result line.
func printResult(v any) {
	b, _ := json.Marshal(v)
	fmt.Printf("PARLEY_BENCH_RESULT %s\n", b)
}

// procIOField reads one field of /proc/<pid>/io (wchar: bytes written).
func procIOField(pid int, name string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/io", name, pid)
}

// procWrites reads syscw of pid from /proc/<pid>/io: the number of
// write-family system calls (write, writev, …) the process made.
func procWrites(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "syscw:"); ok {
			return strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("no syscw in /proc/%d/io", pid)
}

// resolveServer turns a -server value into a spec: "parley" (this
// executable), a peer of bench/peers ("gorilla", "gws", "centrifuge",
// "raw", "raw-coalesced"), built into binDir with the go command from its
// own module under peersDir, or a path to a server binary (anything with a
// slash), run with no extra arguments. "jfynelive" serves only the
// LiveView scenario (command live).
func resolveServer(ctx context.Context, name, peersDir, binDir string) (serverSpec, error) {
	if name == "parley" || name == "" {
		return parleySpec()
	}
	if name == "parley-solo" {
		// Parley with every dashboard view rendering on its own.
		spec, err := parleySpec()
		spec.Name, spec.Args = name, append(spec.Args, "-fastlane=false")
		return spec, err
	}
	if strings.Contains(name, "/") {
		return serverSpec{Name: filepath.Base(name), Exe: name}, nil
	}
	module, args := name, []string(nil)
	switch name {
	case "gorilla", "gws", "centrifuge", "jfynelive":
	case "raw":
		module, args = "raw", []string{"-coalesce=false"}
	case "raw-coalesced":
		module, args = "raw", []string{"-coalesce=true"}
	default:
		return serverSpec{}, fmt.Errorf("unknown server %q (parley, parley-solo, gorilla, gws, centrifuge, jfynelive, raw, raw-coalesced or a path)", name)
	}
	exe, err := buildPeer(ctx, filepath.Join(peersDir, module), filepath.Join(binDir, "peer-"+module))
	return serverSpec{Name: name, Exe: exe, Args: args}, err
}

// buildPeer builds the peer module in dir into out (the go command's
// cache makes a rebuild cheap).
func buildPeer(ctx context.Context, dir, out string) (string, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build peer %s: %w\n%s", dir, err, b)
	}
	return abs, nil
}

// resolveServers resolves every named server, building the peers into
// binDir (a temporary directory, removed by cleanup, when empty).
func resolveServers(ctx context.Context, names []string, peersDir, binDir string) (specs map[string]serverSpec, cleanup func(), err error) {
	cleanup = func() {}
	if binDir == "" {
		tmp, err := os.MkdirTemp("", "parley-bench-peers-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		binDir = tmp
	}
	specs = map[string]serverSpec{}
	for _, name := range names {
		spec, err := resolveServer(ctx, name, peersDir, binDir)
		if err != nil {
			cleanup()
			return nil, func() {}, err
		}
		specs[name] = spec
	}
	return specs, cleanup, nil
}

// writeReport writes <out>/<base>.json (rep, indented) and <base>.md (md),
// and prints md.
func writeReport(out, base string, rep any, md string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		return err
	}
	jsPath, mdPath := filepath.Join(out, base+".json"), filepath.Join(out, base+".md")
	if err := errors.Join(os.WriteFile(jsPath, js, 0o644), os.WriteFile(mdPath, []byte(md), 0o644)); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Printf("wrote %s and %s\n", mdPath, jsPath)
	return nil
}
