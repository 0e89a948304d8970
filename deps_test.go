package parley_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection keeps imports pointing down the architecture
// (DESIGN.md): pure cores import only the standard library, transports never
// import the channel layer, adapters import pubsub only, nothing imports the
// root package or a command.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/parley-go/parley"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	external := map[string][]string{} // imports outside the module and the standard library
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		var own, ext []string
		for _, d := range fields[1:] {
			switch {
			case strings.HasPrefix(d, mod):
				own = append(own, strings.TrimPrefix(strings.TrimPrefix(d, mod), "/"))
			case strings.Contains(strings.SplitN(d, "/", 2)[0], "."):
				ext = append(ext, d)
			}
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		deps[pkg], external[pkg] = own, ext
	}
	// The packages on a request's path link nothing from outside the
	// standard library but the transport's system calls (DEPENDENCIES.md).
	for _, pkg := range []string{"wire", "metrics", "transport", "transport/websocket", "transport/longpoll", "channel",
		"pubsub", "presence", "presence/crdt", "live", "live/diff", "live/render", "live/stream", "live/js"} {
		for _, d := range external[pkg] {
			if d != "golang.org/x/sys/unix" || pkg != "transport/websocket" {
				t.Errorf("%s imports %s, outside the standard library", pkg, d)
			}
		}
	}
	forbidden := map[string][]string{
		"wire":                {"*"},
		"metrics":             {"*"},
		"live/diff":           {"*"},
		"live/js":             {"*"},
		"presence/crdt":       {"*"},
		"transport":           {"channel", "pubsub", "presence", "live"},
		"transport/websocket": {"channel", "pubsub", "presence", "live"},
		"transport/longpoll":  {"channel", "pubsub", "presence", "live"},
		"pubsub":              {"channel", "transport", "presence", "live"},
		"presence":            {"channel", "transport", "live"},
		"channel":             {"transport", "live", "presence"},
		"pubsub/natspubsub":   {"channel", "transport", "presence", "live", "metrics"},
		"pubsub/redispubsub":  {"channel", "transport", "presence", "live", "metrics"},
	}
	for pkg, own := range deps {
		for _, d := range own {
			if strings.HasPrefix(d, "cmd/") {
				t.Errorf("%s imports the command %s", pkg, d)
			}
			if d == "" && !strings.HasPrefix(pkg, "cmd/") && !strings.HasPrefix(pkg, "internal/") {
				t.Errorf("%s imports the root package: only commands and internal wiring may", pkg)
			}
			for _, f := range forbidden[pkg] {
				if (f == "*" && !strings.HasPrefix(d, "internal/")) || d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s must not import %s", pkg, d)
				}
			}
		}
	}
	for _, pkg := range []string{"wire", "channel", "pubsub", "transport/websocket"} {
		if _, ok := deps[pkg]; !ok {
			t.Errorf("package %s not listed by go list", pkg)
		}
	}
}
