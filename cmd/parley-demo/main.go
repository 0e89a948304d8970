// Command parley-demo serves every Parley demo app from one binary, with
// embedded defaults: in-process PubSub and SQLite files under -data.
//
//	parley-demo -addr 127.0.0.1:4000 -data ./data
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
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := demo.New(demo.Config{DataDir: *data, NodeModules: *nodeModules, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
	err = demo.Serve(ctx, *addr, d, func(line string) {
		fmt.Println(line)
		logger.Info("parley-demo: open the apps at " + line[len("PARLEY_LISTENING "):])
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-demo:", err)
		os.Exit(1)
	}
}
