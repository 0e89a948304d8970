package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/pubsub"
	"github.com/parley-go/parley/wire"
)

// Conn is the outbound half of a connection, implemented by the transports.
type Conn interface {
	// Send queues a frame without blocking.
	Send(f wire.Frame) error
	// Close closes the connection with a WebSocket close code.
	Close(code int, reason string)
}

// ConnectInfo describes a connection attempt.
type ConnectInfo struct {
	Params     url.Values
	AuthToken  string
	Header     http.Header
	RemoteAddr string
	Transport  string
}

// Config configures a Server. The zero value works: an empty router and a
// private in-process PubSub.
type Config struct {
	Router *Router
	// PubSub carries broadcasts; default a new in-process one.
	PubSub *pubsub.PubSub
	// Connect authorises a connection and returns its assigns, which are
	// copied into every channel joined on it. Nil accepts everybody with
	// no assigns. An error refuses the connection.
	Connect func(ctx context.Context, info *ConnectInfo) (map[string]any, error)
	// ID names a connection by its assigns ("users_socket:42"). Every
	// connection with an id subscribes to it: a "disconnect" broadcast on
	// that topic closes them all with code 1001. Empty means anonymous.
	ID func(assigns map[string]any) string
	// MaxChannels bounds joined channels per connection; default 100.
	MaxChannels int
	// MailboxSize bounds each channel's pending messages; default 1024.
	// A client that overflows it is flooding and is disconnected (1008);
	// server messages that overflow it crash the channel.
	MailboxSize int
	// JoinsPerSecond and JoinBurst rate-limit joins per connection with a
	// token bucket; defaults 10 per second and a burst of 100 or
	// MaxChannels, whichever is larger, so a page may join all its
	// channels at once. A join over the limit gets
	// the error reply {"reason":"rate limited"} (the phoenix client
	// retries it with its rejoin backoff). A negative rate disables it.
	JoinsPerSecond float64
	JoinBurst      int
	// EventsPerSecond and EventBurst rate-limit every other frame a client
	// sends (events and leaves; heartbeats are free) per connection;
	// defaults 100 per second and a burst of 500. A client over the limit
	// is flooding: Receive returns [ErrRateLimited] and the connection is
	// closed with 1008. A negative rate disables it.
	EventsPerSecond float64
	EventBurst      int
	// Metrics, if set, receives the server's metrics: connections,
	// channels joined by route pattern, joins and refusals, crashes,
	// broadcasts, deliveries and limit hits. Nil collects nothing.
	Metrics *metrics.Registry
	Logger  *slog.Logger
}

// serverMetrics are the series a Server updates; all nil without a
// Registry (updates are then no-ops).
type serverMetrics struct {
	conns      *metrics.GaugeVec   // transport
	joined     *metrics.GaugeVec   // pattern
	joins      *metrics.CounterVec // pattern
	refused    *metrics.CounterVec // pattern, reason
	crashes    *metrics.CounterVec // pattern
	limits     *metrics.CounterVec // limit
	broadcasts *metrics.Counter
	deliveries *metrics.Counter
	messages   *metrics.Counter
}

// Limit names, the "limit" label of parley_limit_hits_total.
const (
	LimitJoinRate    = "joins_per_second"
	LimitEventRate   = "events_per_second"
	LimitMaxChannels = "max_channels"
	LimitMailbox     = "mailbox"
)

func newServerMetrics(r *metrics.Registry) serverMetrics {
	return serverMetrics{
		conns:      r.Gauge("parley_connections", "Open socket connections.", "transport"),
		joined:     r.Gauge("parley_channels_joined", "Joined channels, by route pattern.", "pattern"),
		joins:      r.Counter("parley_joins_total", "Accepted channel joins, by route pattern.", "pattern"),
		refused:    r.Counter("parley_joins_refused_total", "Refused channel joins, by route pattern and reason.", "pattern", "reason"),
		crashes:    r.Counter("parley_channel_crashes_total", "Channels ended by a handler error or panic (phx_error).", "pattern"),
		limits:     r.Counter("parley_limit_hits_total", "Times a limit refused or disconnected a client.", "limit"),
		broadcasts: r.Counter("parley_broadcasts_total", "Broadcasts published through a channel Context or the Endpoint.").With(),
		deliveries: r.Counter("parley_deliveries_total", "Broadcast frames queued to connections (fastlane).").With(),
		messages:   r.Counter("parley_messages_in_total", "Frames received from clients.").With(),
	}
}

