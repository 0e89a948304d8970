package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
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
	Proto   *protocol
	N       int // connections
	Topics  int // connection i joins bench:<i % Topics>
	Sources int // source addresses 127.0.0.2 … 127.0.0.(1+Sources)
	Dialers int // concurrent dials
	// Expect is the number of "msg" broadcasts each connection will get;
	// it sizes the latency buffers.
	Expect int
	// Compress offers permessage-deflate.
	Compress bool
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

	// slow are connections that stop reading once joined, until
	// slowRelease is closed (by close); set by addSlow before a
	// measurement, read by close.
	slow        []*benchConn
	slowRelease chan struct{}
	wsURL       string

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
	slow   bool          // stops reading once joined (see fleet.slow)

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
	if cfg.Proto == nil {
		cfg.Proto = protocols["phoenix"]
	}
	if cfg.Proto.path == nil {
		return nil, fmt.Errorf("the server speaks %s, which has no fan-out client (use the live command)", cfg.Proto.name)
	}
	f := &fleet{
		cfg: cfg, conns: make([]*benchConn, cfg.N), hbStop: make(chan struct{}), hbDone: make(chan struct{}),
		slowRelease: make(chan struct{}),
	}
	wsURL := "ws" + strings.TrimPrefix(cfg.URL, "http")
	f.wsURL = wsURL
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
				c, err := f.dialOne(dctx, wsURL, i, false)
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

// dialOne connects client i, sends its join (in the server's protocol)
// and waits for the reply.
func (f *fleet) dialOne(ctx context.Context, wsURL string, i int, slow bool) (*benchConn, error) {
	src := netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i%max(1, f.cfg.Sources))})
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topic := "bench:" + strconv.Itoa(i%max(1, f.cfg.Topics))
	p := f.cfg.Proto
	ws, err := wsclient.Dial(cctx, wsURL+p.path(topic), &wsclient.Options{LocalAddr: src, ReadBufferSize: 2048, Compression: f.cfg.Compress})
	if err != nil {
		return nil, err
	}
	c := &benchConn{
		f: f, ws: ws, topic: topic, slow: slow,
		joined: make(chan struct{}), lat: make([]int64, 0, f.cfg.Expect),
	}
	if p.join != nil {
		if err := ws.Write(cctx, wsclient.Text, p.join(topic)); err != nil {
			_ = ws.CloseNow()
			return nil, err
		}
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
)

// protocol is what the load client needs to know of a server's client
// protocol: where to connect, how to join a topic, how to recognise the
// join reply, and how to find broadcasts (and their timestamps) in a frame.
type protocol struct {
	name string
	path func(topic string) string
	// join is the frame sent after connecting (nil: none).
	join func(topic string) []byte
	// joined reports whether data is the join reply (an error if it is a
	// refusal).
	joined func(data []byte) (bool, error)
	// msg and warm precede the timestamp of a measured and a warm-up
	// broadcast; a frame may hold several (centrifuge batches).
	msg, warm []byte
	// heartbeat: send Phoenix heartbeats; pong: answer the server's "{}"
	// pings with "{}" (centrifuge).
	heartbeat, pong bool
}

