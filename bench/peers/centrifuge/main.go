// Command centrifuge is the centrifugal/centrifuge peer of Parley's load
// tool: a Node with the in-memory broker, no history, logging off, and its
// WebSocket handler at /connection/websocket speaking Centrifuge's own
// client protocol (v2, JSON). The load client speaks that protocol itself
// (parley-bench's "centrifuge" client): it sends
// {"id":1,"connect":{"data":{"topic":"bench:0"}}} and the connecting
// handler subscribes the connection to that channel server-side, so the
// connect reply is the "joined" signal, as a Phoenix join reply is for
// Parley. A broadcast is node.Publish(channel, payload); publications
// reach the client as {"push":{"channel":…,"pub":{"data":<payload>}}}.
// Centrifuge's per-client writer gathers up to 16 queued messages into one
// WebSocket frame (newline-separated JSON) and one write.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"

	"github.com/centrifugal/centrifuge"

	"github.com/parley-go/parley/bench/peers/ctl"
)

type server struct{ node *centrifuge.Node }

// Broadcast implements ctl.Server. A message whose event is not "msg"
// (the warm-up) is published as {"e":<event>,…} so the client tells them
// apart, as it does by the Phoenix event for the other servers.
func (s server) Broadcast(topic, event string, payload []byte) error {
	data := payload
	if event != "msg" {
		data = append([]byte(`{"e":"`+event+`",`), payload[1:]...)
	}
	_, err := s.node.Publish(topic, data)
	return err
}

// Sockets implements ctl.Server.
func (s server) Sockets() int64 { return int64(s.node.Hub().NumClients()) }

func main() {
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		var d struct {
			Topic string `json:"topic"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if d.Topic == "" {
			d.Topic = "bench:0"
		}
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: ""},
			Subscriptions: map[string]centrifuge.SubscribeOptions{d.Topic: {}},
		}, nil
	})
	node.OnConnect(func(*centrifuge.Client) {})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}
	ws := centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		ReadBufferSize: 1024, UseWriteBufferPool: true,
		CheckOrigin: func(*http.Request) bool { return true },
	})
	ctl.Main(ctl.Peer{
		Proto:  "centrifuge",
		Server: server{node},
		Routes: func(mux *http.ServeMux) { mux.Handle("GET /connection/websocket", ws) },
		Stop:   func(ctx context.Context) { _ = node.Shutdown(ctx) },
	})
}
