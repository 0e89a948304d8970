// Command e2eserver is the server the end-to-end tests (e2e/, run with node
// --test) drive: the demo apps plus the "test:*" channel, whose events
// exercise every channel feature. Not for production use.
//
//	e2eserver -addr 127.0.0.1:0
//
// It prints "PARLEY_LISTENING http://<addr>" once it listens, and shuts down
// gracefully on SIGTERM (WebSockets closed with 1012).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	data := flag.String("data", "", "data directory (default: a temporary one)")
	secretFile := flag.String("secret-file", "", "secret key base file (default: one generated into -data)")
	holdTTL := flag.Duration("hold-ttl", 4*time.Second, "commerce cart reservation time")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if *data == "" {
		dir, err := os.MkdirTemp("", "parley-e2e-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		*data = dir
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := demo.New(demo.Config{
		DataDir:    *data,
		SecretFile: *secretFile,
		HoldTTL:    *holdTTL,
		Logger:     logger,
		Routes: func(r *channel.Router) {
			r.Handle("test:*", func() channel.Channel { return &testChannel{} })
			// Missed-message recovery (e2e/recovery.test.mjs): the test
			// contract with a history, and one too short for 100 messages.
			r.Handle("recover:*", func() channel.Channel { return &testChannel{} }, channel.WithHistory(channel.History{Size: 500}))
			r.Handle("recover_short:*", func() channel.Channel { return &testChannel{} }, channel.WithHistory(channel.History{Size: 10}))
		},
		Connect: connect,
		Live:    registerViews,
		ID: func(a map[string]any) string {
			if id, _ := a["user_id"].(string); id != "" {
				return "users_socket:" + id
			}
			return ""
		},
	})
	if err != nil {
		fail(err)
	}
	if err := demo.Serve(ctx, *addr, d, func(line string) { fmt.Println(line) }); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "e2eserver:", err)
	os.Exit(1)
}

var errRefused = errors.New("token refused")

func connect(ctx context.Context, info *channel.ConnectInfo) (map[string]any, error) {
	if info.Params.Get("token") == "refuse" {
		return nil, errRefused
	}
	a, err := demo.Connect(ctx, info)
	if err != nil {
		return nil, err
	}
	a["auth_token"] = info.AuthToken
	return a, nil
}
