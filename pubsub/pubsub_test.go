package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Deliver(m *Message) {
	r.mu.Lock()
	r.got = append(r.got, m.Topic+"/"+m.Event+"/"+string(m.Payload))
	r.mu.Unlock()
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func newPS(t testing.TB) *PubSub {
	t.Helper()
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBroadcastReachesSubscribersOfTopicOnly(t *testing.T) {
	p := newPS(t)
	a, b, c := &recorder{}, &recorder{}, &recorder{}
	must(t, p.Subscribe("room:1", a))
	must(t, p.Subscribe("room:1", b))
	must(t, p.Subscribe("room:2", c))
	must(t, p.Subscribe("room:1", a)) // twice: still one delivery
	n, err := p.Broadcast(context.Background(), &Message{Topic: "room:1", Event: "e", Payload: []byte("x")})
	must(t, err)
	if n != 2 {
		t.Fatalf("deliveries = %d, want 2", n)
	}
	if got := a.messages(); len(got) != 1 || got[0] != "room:1/e/x" {
		t.Fatalf("a got %v", got)
	}
	if len(b.messages()) != 1 || len(c.messages()) != 0 {
		t.Fatalf("b got %v, c got %v", b.messages(), c.messages())
	}
}

func TestBroadcastFromSkipsSenderOnly(t *testing.T) {
	p := newPS(t)
	a, b := &recorder{}, &recorder{}
	must(t, p.Subscribe("t", a))
	must(t, p.Subscribe("t", b))
	n, err := p.BroadcastFrom(context.Background(), a, &Message{Topic: "t", Event: "e"})
	must(t, err)
	if n != 1 || len(a.messages()) != 0 || len(b.messages()) != 1 {
		t.Fatalf("n=%d a=%v b=%v", n, a.messages(), b.messages())
	}
}

func TestUnsubscribe(t *testing.T) {
	p := newPS(t)
	subs := make([]*recorder, 5)
	for i := range subs {
		subs[i] = &recorder{}
		must(t, p.Subscribe("t", subs[i]))
	}
	p.Unsubscribe("t", subs[1])
	p.Unsubscribe("t", subs[4])
	p.Unsubscribe("t", &recorder{}) // unknown: no-op
	if got := p.Subscribers("t"); got != 3 {
		t.Fatalf("subscribers = %d, want 3", got)
	}
	p.LocalBroadcast(&Message{Topic: "t"})
	for i, s := range subs {
		want := 1
		if i == 1 || i == 4 {
			want = 0
		}
		if got := len(s.messages()); got != want {
			t.Errorf("subscriber %d got %d messages, want %d", i, got, want)
		}
	}
	for _, s := range subs {
		p.Unsubscribe("t", s)
	}
	if got := p.Subscribers("t"); got != 0 {
		t.Fatalf("subscribers = %d after all left", got)
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Deliver(*Message) { c.n.Add(1) }

func TestConcurrentSubscribeAndBroadcast(t *testing.T) {
	p := newPS(t)
	var wg sync.WaitGroup
	stable := &counter{}
	must(t, p.Subscribe("hot", stable))
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := &counter{}
				topic := fmt.Sprintf("t%d", i%7)
				if err := p.Subscribe(topic, c); err != nil {
					t.Error(err)
				}
				p.LocalBroadcast(&Message{Topic: "hot"})
				p.Unsubscribe(topic, c)
			}
		}()
	}
	wg.Wait()
	if got := stable.n.Load(); got != 8*200 {
		t.Fatalf("stable subscriber got %d, want %d", got, 8*200)
	}
	for i := 0; i < 7; i++ {
		if n := p.Subscribers(fmt.Sprintf("t%d", i)); n != 0 {
			t.Fatalf("topic t%d kept %d subscribers", i, n)
		}
	}
}

// interestLog is a recording adapter: a PubSub must report topic interest
// transitions to its adapter in order.
type interestLog struct {
	mu  sync.Mutex
	log []string
}

func (l *interestLog) Start(string, func(*Message)) error { return nil }
func (l *interestLog) Broadcast(context.Context, *Message) error {
	l.add("broadcast")
	return nil
}
func (l *interestLog) DirectBroadcast(context.Context, string, *Message) error { return nil }
func (l *interestLog) Subscribe(topic string) error                            { l.add("+" + topic); return nil }
func (l *interestLog) Unsubscribe(topic string) error                          { l.add("-" + topic); return nil }
func (l *interestLog) Close() error                                            { return nil }
func (l *interestLog) add(s string) {
	l.mu.Lock()
	l.log = append(l.log, s)
	l.mu.Unlock()
}

func TestAdapterSeesFirstAndLastSubscriber(t *testing.T) {
	log := &interestLog{}
	p, err := New(Config{Adapter: log})
	must(t, err)
	a, b := &recorder{}, &recorder{}
	must(t, p.Subscribe("t", a))
	must(t, p.Subscribe("t", b))
	_, err = p.Broadcast(context.Background(), &Message{Topic: "t"})
	must(t, err)
	p.Unsubscribe("t", a)
	p.Unsubscribe("t", b)
	must(t, p.Close())
	want := []string{"+t", "broadcast", "-t"}
	if fmt.Sprint(log.log) != fmt.Sprint(want) {
		t.Fatalf("adapter saw %v, want %v", log.log, want)
	}
}

// logSubscriber records its deliveries in an interestLog.
type logSubscriber struct{ log *interestLog }

func (s logSubscriber) Deliver(*Message) { s.log.add("local") }

// TestBroadcastReachesAdapterFirst: the adapter gets a broadcast before the
// local subscribers, so the other nodes' fan-out starts before this one's
// (Phoenix.PubSub's order); a failing adapter still leaves local delivery.
func TestBroadcastReachesAdapterFirst(t *testing.T) {
	log := &interestLog{}
	p, err := New(Config{Adapter: log})
	must(t, err)
	defer p.Close()
	must(t, p.Subscribe("t", logSubscriber{log}))
	n, err := p.Broadcast(context.Background(), &Message{Topic: "t"})
	must(t, err)
	if want := []string{"+t", "broadcast", "local"}; n != 1 || fmt.Sprint(log.log) != fmt.Sprint(want) {
		t.Fatalf("%d local deliveries, order %v; want 1 and %v", n, log.log, want)
	}

	failing := &failingAdapter{}
	q, err := New(Config{Adapter: failing})
	must(t, err)
	defer q.Close()
	r := &recorder{}
	must(t, q.Subscribe("t", r))
	n, err = q.Broadcast(context.Background(), &Message{Topic: "t"})
	if !errors.Is(err, errAdapterDown) || n != 1 || len(r.messages()) != 1 {
		t.Fatalf("failing adapter: %d local deliveries (recorder %d), err %v; want 1 and errAdapterDown", n, len(r.messages()), err)
	}
}

var errAdapterDown = errors.New("adapter down")

// failingAdapter refuses every broadcast.
type failingAdapter struct{ interestLog }

func (*failingAdapter) Broadcast(context.Context, *Message) error { return errAdapterDown }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLocalBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			p := newPS(b)
			for i := 0; i < n; i++ {
				must(b, p.Subscribe("t", &counter{}))
			}
			m := &Message{Topic: "t", Event: "e", Payload: []byte(`[null,null,"t","e",{}]`)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.LocalBroadcast(m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
