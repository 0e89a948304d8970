package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/presence"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/pubsub/pubsubtest"
)

func Example() {
	ps, _ := pubsub.New(pubsub.Config{Node: "node1"})
	tracker, err := presence.New(presence.Config{PubSub: ps})
	if err != nil {
		panic(err)
	}
	defer tracker.Close(context.Background())

	// Usually an Owner is a *channel.Context and TrackChannel is used; any
	// string unique per channel instance will do.
	tracker.Track("chan-1", "room:lobby", "ana", map[string]any{"device": "phone"})
	tracker.Track("chan-2", "room:lobby", "ana", map[string]any{"device": "laptop"})
	tracker.Track("chan-3", "room:lobby", "bob", map[string]any{"device": "phone"})

	for key, p := range tracker.List("room:lobby") {
		if key == "ana" {
			fmt.Println(key, "has", len(p.Metas), "metas")
		}
	}
	tracker.UntrackAll("chan-3")
	p, ok := tracker.Get("room:lobby", "bob")
	fmt.Println("bob", ok, len(p.Metas))
	// Output:
	// ana has 2 metas
	// bob false 0
}

// Two nodes replicate over a PubSub adapter (here the in-process test bus).
func Example_cluster() {
	bus := pubsubtest.NewBus(pubsubtest.BusConfig{})
	defer bus.Close()
	cfg := presence.Config{BroadcastPeriod: 20 * time.Millisecond}
	var trackers []*presence.Tracker
	for _, name := range []string{"a", "b"} {
		ps, _ := pubsub.New(pubsub.Config{Node: name, Adapter: bus.Adapter()})
		defer ps.Close()
		cfg.PubSub = ps
		tr, _ := presence.New(cfg)
		defer tr.Close(context.Background())
		trackers = append(trackers, tr)
	}
	trackers[0].Track("chan-1", "room:lobby", "ana", nil)
	for len(trackers[1].List("room:lobby")) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	_, ok := trackers[1].Get("room:lobby", "ana")
	fmt.Println("b sees ana:", ok)
	// Output: b sees ana: true
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	if leaked := leakcheck.Wait(2 * time.Second); leaked != "" {
		t.Skip("goroutines left by earlier tests; TestMain will report them")
	}
	ps, _ := pubsub.New(pubsub.Config{})
	tr, err := presence.New(presence.Config{PubSub: ps, BroadcastPeriod: time.Millisecond, DownPeriod: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tr.Track("o", "t", "k", nil)
	if err := tr.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if leaked := leakcheck.Wait(2 * time.Second); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
}
