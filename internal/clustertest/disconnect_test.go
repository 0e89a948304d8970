package clustertest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
	"github.com/parley-go/parley/pubsub/redispubsub"
)

type nop struct{}

func (nop) Join(*channel.Context, json.RawMessage) (any, error) { return nil, nil }
func (nop) HandleIn(*channel.Context, channel.Message) (*channel.Reply, error) {
	return nil, nil
}

// TestSocketIDDisconnectAcrossNodes: a "disconnect" broadcast on a socket id
// closes that user's sockets on every node (1001), and no one else's.
func TestSocketIDDisconnectAcrossNodes(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	engines := map[string]func(t *testing.T) func() pubsub.Adapter{
		"nats": func(t *testing.T) func() pubsub.Adapter {
			e := newNATSEngine(t)
			return func() pubsub.Adapter {
				return natspubsub.New(natspubsub.Config{URL: e.srv.ClientURL(), Logger: quiet})
			}
		},
		"redis": func(t *testing.T) func() pubsub.Adapter {
			e := newRedisEngine(t)
			return func() pubsub.Adapter { return redispubsub.New(redispubsub.Config{URL: e.url(), Logger: quiet}) }
		},
	}
	for name, engine := range engines {
		t.Run(name, func(t *testing.T) {
			newAdapter := engine(t)
			var servers []*channel.Server
			for _, node := range []string{"a", "b"} {
				ps, err := pubsub.New(pubsub.Config{Node: node, Adapter: newAdapter(), Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ps.Close() })
				r := &channel.Router{}
				r.Handle("room:*", func() channel.Channel { return nop{} })
				srv, err := channel.NewServer(channel.Config{
					Router: r, PubSub: ps, Logger: quiet,
					Connect: func(_ context.Context, info *channel.ConnectInfo) (map[string]any, error) {
						return map[string]any{"user": info.Params.Get("user")}, nil
					},
					ID: func(a map[string]any) string { return "users_socket:" + a["user"].(string) },
				})
				if err != nil {
					t.Fatal(err)
				}
				servers = append(servers, srv)
			}
			onA := channeltest.Connect(t, servers[0], url.Values{"user": {"42"}})
			onB := channeltest.Connect(t, servers[1], url.Values{"user": {"42"}})
			other := channeltest.Connect(t, servers[1], url.Values{"user": {"7"}})
			// Subscriptions reach the engine asynchronously: broadcast until
			// the remote socket is closed too.
			deadline := time.Now().Add(wait)
			for onB.CloseCode() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the disconnect broadcast did not reach the other node")
				}
				if err := channel.Broadcast(context.Background(), servers[0].PubSub(), "users_socket:42", "disconnect", nil); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, c := range []*channeltest.Client{onA, onB} {
				if code := c.WaitClosed(t); code != 1001 {
					t.Fatalf("close code %d, want 1001", code)
				}
			}
			if other.CloseCode() != 0 {
				t.Fatal("socket of user 7 was closed too")
			}
		})
	}
}
