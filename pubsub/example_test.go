package pubsub_test

import (
	"context"
	"fmt"

	"github.com/parley-go/parley/pubsub"
)

type printer struct{ name string }

func (p printer) Deliver(m *pubsub.Message) {
	fmt.Printf("%s got %s on %s\n", p.name, m.Payload, m.Topic)
}

func Example() {
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		panic(err)
	}
	defer ps.Close()
	alice, bob := printer{"alice"}, printer{"bob"}
	_ = ps.Subscribe("room:lobby", alice)
	_ = ps.Subscribe("room:lobby", bob)
	_, _ = ps.BroadcastFrom(context.Background(), alice, &pubsub.Message{Topic: "room:lobby", Payload: []byte("hi")})
	// Output:
	// bob got hi on room:lobby
}
