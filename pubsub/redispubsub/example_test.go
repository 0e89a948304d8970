package redispubsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/redispubsub"
)

// inbox is a pubsub.Subscriber that hands messages to a channel.
type inbox chan *pubsub.Message

func (in inbox) Deliver(m *pubsub.Message) {
	select {
	case in <- m:
	default: // the example reads only what it needs
	}
}

// Two Parley nodes over one Redis: a broadcast on one reaches the
// subscribers of the other. The example runs Debian's redis-server
// (scripts/deps.sh installs it) on a free loopback port. A node's
// SUBSCRIBE reaches Redis asynchronously after Subscribe, so the example
// waits until a probe gets through.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "redis-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv := exec.Command("/usr/bin/redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			panic("redis-server not listening")
		}
		time.Sleep(10 * time.Millisecond)
	}

	node := func(name string) *pubsub.PubSub {
		a := redispubsub.New(redispubsub.Config{URL: "redis://" + addr, Namespace: "example", Logger: slog.New(slog.DiscardHandler)})
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
