// Command parley-demo serves every Parley demo app from one binary, with
// embedded defaults: in-process PubSub and SQLite files under -data.
//
//	parley-demo -addr 127.0.0.1:4000 -data ./data
//
// Cluster mode: -nats nats://host:port or -redis redis://host:port/db joins
// every node on that engine; -node names this node (unique); -reuseport lets
// several nodes on one machine listen on the same -addr.
//
//	parley-demo -nats nats://127.0.0.1:4222 -node a -reuseport -data ./data-a -secret-file ./secret
//	parley-demo -nats nats://127.0.0.1:4222 -node b -reuseport -data ./data-b -secret-file ./secret
//
// Secrets: every page's tokens are signed with a key derived from one
// secret key base. -secret-file names a file holding it (nodes of a
// cluster must share one); else PARLEY_SECRET_KEY_BASE; else the demo
// generates one into -data on its first start, so that a restart keeps
// open pages alive.
//
// Restock from outside the web pages (a non-web event, handled exactly as
// the inventory widget's button: every open page updates):
//
//	parley-demo restock [-server http://127.0.0.1:4000] SKU N
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-go/parley/examples/commerce"

	"github.com/parley-go/parley/internal/demo"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "restock" {
		if err := restock(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "parley-demo restock:", err)
			os.Exit(1)
		}
		return
	}
	addr := flag.String("addr", "127.0.0.1:4000", "listen address")
	data := flag.String("data", "data", "directory for the apps' SQLite files")
	nodeModules := flag.String("node-modules", "", "node_modules directory holding the phoenix client (default: found above the working directory)")
	natsURL := flag.String("nats", "", "NATS URL (nats://host:port): cluster mode over NATS")
	redisURL := flag.String("redis", "", "Redis URL (redis://host:port/db): cluster mode over Redis")
	node := flag.String("node", "", "this node's name in a cluster, unique (default <hostname>-<pid>)")
	namespace := flag.String("namespace", "", "subject/channel namespace on the engine (default parley-demo)")
	reusePort := flag.Bool("reuseport", false, "listen with SO_REUSEPORT so several nodes share -addr")
	presenceBroadcast := flag.Duration("presence-broadcast", 0, "presence gossip period (default 1.5s)")
	secretFile := flag.String("secret-file", "", "file holding the secret key base (one a line, the first signs); default $PARLEY_SECRET_KEY_BASE, else one generated into -data on first start. Cluster nodes must share it")
	presenceDown := flag.Duration("presence-down", 0, "silence after which a node's presences leave (default 30s)")
	var level slog.Level
	flag.TextVar(&level, "log-level", slog.LevelInfo, "least level logged: debug, info, warn or error")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := demo.New(demo.Config{
		DataDir: *data, NodeModules: *nodeModules, Logger: logger, SecretFile: *secretFile,
		NATS: *natsURL, Redis: *redisURL, Node: *node, Namespace: *namespace,
		PresenceBroadcast: *presenceBroadcast, PresenceDown: *presenceDown,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
	ln, err := demo.Listen(ctx, *addr, *reusePort)
	if err != nil {
		_ = d.Close()
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
	err = demo.ServeListener(ctx, ln, d, func(line string) {
		fmt.Println(line)
		logger.Info("parley-demo: open the apps at " + line[len("PARLEY_LISTENING "):])
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
}

// restock posts one restock to a running demo's commerce.RestockPath.
func restock(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("restock", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:4000", "the running demo's base URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: parley-demo restock [-server URL] SKU N")
	}
	n, err := strconv.Atoi(fs.Arg(1))
	if err != nil {
		return fmt.Errorf("N must be a whole number of units, not %q", fs.Arg(1))
	}
	body, err := json.Marshal(commerce.RestockRequest{SKU: fs.Arg(0), N: n})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*server, "/")+commerce.RestockPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the demo running at %s? %w", *server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s: %s", resp.Status, raw)
	}
	var r commerce.RestockResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("bad answer %q: %w", raw, err)
	}
	_, err = fmt.Fprintf(out, "%s: %d left, %d in carts\n", r.SKU, r.Available, r.Held)
	return err
}