// protocols are the client protocols, by the name a server announces
// ("proto=" on its PARLEY_LISTENING line; Parley announces none).
var protocols = map[string]*protocol{
	// phoenix: Parley, Phoenix Channels V2.
	"phoenix": {
		name: "phoenix",
		path: func(string) string { return "/socket/websocket?vsn=2.0.0" },
		join: func(topic string) []byte { return []byte(`["1","1","` + topic + `","phx_join",{}]`) },
		joined: func(data []byte) (bool, error) {
			return joinReply(data, "1", "1")
		},
		msg: msgMarker, warm: warmMarker, heartbeat: true,
	},
	// plain: the gorilla, gws and raw peers. The topic is a URL
	// parameter, the server sends "hello" once the connection is in its
	// hub, and broadcasts are the same Phoenix-shaped frames Parley sends.
	"plain": {
		name: "plain",
		path: func(topic string) string { return "/ws?topic=" + url.QueryEscape(topic) },
		joined: func(data []byte) (bool, error) {
			return string(data) == "hello", nil
		},
		msg: msgMarker, warm: warmMarker,
	},
	// centrifuge: Centrifuge's client protocol v2, JSON. The connect
	// command carries the topic, which the peer subscribes server-side.
	"centrifuge": {
		name: "centrifuge",
		path: func(string) string { return "/connection/websocket" },
		join: func(topic string) []byte {
			return []byte(`{"id":1,"connect":{"data":{"topic":"` + topic + `"}}}`)
		},
		joined: func(data []byte) (bool, error) {
			switch {
			case bytes.HasPrefix(data, []byte(`{"id":1,"connect":`)):
				return true, nil
			case bytes.HasPrefix(data, []byte(`{"id":1,"error":`)):
				return false, fmt.Errorf("connect refused: %s", data)
			}
			return false, nil
		},
		msg: []byte(`"data":{"t":`), warm: []byte(`"data":{"e":"warm"`), pong: true,
	},
	// jfynelive: jfyne/live's own LiveView protocol (bench/peers/jfynelive),
	// spoken only by the live command (live.go); it has no topics, so no
	// fan-out client.
	"jfynelive": {name: "jfynelive"},
}

// readLoop reads until the connection ends. It runs with a background
// context: the fleet ends it by closing the connection.
func (c *benchConn) readLoop() {
	defer c.f.readers.Done()
	p := c.f.cfg.Proto
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
		if !joined {
			ok, err := p.joined(data)
			if err != nil {
				c.f.fail(fmt.Errorf("%s: %w", c.topic, err))
				return
			}
			if ok {
				joined = true
				close(c.joined)
				if c.slow {
					<-c.f.slowRelease
				}
			}
			continue
		}
		if c.slow {
			continue
		}
		if p.pong && isPing(data) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.ws.Write(ctx, wsclient.Text, []byte("{}"))
			cancel()
		}
		for rest := data; ; {
			i := bytes.Index(rest, p.msg)
			if i < 0 {
				break
			}
			rest = rest[i+len(p.msg):]
			t, ok := leadingInt(rest)
			if !ok {
				c.f.fail(fmt.Errorf("%s: bad timestamp in %.80q", c.topic, data))
				break
			}
			c.mu.Lock()
			c.lat = append(c.lat, now-t)
			c.msgs++
			c.mu.Unlock()
			storeMax(&c.f.lastRecv, now)
			c.f.delivered.Add(1)
		}
		if n := bytes.Count(data, p.warm); n > 0 {
			c.f.warm.Add(int64(n))
		}
	}
}

// isPing reports whether a centrifuge frame holds the empty ping "{}" as
// one of its newline-separated messages.
func isPing(data []byte) bool {
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if string(line) == "{}" {
			return true
		}
	}
	return false
}

// addSlow dials k more connections that stop reading once joined; they are
// counted in no result. Call it between measurements.
func (f *fleet) addSlow(ctx context.Context, k int) error {
	for i := range k {
		c, err := f.dialOne(ctx, f.wsURL, f.cfg.N+len(f.slow)+i, true)
		if err != nil {
			return err
		}
		f.slow = append(f.slow, c)
	}
	return nil
}

// reset clears the delivery counters and latencies between measurements
// on one fleet.
func (f *fleet) reset() {
	f.delivered.Store(0)
	f.warm.Store(0)
	f.lastRecv.Store(0)
	for _, c := range f.conns {
		c.mu.Lock()
		c.lat, c.msgs = c.lat[:0], 0
		c.mu.Unlock()
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
		if !f.cfg.Proto.heartbeat {
			continue
		}
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
	select {
	case <-f.slowRelease:
	default:
		close(f.slowRelease)
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
	for _, c := range append(f.conns, f.slow...) {
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