// Server accepts sockets. Build it with [NewServer].
type Server struct {
	cfg    Config
	router *Router
	m      serverMetrics
	// epoch is the origin of the sockets' token buckets (monotonic).
	epoch time.Time

	sockets atomic.Int64
	joins   atomic.Int64

	// subscribedHook, set by tests only, runs in a joining channel's
	// goroutine between its subscription and its history snapshot.
	subscribedHook func(topic string)
}

// NewServer returns a Server for cfg.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Router == nil {
		cfg.Router = &Router{}
	}
	if cfg.PubSub == nil {
		ps, err := pubsub.New(pubsub.Config{})
		if err != nil {
			return nil, fmt.Errorf("channel: %w", err)
		}
		cfg.PubSub = ps
	}
	if cfg.PubSub.HasAdapter() {
		for _, rt := range cfg.Router.routes {
			if rt.hist != nil {
				return nil, fmt.Errorf("%w: route %q", ErrClusteredHistory, rt.name)
			}
		}
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 100
	}
	if cfg.MailboxSize <= 0 {
		cfg.MailboxSize = 1024
	}
	if cfg.JoinsPerSecond == 0 {
		cfg.JoinsPerSecond = 10
	}
	if cfg.JoinBurst <= 0 {
		cfg.JoinBurst = max(cfg.MaxChannels, 100)
	}
	if cfg.EventsPerSecond == 0 {
		cfg.EventsPerSecond = 100
	}
	if cfg.EventBurst <= 0 {
		cfg.EventBurst = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, router: cfg.Router, m: newServerMetrics(cfg.Metrics), epoch: time.Now()}, nil
}

// PubSub returns the server's PubSub.
func (s *Server) PubSub() *pubsub.PubSub { return s.cfg.PubSub }

// Sockets returns the number of open sockets.
func (s *Server) Sockets() int64 { return s.sockets.Load() }

// ErrRefused is wrapped by Connect when the connect hook refuses.
var ErrRefused = errors.New("channel: connection refused")

// Connect runs the connect hook and returns the connection's Socket.
func (s *Server) Connect(ctx context.Context, info *ConnectInfo, conn Conn) (*Socket, error) {
	var assigns map[string]any
	if s.cfg.Connect != nil {
		a, err := s.cfg.Connect(ctx, info)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		assigns = a
	}
	sock := &Socket{
		srv:       s,
		conn:      conn,
		assigns:   assigns,
		chans:     make(map[string]*Context),
		transport: info.Transport,
		remote:    info.RemoteAddr,
	}
	if s.cfg.ID != nil {
		sock.id = s.cfg.ID(assigns)
	}
	if sock.id != "" {
		sock.idSub = &idSubscriber{sock: sock}
		if err := s.cfg.PubSub.Subscribe(sock.id, sock.idSub); err != nil {
			return nil, fmt.Errorf("channel: subscribe socket id: %w", err)
		}
	}
	s.sockets.Add(1)
	s.m.conns.With(info.Transport).Inc()
	return sock, nil
}

// Broadcast sends event with payload to every subscriber of topic on every
// node. The frame is encoded once.
func Broadcast(ctx context.Context, ps *pubsub.PubSub, topic, event string, payload any) error {
	m, err := broadcastMessage(topic, event, payload)
	if err != nil {
		return err
	}
	if _, err := ps.Broadcast(ctx, m); err != nil {
		return fmt.Errorf("channel: broadcast: %w", err)
	}
	return nil
}

// Broadcast is the package-level [Broadcast] on the server's PubSub that
// also records the message in the topic's history when the topic's route
// has one ([WithHistory]).
func (s *Server) Broadcast(ctx context.Context, topic, event string, payload any) error {
	return s.broadcast(ctx, topic, event, payload, nil)
}

