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
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/parley-go/parley/internal/demo"
)

func main() {
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
