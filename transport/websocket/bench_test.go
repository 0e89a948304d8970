package websocket

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

// collectHandler keeps every accepted Conn.
type collectHandler struct {
	mu    sync.Mutex
	conns []transport.Conn
}

func (h *collectHandler) Connect(_ context.Context, _ *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return nopRecv{}, nil
}

type nopRecv struct{}

func (nopRecv) Receive(wire.Frame) error { return nil }
func (nopRecv) Closed()                  {}

// BenchmarkFanout writes the same frame to every connection over real
// loopback TCP, burst frames at a time so the writer coalesces them, and
// waits until every client has read them. The clients run in this process
// too, so ns/delivery includes their reading: an upper bound for the server.
func BenchmarkFanout(b *testing.B) {
	for _, tc := range []struct{ conns, burst int }{{1000, 1}, {1000, 16}} {
		b.Run(fmt.Sprintf("conns=%d/burst=%d", tc.conns, tc.burst), func(b *testing.B) {
			h := &collectHandler{}
			s := New(h, Options{Logger: slog.New(slog.DiscardHandler), QueueFrames: 4096})
			hs := httptest.NewServer(s)
			var received atomic.Int64
			var readers sync.WaitGroup
			clients := make([]net.Conn, tc.conns)
			for i := range clients {
				c, resp := dialBench(b, hs)
				if resp != 101 {
					b.Fatalf("handshake status %d", resp)
				}
				clients[i] = c.nc
				readers.Add(1)
				go func(br *bufio.Reader) {
					defer readers.Done()
					for {
						h, err := readHeader(br)
						if err != nil {
							return
						}
						if _, err := io.CopyN(io.Discard, br, h.length); err != nil {
							return
						}
						received.Add(1)
					}
				}(c.br)
			}
			for {
				h.mu.Lock()
				n := len(h.conns)
				h.mu.Unlock()
				if n == tc.conns {
					break
				}
				time.Sleep(time.Millisecond)
			}
			frame := wire.Frame{Data: wire.AppendText(nil, wire.Ref{}, wire.Ref{}, "room:bench", "msg",
				[]byte(`{"body":"a 64 byte message, more or less, like a chat line!!!"}`))}
			b.ReportAllocs()
			b.ResetTimer()
			want := int64(0)
			for i := 0; i < b.N; i++ {
				for _, c := range h.conns {
					for range tc.burst {
						_ = c.Send(frame)
					}
				}
				want += int64(tc.conns * tc.burst)
				for received.Load() < want {
					time.Sleep(50 * time.Microsecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
			for _, c := range clients {
				c.Close()
			}
			readers.Wait()
			hs.Close()
			_ = s.Shutdown(context.Background())
		})
	}
}

type benchClient struct {
	nc net.Conn
	br *bufio.Reader
}

func dialBench(b *testing.B, hs *httptest.Server) (*benchClient, int) {
	b.Helper()
	c, resp := dial(b, hs, phoenixQuery, nil)
	_ = c.nc.SetDeadline(time.Time{})
	return &benchClient{nc: c.nc, br: c.br}, resp.StatusCode
}