// HasHistory reports whether the route of topic keeps a history
// ([WithHistory]), so that its broadcasts must go through
// [Server.Broadcast] to be numbered and recorded.
func (s *Server) HasHistory(topic string) bool {
	rt := s.router.match(topic)
	return rt != nil && rt.hist != nil
}

// broadcast publishes through the route's history, if any; from, if set,
// is skipped.
func (s *Server) broadcast(ctx context.Context, topic, event string, payload any, from pubsub.Subscriber) error {
	rt := s.router.match(topic)
	if rt == nil || rt.hist == nil {
		m, err := broadcastMessage(topic, event, payload)
		if err != nil {
			return err
		}
		if from != nil {
			_, err = s.cfg.PubSub.BroadcastFrom(ctx, from, m)
		} else {
			_, err = s.cfg.PubSub.Broadcast(ctx, m)
		}
		if err != nil {
			return fmt.Errorf("channel: broadcast: %w", err)
		}
		return nil
	}
	data, binary, err := encodePayload(payload)
	if err != nil {
		return err
	}
	if binary {
		// A binary broadcast frame has no ref to carry an offset.
		m := &pubsub.Message{Topic: topic, Event: event, Binary: true}
		if m.Payload, err = wire.AppendBinaryBroadcast(nil, topic, event, data); err != nil {
			return fmt.Errorf("channel: broadcast: %w", err)
		}
		if from != nil {
			_, err = s.cfg.PubSub.BroadcastFrom(ctx, from, m)
		} else {
			_, err = s.cfg.PubSub.Broadcast(ctx, m)
		}
		if err != nil {
			return fmt.Errorf("channel: broadcast: %w", err)
		}
		return nil
	}
	if err := rt.hist.stream(topic, s.cfg.PubSub).broadcast(ctx, s.cfg.PubSub, event, data, from); err != nil {
		return fmt.Errorf("channel: broadcast: %w", err)
	}
	return nil
}

// LocalBroadcast is Broadcast to this node's subscribers only.
func LocalBroadcast(ps *pubsub.PubSub, topic, event string, payload any) error {
	m, err := broadcastMessage(topic, event, payload)
	if err != nil {
		return err
	}
	ps.LocalBroadcast(m)
	return nil
}

func broadcastMessage(topic, event string, payload any) (*pubsub.Message, error) {
	data, binary, err := encodePayload(payload)
	if err != nil {
		return nil, err
	}
	m := &pubsub.Message{Topic: topic, Event: event, Binary: binary}
	if binary {
		m.Payload, err = wire.AppendBinaryBroadcast(nil, topic, event, data)
		if err != nil {
			return nil, fmt.Errorf("channel: broadcast: %w", err)
		}
	} else {
		m.Payload = wire.AppendText(nil, wire.Ref{}, wire.Ref{}, topic, event, data)
	}
	return m, nil
}

// BroadcastPayload extracts the event payload from a broadcast message
// published by this package: JSON text, or the raw bytes of a binary one.
func BroadcastPayload(m *pubsub.Message) ([]byte, error) {
	if m.Binary {
		p := m.Payload
		if len(p) < 3 || p[0] != wire.KindBroadcast || 3+int(p[1])+int(p[2]) > len(p) {
			return nil, fmt.Errorf("%w: bad binary broadcast", wire.ErrMalformed)
		}
		return p[3+int(p[1])+int(p[2]):], nil
	}
	msg, err := wire.DecodeText(m.Payload)
	if err != nil {
		return nil, err
	}
	return msg.Payload, nil
}

// idSubscriber closes the socket on a "disconnect" broadcast to its id.
type idSubscriber struct{ sock *Socket }

func (d *idSubscriber) Deliver(m *pubsub.Message) {
	if m.Event == "disconnect" {
		d.sock.log().Info("channel: socket disconnected by broadcast")
		d.sock.conn.Close(closeGoingAway, "disconnect")
	}
}

