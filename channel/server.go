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
	Logger      *slog.Logger
}

// Server accepts sockets. Build it with [NewServer].
type Server struct {
	cfg    Config
	router *Router

	sockets atomic.Int64
	joins   atomic.Int64
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
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 100
	}
	if cfg.MailboxSize <= 0 {
		cfg.MailboxSize = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, router: cfg.Router}, nil
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
// 1007 for a malformed frame, 1008 for a flood.
func CloseCode(err error) int {
	if errors.Is(err, ErrFlood) {
		return closePolicy
	}
	return closeInvalidFrames
}

// ErrFlood is returned by Receive when a client overflows a mailbox.
var ErrFlood = errors.New("channel: client flooding")

// Receive handles one inbound frame. It returns an error for a malformed
// frame (wrapping wire.ErrMalformed) or a flood ([ErrFlood]); the transport
// then closes the connection with [CloseCode].
func (s *Socket) Receive(data []byte, binary bool) error {
	m, err := wire.Decode(data, binary)
	if err != nil {
		s.log().Warn("channel: malformed frame", "err", err, "bytes", len(data))
		return err
	}
	switch {
	case m.Topic == wire.TopicPhoenix && m.Event == wire.EventHeartbeat:
		s.send(wire.AppendReply(nil, wire.Ref{}, m.Ref, wire.TopicPhoenix, "ok", nil))
		return nil
	case m.Event == wire.EventJoin:
		s.join(m)
		return nil
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
		s.log().Warn("channel: client flooding a channel mailbox", "topic", m.Topic)
		return ErrFlood
	}
	return nil
}

func (s *Socket) unmatched(m wire.Message) {
	s.send(wire.AppendReply(nil, wire.Ref{}, m.Ref, m.Topic, "error", []byte(`{"reason":"unmatched topic"}`)))
}

func (s *Socket) send(frame []byte) {
	_ = s.conn.Send(wire.Frame{Data: frame})
}

func (s *Socket) join(m wire.Message) {
	newChannel, ok := s.srv.router.Match(m.Topic)
	if !ok {
		s.unmatched(m)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	old := s.chans[m.Topic]
	if old == nil && len(s.chans) >= s.srv.cfg.MaxChannels {
		s.mu.Unlock()
		s.log().Warn("channel: too many channels joined", "topic", m.Topic, "limit", s.srv.cfg.MaxChannels)
		s.send(wire.AppendReply(nil, m.JoinRef, m.Ref, m.Topic, "error", []byte(`{"reason":"too many channels joined"}`)))
		return
	}
	c := newContext(s, m.Topic, m.JoinRef, newChannel())
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
}
