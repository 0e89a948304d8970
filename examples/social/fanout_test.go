//go:build unix

package social

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/wire"
)

// fanout is n connected /social/posts views on one in-process channel
// server, each behind a Conn that only notes when its view sent a diff.
type fanout struct {
	app   *App
	socks []*channel.Socket
	conns []*fanConn

	start   time.Time
	pending atomic.Int64 // views yet to send this round's diff
	bytes   atomic.Int64 // this round's diff frames, in total
	sample  atomic.Pointer[[]byte]
	done    chan struct{}
}

// fanConn is the outbound half of one connection: it records the time of
// the view's diff frame (relative to the round's start) and its size.
type fanConn struct {
	f      *fanout
	joined chan struct{}
	at     atomic.Int64 // ns after start; 0 until the diff
}

var (
	diffEvent  = []byte(`,"diff",`)
	replyEvent = []byte(`"phx_reply"`)
)

func (c *fanConn) Send(fr wire.Frame) error {
	switch {
	case bytes.Contains(fr.Data, diffEvent):
		c.at.Store(int64(time.Since(c.f.start)))
		c.f.bytes.Add(int64(len(fr.Data)))
		if c.f.sample.Load() == nil {
			d := append([]byte(nil), fr.Data...)
			c.f.sample.CompareAndSwap(nil, &d)
		}
		if c.f.pending.Add(-1) == 0 {
			close(c.f.done)
		}
	case bytes.Contains(fr.Data, replyEvent):
		select {
		case c.joined <- struct{}{}:
		default:
		}
	}
	return nil
}

func (c *fanConn) Close(int, string) {}

var (
	containerRE = regexp.MustCompile(`<div id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`)
	csrfRE      = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`)
)

// newFanout mounts n /social/posts views, each on its own socket as n
// browsers would, and waits for every join reply.
func newFanout(tb testing.TB, n int) *fanout {
	tb.Helper()
	app, l := newApp(tb, Config{Manual: true, FlushInterval: 100 * time.Millisecond})
	router := &channel.Router{}
	l.Register(router)
	srv, err := channel.NewServer(channel.Config{Router: router, Connect: l.Connect, PubSub: l.PubSub()})
	if err != nil {
		tb.Fatal(err)
	}
	f := &fanout{app: app}
	tb.Cleanup(func() {
		for _, s := range f.socks {
			s.Closed()
		}
	})
	for range n {
		resp := livetest.DeadRender(tb, l, "/social/posts")
		var page bytes.Buffer
		_, _ = page.ReadFrom(resp.Body)
		resp.Body.Close()
		m, c := containerRE.FindStringSubmatch(page.String()), csrfRE.FindStringSubmatch(page.String())
		if m == nil || c == nil {
			tb.Fatalf("no live container in %s", page.String())
		}
		header := make(map[string][]string)
		for _, ck := range resp.Cookies() {
			header["Cookie"] = append(header["Cookie"], ck.Name+"="+ck.Value)
		}
		conn := &fanConn{f: f, joined: make(chan struct{}, 1)}
		sock, err := srv.Connect(context.Background(), &channel.ConnectInfo{
			Params: url.Values{"_csrf_token": {c[1]}, "vsn": {"2.0.0"}}, Header: header, Transport: "fanout", RemoteAddr: "fanout",
		}, conn)
		if err != nil {
			tb.Fatal(err)
		}
		f.socks = append(f.socks, sock)
		f.conns = append(f.conns, conn)
		payload, _ := json.Marshal(map[string]any{
			"url": "http://parley.test/social/posts", "session": m[2], "static": m[3],
			"params": map[string]any{"_csrf_token": c[1], "_mounts": 0},
		})
		ref := wire.StringRef("1")
		if err := sock.Receive(wire.AppendText(nil, ref, ref, "lv:"+m[1], wire.EventJoin, payload), false); err != nil {
			tb.Fatal(err)
		}
		select {
		case <-conn.joined:
		case <-time.After(livetest.Timeout):
			tb.Fatal("no join reply")
		}
	}
	return f
}

// round broadcasts one post and waits until every view has sent its diff.
// It returns the time until the last one and the median one.
func (f *fanout) round(tb testing.TB) (last, median time.Duration) {
	tb.Helper()
	for _, c := range f.conns {
		c.at.Store(0)
	}
	f.done = make(chan struct{})
	f.bytes.Store(0)
	f.pending.Store(int64(len(f.conns)))
	f.start = time.Now()
	if _, err := f.app.Publish(Post{Author: "hamlet", Text: "To be, or not to be, that is the question.", Location: "Elsinore", Relevance: 77}); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("%d views did not send their diff within 10 s", f.pending.Load())
	}
	at := make([]time.Duration, len(f.conns))
	for i, c := range f.conns {
		at[i] = time.Duration(c.at.Load())
	}
	slices.Sort(at)
	return at[len(at)-1], at[len(at)/2]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFanoutHarness runs the benchmark's harness small, under -race too.
func TestFanoutHarness(t *testing.T) {
	f := newFanout(t, 20)
	for range 3 {
		last, median := f.round(t)
		if last < median || median <= 0 {
			t.Fatalf("last %v, median %v", last, median)
		}
		// Each round is a first post after a quiet spell: wait out the
		// flush interval so every view sends at once (pacing, not
		// synchronisation: round waits for the diffs).
		time.Sleep(f.app.cfg.FlushInterval)
	}
	if got := f.bytes.Load() / 20; got == 0 || got > 350 {
		t.Fatalf("%d bytes per diff", got)
	}
	t.Logf("a diff frame: %s", *f.sample.Load())
}

// BenchmarkPostFanout1000: one post broadcast to 1,000 connected
// /social/posts views. Per round: the time until the last view (and the
// median view) has sent its diff frame, the frame's size, and the process
// CPU time per view update (pubsub fan-out, wake, decode, render, diff,
// frame). Rounds are paced one flush interval apart, so each post is the
// first after a quiet spell and every view renders at once.
//
//	go test -run '^$' -bench PostFanout1000 -benchtime 20x ./examples/social/
func BenchmarkPostFanout1000(b *testing.B) {
	const n = 1000
	f := newFanout(b, n)
	var last, median, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(f.app.cfg.FlushInterval)
		b.StartTimer()
		c0 := cpuTime()
		l, m := f.round(b)
		cpu += cpuTime() - c0
		last += l
		median += m
	}
	b.ReportMetric(float64(last.Microseconds())/float64(b.N)/1000, "ms-all-sent")
	b.ReportMetric(float64(median.Microseconds())/float64(b.N)/1000, "ms-median-sent")
	b.ReportMetric(float64(f.bytes.Load())/n, "B/diff")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n)/1000, "cpu-µs/view")
}
