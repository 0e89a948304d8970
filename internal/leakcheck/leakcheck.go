// Package leakcheck fails a test binary that leaves goroutines behind.
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then waits up to five seconds for every goroutine
// the tests started to end. If some remain, it prints their stacks and
// exits non-zero.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := Wait(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Wait polls until only the runtime's and the test framework's goroutines
// are left, or timeout; it returns the stacks of the others, or "".
func Wait(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := interesting()
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			sort.Strings(leaked)
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func interesting() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if g == "" || ignored(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

func ignored(stack string) bool {
	if strings.Contains(stack, "leakcheck.interesting") {
		return true // ourselves
	}
	if strings.Contains(stack, "testing.(*M).Run(") {
		return true // the test binary's main goroutine, running the tests
	}
	for _, s := range []string{
		"testing.(*M).",
		"testing.tRunner",
		"testing.runFuzzing",
		"testing.(*F).",
		"runtime.goexit0",
		"os/signal.signal_recv",
		"created by runtime.gc",
		"runtime.ensureSigM",
		"signal.loop",
		"net/http.(*persistConn)", // idle keep-alive clients of the standard library
	} {
		if strings.Contains(stack, s) && !strings.Contains(stack, "parley-go/parley/") {
			return true
		}
	}
	return strings.HasPrefix(stack, "goroutine ") && strings.Contains(stack, "runtime.main(")
}