const (
	closeGoingAway     = 1001
	closePolicy        = 1008
	closeInvalidFrames = 1007
)

// Socket is one connection's channel multiplexer.
type Socket struct {
	srv     *Server
	conn    Conn
	assigns map[string]any
	id      string
	idSub   *idSubscriber
	// transport and remote label log lines; a logger is built only when
	// something is logged, so an idle socket holds none.
	transport, remote string

	// wg counts the mailbox and timer goroutines of this socket's channels.
	wg sync.WaitGroup

	// joinBucket and eventBucket are used by Receive only (see bucket).
	joinBucket, eventBucket bucket

	// mu guards chans and closed.
	mu     sync.Mutex
	chans  map[string]*Context
	closed bool
}

func (s *Socket) log() *slog.Logger {
	l := s.srv.cfg.Logger.With("transport", s.transport, "remote", s.remote)
	if s.id != "" {
		l = l.With("socket_id", s.id)
	}
	return l
}

// ID returns the socket id, or "".
func (s *Socket) ID() string { return s.id }

// Assigns returns a copy of the connect assigns.
func (s *Socket) Assigns() map[string]any { return maps.Clone(s.assigns) }

// Channels returns the number of joined (or joining) channels.
func (s *Socket) Channels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chans)
}

// CloseCode maps an error returned by Receive to a WebSocket close code:
// 1007 for a malformed frame, 1008 for a flood (mailbox overflow or event
// rate limit).
func CloseCode(err error) int {
	if errors.Is(err, ErrFlood) {
		return closePolicy
	}
	return closeInvalidFrames
}

// ErrFlood is returned by Receive when a client overflows a mailbox.
var ErrFlood = errors.New("channel: client flooding")

// ErrRateLimited is returned by Receive when a client sends events faster
// than Config.EventsPerSecond allows beyond its burst. It wraps [ErrFlood].
var ErrRateLimited = fmt.Errorf("%w: over the event rate limit", ErrFlood)

// bucket is a token bucket. Its fields are used only by Receive, which the
// transport calls from one goroutine at a time, so it needs no lock.
type bucket struct {
	tokens float64
	last   time.Duration // since Server.epoch; 0 means full
}

// allow takes a token if one is left, refilling at rate per second up to
// burst. A negative rate allows everything.
func (b *bucket) allow(now time.Duration, rate float64, burst int) bool {
	if rate < 0 {
		return true
	}
	if b.last == 0 {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+(now-b.last).Seconds()*rate)
	}
	b.last = max(now, 1)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Receive handles one inbound frame. It returns an error for a malformed
// frame (wrapping wire.ErrMalformed) or a flood ([ErrFlood]); the transport
// then closes the connection with [CloseCode].
func (s *Socket) Receive(data []byte, binary bool) error {
	m, err := wire.Decode(data, binary)
	if err != nil {
		s.log().Warn("channel: malformed frame", "err", err, "bytes", len(data))
		return err
	}
	srv := s.srv
	srv.m.messages.Inc()
	switch {
	case m.Topic == wire.TopicPhoenix && m.Event == wire.EventHeartbeat:
		s.send(wire.AppendReply(nil, wire.Ref{}, m.Ref, wire.TopicPhoenix, "ok", nil))
		return nil
	case m.Event == wire.EventJoin:
		s.join(m)
		return nil
	}
	if !s.eventBucket.allow(time.Since(srv.epoch), srv.cfg.EventsPerSecond, srv.cfg.EventBurst) {
		srv.m.limits.With(LimitEventRate).Inc()
		s.log().Warn("channel: client over the event rate limit, disconnecting", "topic", m.Topic,
			"per_second", srv.cfg.EventsPerSecond, "burst", srv.cfg.EventBurst)
		return ErrRateLimited
	}
	s.mu.Lock()
	c := s.chans[m.Topic]
	s.mu.Unlock()
	if c == nil {
		if m.Event == wire.EventLeave {
			s.send(wire.AppendReply(nil, m.JoinRef, m.Ref, m.Topic, "ok", nil))
			return nil
		}
		s.unmatched(m)
		return nil
	}
	if m.JoinRef != c.joinRef {
		return nil // a frame of an earlier join: ignored without a reply
	}
	kind := mailIn
	if m.Event == wire.EventLeave {
		kind = mailLeave
	}
	if !c.enqueue(mail{kind: kind, msg: m}) {
		srv.m.limits.With(LimitMailbox).Inc()
		s.log().Warn("channel: client flooding a channel mailbox", "topic", m.Topic, "limit", srv.cfg.MailboxSize)
		return ErrFlood
	}
	return nil
}

