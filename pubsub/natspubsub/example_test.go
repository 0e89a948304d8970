package natspubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/natspubsub"
)

// inbox is a pubsub.Subscriber that hands messages to a channel.
type inbox chan *pubsub.Message

func (in inbox) Deliver(m *pubsub.Message) {
	select {
	case in <- m:
	default: // the example reads only what it needs
	}
}

// Two Parley nodes over one NATS server: a broadcast on one reaches the
// subscribers of the other. A node's interest in a topic reaches NATS
// asynchronously after Subscribe, so the example waits until a probe gets
// through, as a node joining a cluster would see its first broadcasts
// shortly after it subscribes.
func Example() {
	// A real NATS server, embedded (in production: nats-server elsewhere).
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("nats not ready")
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", ns.Addr().(*net.TCPAddr).Port)

	node := func(name string) *pubsub.PubSub {
		a := natspubsub.New(natspubsub.Config{URL: url, Namespace: "example", Logger: slog.New(slog.DiscardHandler)})
		ps, err := pubsub.New(pubsub.Config{Node: name, Adapter: a, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			panic(err)
		}
		return ps
	}
	a, b := node("a"), node("b")
	defer a.Close()
	defer b.Close()

	got := make(inbox, 16)
	if err := b.Subscribe("room:lobby", got); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ready := false; !ready; {
		if _, err := a.Broadcast(ctx, &pubsub.Message{Topic: "room:lobby", Event: "probe"}); err != nil {
			panic(err)
		}
		select {
		case <-got:
			ready = true
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			panic("no probe got through")
		}
	}
	for len(got) > 0 { // drop late probes
		<-got
	}

	if _, err := a.Broadcast(ctx, &pubsub.Message{Topic: "room:lobby", Event: "shout", Payload: []byte(`{"body":"hi"}`)}); err != nil {
		panic(err)
	}
	for m := range got {
		if m.Event == "shout" {
			fmt.Printf("node b got %s %s on %s\n", m.Event, m.Payload, m.Topic)
			break
		}
	}
	// Output:
	// node b got shout {"body":"hi"} on room:lobby
}
