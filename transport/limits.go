package transport

import (
	"net"
	"strconv"
	"sync"

	"github.com/parley-go/parley/metrics"
)

// ConnLimiter bounds the open connections of one remote IP address, across
// every transport it is given to. A nil *ConnLimiter allows everything.
//
// The key is the IP of the request's RemoteAddr: behind a reverse proxy
// every client shares the proxy's address, so set the limit with that in
// mind (or leave it off and limit at the proxy).
type ConnLimiter struct {
	max int

	// mu guards open.
	mu   sync.Mutex
	open map[string]int
}

// NewConnLimiter returns a limiter allowing max connections per address;
// nil (no limit) when max <= 0.
func NewConnLimiter(max int) *ConnLimiter {
	if max <= 0 {
		return nil
	}
	return &ConnLimiter{max: max, open: make(map[string]int)}
}

// Max returns the limit, 0 for none.
func (l *ConnLimiter) Max() int {
	if l == nil {
		return 0
	}
	return l.max
}

// AddrKey returns the IP part of a RemoteAddr ("1.2.3.4:5678" → "1.2.3.4").
func AddrKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// Acquire counts a new connection from remoteAddr, or reports false if
// the address is at the limit. Every true must be paired with Release.
func (l *ConnLimiter) Acquire(remoteAddr string) bool {
	if l == nil {
		return true
	}
	k := AddrKey(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[k] >= l.max {
		return false
	}
	l.open[k]++
	return true
}

// Release forgets a connection counted by Acquire.
func (l *ConnLimiter) Release(remoteAddr string) {
	if l == nil {
		return
	}
	k := AddrKey(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.open[k]; n <= 1 {
		delete(l.open, k)
	} else {
		l.open[k] = n - 1
	}
}

// Open returns the connections counted for remoteAddr's IP.
func (l *ConnLimiter) Open(remoteAddr string) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[AddrKey(remoteAddr)]
}

// Limit names of the transports, the "limit" label of
// parley_limit_hits_total.
const (
	LimitConnsPerAddr  = "conns_per_addr"
	LimitMaxSessions   = "max_sessions"
	LimitOutboundQueue = "outbound_queue"
	LimitFrameSize     = "frame_size"
)

// Metrics are the series a transport updates. Build them with
// [NewMetrics]; the methods of a nil *Metrics do nothing.
type Metrics struct {
	transport   string
	disconnects *metrics.CounterVec
	refused     *metrics.CounterVec
	limits      *metrics.CounterVec
	// QueueFrames and QueueBytes report the frames and bytes waiting in
	// outbound queues, computed at scrape time.
	QueueFrames *metrics.GaugeFuncVec
	QueueBytes  *metrics.GaugeFuncVec
}

// NewMetrics declares the transport metrics in r for the named transport;
// nil if r is nil.
func NewMetrics(r *metrics.Registry, transport string) *Metrics {
	if r == nil {
		return nil
	}
	return &Metrics{
		transport:   transport,
		disconnects: r.Counter("parley_disconnects_total", "Connections ended, by transport, close code and reason.", "transport", "code", "reason"),
		refused:     r.Counter("parley_connections_refused_total", "Connection attempts refused, by transport and reason.", "transport", "reason"),
		limits:      r.Counter("parley_limit_hits_total", "Times a limit refused or disconnected a client.", "limit"),
		QueueFrames: r.GaugeFunc("parley_outbound_queue_frames", "Frames waiting in outbound queues.", "transport"),
		QueueBytes:  r.GaugeFunc("parley_outbound_queue_bytes", "Bytes waiting in outbound queues.", "transport"),
	}
}

// Disconnect counts an ended connection. code is the close code sent or
// echoed, 1006 when the connection was lost without one.
func (m *Metrics) Disconnect(code int, reason string) {
	if m != nil {
		m.disconnects.With(m.transport, strconv.Itoa(code), reason).Inc()
	}
}

// Refused counts a refused connection attempt.
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.refused.With(m.transport, reason).Inc()
	}
}

// LimitHit counts a limit that refused or disconnected a client.
func (m *Metrics) LimitHit(limit string) {
	if m != nil {
		m.limits.With(limit).Inc()
	}
}
