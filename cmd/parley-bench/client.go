package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
)

// fleetConfig describes the client connections of a run.
type fleetConfig struct {
	URL     string // the server's http:// base URL
	N       int    // connections
	Topics  int    // connection i joins bench:<i % Topics>
	Sources int    // source addresses 127.0.0.2 … 127.0.0.(1+Sources)
	Dialers int    // concurrent dials
	// Expect is the number of "msg" broadcasts each connection will get;
	// it sizes the latency buffers.
	Expect int
}

// fleet is N Phoenix V2 clients, each joined to one bench topic, each read
// by its own goroutine that counts broadcasts and records their latency.
type fleet struct {
	cfg   fleetConfig
	conns []*benchConn

	joined    atomic.Int64
	delivered atomic.Int64 // "msg" broadcasts received
	warm      atomic.Int64 // "warm" broadcasts received
	lastRecv  atomic.Int64 // unix nanos of the latest "msg" received
	// readers counts the read goroutines.
	readers sync.WaitGroup

	hbStarted bool
	hbStop    chan struct{}
	hbDone    chan struct{}

	// mu guards errs.
	mu   sync.Mutex
	errs []error
}

// benchConn is one client connection.
type benchConn struct {
	f      *fleet
	ws     *wsclient.Conn
	topic  string
	joined chan struct{} // closed on the ok join reply

	// mu guards lat and msgs.
	mu   sync.Mutex
	lat  []int64 // latencies of "msg" broadcasts, ns
	msgs int
}

func (f *fleet) fail(err error) {
	f.mu.Lock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, err)
	}
	f.mu.Unlock()
}

// err returns the first recorded errors.
func (f *fleet) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.errs...)
}

// dialFleet opens cfg.N connections with cfg.Dialers concurrent dials,
// joins each to its topic, and returns once every join is acknowledged.
func dialFleet(ctx context.Context, cfg fleetConfig) (*fleet, error) {
	f := &fleet{cfg: cfg, conns: make([]*benchConn, cfg.N), hbStop: make(chan struct{}), hbDone: make(chan struct{})}
	wsURL := "ws" + strings.TrimPrefix(cfg.URL, "http") + "/socket/websocket?vsn=2.0.0"
	next := atomic.Int64{}
	var wg sync.WaitGroup
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range max(1, cfg.Dialers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.N || dctx.Err() != nil {
					return
				}
				c, err := f.dialOne(dctx, wsURL, i)
				if err != nil {
					f.fail(fmt.Errorf("connection %d: %w", i, err))
					cancel()
					return
				}
				f.conns[i] = c
			}
		}()
	}
	wg.Wait()
	if err := f.err(); err != nil || ctx.Err() != nil {
		f.close(context.Background())
		return nil, errors.Join(err, ctx.Err())
	}
	f.hbStarted = true
	go f.heartbeats()
	return f, nil
}

// dialOne connects client i, sends its join and waits for the reply.
func (f *fleet) dialOne(ctx context.Context, wsURL string, i int) (*benchConn, error) {
	src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%max(1, f.cfg.Sources))})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, err := wsclient.Dial(cctx, wsURL, &wsclient.Options{LocalAddr: src, ReadBufferSize: 2048})
	if err != nil {
		return nil, err
	}
	c := &benchConn{
		f: f, ws: ws, topic: "bench:" + strconv.Itoa(i%max(1, f.cfg.Topics)),
		joined: make(chan struct{}), lat: make([]int64, 0, f.cfg.Expect),
	}
	join := `["1","1","` + c.topic + `","phx_join",{}]`
	if err := ws.Write(cctx, wsclient.Text, []byte(join)); err != nil {
		_ = ws.CloseNow()
		return nil, err
	}
	f.readers.Add(1)
	go c.readLoop()
	select {
	case <-c.joined:
		f.joined.Add(1)
		return c, nil
	case <-cctx.Done():
		_ = ws.CloseNow()
		return nil, fmt.Errorf("join %s: no ok reply: %w", c.topic, cctx.Err())
	}
}