func (s *Socket) unmatched(m wire.Message) {
	if m.Event == wire.EventJoin {
		s.srv.m.refused.With("", "unmatched topic").Inc()
	}
	s.send(wire.AppendReply(nil, wire.Ref{}, m.Ref, m.Topic, "error", []byte(`{"reason":"unmatched topic"}`)))
}

func (s *Socket) send(frame []byte) {
	_ = s.conn.Send(wire.Frame{Data: frame})
}

func (s *Socket) join(m wire.Message) {
	rt := s.srv.router.match(m.Topic)
	if rt == nil {
		s.unmatched(m)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	old := s.chans[m.Topic]
	srv := s.srv
	if old == nil && len(s.chans) >= srv.cfg.MaxChannels {
		s.mu.Unlock()
		srv.m.limits.With(LimitMaxChannels).Inc()
		srv.m.refused.With(rt.name, "too many channels joined").Inc()
		s.log().Warn("channel: too many channels joined", "topic", m.Topic, "limit", srv.cfg.MaxChannels)
		s.send(wire.AppendReply(nil, m.JoinRef, m.Ref, m.Topic, "error", []byte(`{"reason":"too many channels joined"}`)))
		return
	}
	if !s.joinBucket.allow(time.Since(srv.epoch), srv.cfg.JoinsPerSecond, srv.cfg.JoinBurst) {
		s.mu.Unlock()
		srv.m.limits.With(LimitJoinRate).Inc()
		srv.m.refused.With(rt.name, "rate limited").Inc()
		s.log().Warn("channel: join over the rate limit", "topic", m.Topic,
			"per_second", srv.cfg.JoinsPerSecond, "burst", srv.cfg.JoinBurst)
		s.send(wire.AppendReply(nil, m.JoinRef, m.Ref, m.Topic, "error", []byte(`{"reason":"rate limited"}`)))
		return
	}
	c := newContext(s, m.Topic, m.JoinRef, rt.new())
	c.pattern = rt.name
	c.hist = rt.hist
	s.chans[m.Topic] = c
	s.mu.Unlock()
	s.srv.joins.Add(1)
	if old != nil {
		// As Phoenix: stop the old channel, run and answer the new join,
		// then send the old phx_close.
		old.stopped = make(chan struct{})
		c.replaces = old
		old.cancel()
		old.enqueueForce(mail{kind: mailDuplicate})
	}
	c.enqueueForce(mail{kind: mailJoin, msg: m})
}

// remove forgets c if it is still the current channel of its topic.
func (s *Socket) remove(c *Context) {
	s.mu.Lock()
	if s.chans[c.topic] == c {
		delete(s.chans, c.topic)
	}
	s.mu.Unlock()
}

// Closed ends the socket: every channel terminates with [ErrClosed]. It
// waits for the channels' goroutines.
func (s *Socket) Closed() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	chans := make([]*Context, 0, len(s.chans))
	for _, c := range s.chans {
		chans = append(chans, c)
	}
	clear(s.chans)
	s.mu.Unlock()
	if s.idSub != nil {
		s.srv.cfg.PubSub.Unsubscribe(s.id, s.idSub)
	}
	for _, c := range chans {
		// Cancel first: a handler blocked on its Context returns, so the
		// mailbox reaches the close.
		c.cancel()
		c.enqueueForce(mail{kind: mailClose})
	}
	s.wg.Wait()
	s.srv.sockets.Add(-1)
	s.srv.m.conns.With(s.transport).Dec()
}
