// Package apptest builds what the tests of the channel demo apps (lobby,
// party, draw) share: an in-process PubSub with a presence Tracker, and a
// channel.Server whose sockets carry the "username" connect param, as the
// demo's own socket does.
package apptest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
)

// Tracker returns an in-process PubSub and a presence Tracker on it. The
// Tracker is closed when the test ends (after cleanups registered later,
// such as the app's own).
func Tracker(t testing.TB) (*pubsub.PubSub, *presence.Tracker) {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tracker, err := presence.New(presence.Config{PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracker.Close(ctx)
	})
	return ps, tracker
}

// Server returns a channel.Server for r over ps whose sockets have the
// "username" connect param as their "username" assign.
func Server(t testing.TB, ps *pubsub.PubSub, r *channel.Router) *channel.Server {
	t.Helper()
	srv, err := channel.NewServer(channel.Config{Router: r, PubSub: ps, Logger: slog.New(slog.DiscardHandler),
		Connect: func(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
			return map[string]any{"username": info.Params.Get("username")}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