var (
	msgMarker  = []byte(`,"msg",{"t":`)
	warmMarker = []byte(`,"warm",{"t":`)
	joinOK     = []byte(`"phx_reply",{"status":"ok"`)
)

// readLoop reads until the connection ends. It runs with a background
// context: the fleet ends it by closing the connection.
func (c *benchConn) readLoop() {
	defer c.f.readers.Done()
	joined := false
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			if !joined {
				c.f.fail(fmt.Errorf("%s before join reply: %w", c.topic, err))
			}
			return
		}
		now := time.Now().UnixNano()
		switch {
		case bytes.HasPrefix(data, []byte(`[null,null,`)):
			if i := bytes.Index(data, msgMarker); i > 0 {
				t, ok := leadingInt(data[i+len(msgMarker):])
				if !ok {
					c.f.fail(fmt.Errorf("%s: bad timestamp in %.80q", c.topic, data))
					continue
				}
				c.mu.Lock()
				c.lat = append(c.lat, now-t)
				c.msgs++
				c.mu.Unlock()
				storeMax(&c.f.lastRecv, now)
				c.f.delivered.Add(1)
			} else if bytes.Contains(data, warmMarker) {
				c.f.warm.Add(1)
			}
		case !joined && bytes.HasPrefix(data, []byte(`["1","1",`)):
			if !bytes.Contains(data, joinOK) {
				c.f.fail(fmt.Errorf("%s: join refused: %s", c.topic, data))
				return
			}
			joined = true
			close(c.joined)
		}
	}
}

// leadingInt parses the decimal integer at the start of b.
func leadingInt(b []byte) (int64, bool) {
	var v int64
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n > 0
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// heartbeats sends the Phoenix heartbeat on every connection every 25 s,
// as the phoenix client does every 30 s, so the server's 60 s idle
// timeout never fires during long runs.
func (f *fleet) heartbeats() {
	defer close(f.hbDone)
	t := time.NewTicker(25 * time.Second)
	defer t.Stop()
	for ref := 1; ; ref++ {
		select {
		case <-f.hbStop:
			return
		case <-t.C:
		}
		frame := []byte(`[null,"hb` + strconv.Itoa(ref) + `","phoenix","heartbeat",{}]`)
		for _, c := range f.conns {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := c.ws.Write(ctx, wsclient.Text, frame)
			cancel()
			if err != nil {
				f.fail(fmt.Errorf("heartbeat %s: %w", c.topic, err))
			}
		}
	}
}

// waitFor polls until cond holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || !sleepCtx(ctx, 2*time.Millisecond) {
			return cond()
		}
	}
	return true
}

// close runs the close handshake on every connection (64 at a time, 3 s
// each, then cut) and waits for the read goroutines. Call it once.
func (f *fleet) close(ctx context.Context) {
	if f.hbStarted {
		close(f.hbStop)
		<-f.hbDone
		f.hbStarted = false
	}
	work := make(chan *benchConn)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				if err := c.ws.Close(cctx, 1000, "bench done"); err != nil {
					_ = c.ws.CloseNow()
				}
				cancel()
			}
		}()
	}
	for _, c := range f.conns {
		if c != nil {
			work <- c
		}
	}
	close(work)
	wg.Wait()
	f.readers.Wait()
}

// latencies returns every recorded latency, sorted, and the minimum and
// maximum number of "msg" broadcasts one connection received.
func (f *fleet) latencies() (lat []int64, minMsgs, maxMsgs int) {
	minMsgs = -1
	for _, c := range f.conns {
		c.mu.Lock()
		lat = append(lat, c.lat...)
		if minMsgs < 0 || c.msgs < minMsgs {
			minMsgs = c.msgs
		}
		maxMsgs = max(maxMsgs, c.msgs)
		c.mu.Unlock()
	}
	slices.Sort(lat)
	return lat, max(minMsgs, 0), maxMsgs
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted values.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
