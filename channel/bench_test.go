package channel_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/wire"
)

// countConn counts the frames and bytes a socket sends and signals the
// first reply, so a benchmark measures the server's fan-out path alone.
type countConn struct {
	frames, bytes atomic.Int64
	joined        chan struct{}
}

func (c *countConn) Send(f wire.Frame) error {
	if c.frames.Add(1) == 1 {
		close(c.joined)
	}
	c.bytes.Add(int64(len(f.Data)))
	return nil
}

func (c *countConn) Close(int, string) {}

// BenchmarkBroadcastFanout measures one broadcast delivered to every socket
// joined to a topic: encode once, pubsub fan-out, fastlane Deliver, and the
// connection's Send (here a counter: no syscalls).
func BenchmarkBroadcastFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			r := &channel.Router{}
			r.Handle("room:*", func() channel.Channel { return &room{rec: &recorder{}} })
			srv, err := channel.NewServer(channel.Config{Router: r, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			conns := make([]*countConn, n)
			socks := make([]*channel.Socket, n)
			for i := range conns {
				conns[i] = &countConn{joined: make(chan struct{})}
				socks[i], err = srv.Connect(context.Background(), &channel.ConnectInfo{Params: url.Values{}}, conns[i])
				if err != nil {
					b.Fatal(err)
				}
				ref := strconv.Itoa(i + 1)
				if err := socks[i].Receive(wire.AppendText(nil, wire.StringRef(ref), wire.StringRef(ref), "room:bench", "phx_join", []byte("{}")), false); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range conns {
				<-c.joined
			}
			payload := map[string]any{"body": "a 64 byte message, more or less, like a chat line!", "n": 1}
			ctx := context.Background()
			ps := srv.PubSub()
			before := conns[0].frames.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := channel.Broadcast(ctx, ps, "room:bench", "msg", payload); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := conns[0].frames.Load() - before; got != int64(b.N) {
				b.Fatalf("a subscriber got %d frames, want %d", got, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			for _, s := range socks {
				s.Closed()
			}
		})
	}
}

// BenchmarkBroadcastHistory is one Server.Broadcast to a topic with n
// joined sockets, on a route with a history (number, record, fan out under
// the topic's lock) and on one without.
func BenchmarkBroadcastHistory(b *testing.B) {
	for _, history := range []bool{false, true} {
		for _, n := range []int{1, 1000} {
			b.Run(fmt.Sprintf("history=%v/subscribers=%d", history, n), func(b *testing.B) {
				r := &channel.Router{}
				var opts []channel.RouteOption
				if history {
					opts = append(opts, channel.WithHistory(channel.History{Size: 256}))
				}
				r.Handle("room:*", func() channel.Channel { return &room{rec: &recorder{}} }, opts...)
				srv, err := channel.NewServer(channel.Config{Router: r, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				conns := make([]*countConn, n)
				socks := make([]*channel.Socket, n)
				for i := range conns {
					conns[i] = &countConn{joined: make(chan struct{})}
					socks[i], err = srv.Connect(context.Background(), &channel.ConnectInfo{Params: url.Values{}}, conns[i])
					if err != nil {
						b.Fatal(err)
					}
					ref := strconv.Itoa(i + 1)
					if err := socks[i].Receive(wire.AppendText(nil, wire.StringRef(ref), wire.StringRef(ref), "room:bench", "phx_join", []byte("{}")), false); err != nil {
						b.Fatal(err)
					}
				}
				for _, c := range conns {
					<-c.joined
				}
				payload := map[string]any{"body": "a 64 byte message, more or less, like a chat line!", "n": 1}
				ctx := context.Background()
				before := conns[0].frames.Load()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := srv.Broadcast(ctx, "room:bench", "msg", payload); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if got := conns[0].frames.Load() - before; got != int64(b.N) {
					b.Fatalf("a subscriber got %d frames, want %d", got, b.N)
				}
				for _, s := range socks {
					s.Closed()
				}
			})
		}
	}
}

// herdConn signals once it has received want frames.
type herdConn struct {
	frames atomic.Int64
	want   int64
	done   chan struct{}
}

func (c *herdConn) Send(wire.Frame) error {
	if c.frames.Add(1) == c.want {
		close(c.done)
	}
	return nil
}

func (c *herdConn) Close(int, string) {}

// BenchmarkRecoveryHerd is 1,000 clients rejoining a topic at once, each
// 100 broadcasts behind: the time until every one has its join reply and
// the 100 replayed frames (in-process; the transport's Send is a counter).
func BenchmarkRecoveryHerd(b *testing.B) {
	const clients, missed = 1000, 100
	r := &channel.Router{}
	r.Handle("feed:*", func() channel.Channel { return Echo{} }, channel.WithHistory(channel.History{Size: 256}))
	srv, err := channel.NewServer(channel.Config{Router: r, Logger: slog.New(slog.DiscardHandler), JoinsPerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	probe := channeltest.Connect(b, srv, nil)
	pos := probe.Join(b, "feed:herd", nil).Reply.Recovery(b)
	probe.Close()
	ctx := context.Background()
	for n := range missed {
		if err := srv.Broadcast(ctx, "feed:herd", "msg", map[string]int{"n": n}); err != nil {
			b.Fatal(err)
		}
	}
	join := wire.AppendText(nil, wire.StringRef("1"), wire.StringRef("1"), "feed:herd", "phx_join",
		[]byte(fmt.Sprintf(`{"_recover":{"epoch":%q,"offset":%d}}`, pos.Epoch, pos.Offset)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conns := make([]*herdConn, clients)
		socks := make([]*channel.Socket, clients)
		var wg sync.WaitGroup
		for j := range conns {
			conns[j] = &herdConn{want: 1 + missed, done: make(chan struct{})}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := srv.Connect(ctx, &channel.ConnectInfo{Params: url.Values{}}, conns[j])
				if err != nil {
					b.Error(err)
					return
				}
				socks[j] = s
				if err := s.Receive(join, false); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		for _, c := range conns {
			<-c.done
		}
		b.StopTimer()
		for _, c := range conns {
			if got := c.frames.Load(); got != 1+missed {
				b.Fatalf("a client got %d frames, want %d", got, 1+missed)
			}
		}
		for _, s := range socks {
			if s != nil {
				s.Closed()
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients*missed), "ns/replayed")
}
