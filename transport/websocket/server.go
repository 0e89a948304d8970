// Package websocket is Parley's WebSocket transport (RFC 6455, server side),
// written for many mostly idle connections and for broadcasts written as the
// same bytes to many connections.
//
// Entry points: [New] builds a [Server], an http.Handler to mount at
// "<socket path>/websocket"; [Server.Shutdown] drains it.
//
// Per connection, on Linux: no goroutine while idle. A connection between
// frames is parked on the server's epoll poller, which starts a reader when
// bytes arrive; the reader reads frame headers straight from the socket (no
// read buffer is held) and parks the connection again (see park.go). On
// other systems each connection has one reader goroutine. Writes are made
// by a few flushers shared by all connections, each connection's pending frames
// coalesced into one non-blocking writev; only a connection whose socket
// buffer is full gets a writer goroutine of its own until it has caught up
// (see flush.go). The outbound queue is bounded in frames and bytes; a
// connection that overflows it is a slow consumer and is closed with code
// 1013.
//
// The opening handshake is checked strictly (RFC 6455 §4.2.1): HTTP/1.1 or
// later, GET, no request body (the bytes after the headers are frames),
// token lists in Upgrade and Connection, exactly one 16-byte key, version 13
// (else 426 naming it). Each refusal is logged at debug level. Then it
// follows the Phoenix socket: origin check (only
// when an Origin header is present), vsn=2.0.0, the auth-token subprotocol
// (the response always selects "phoenix"), then the Handler's Connect.
//
// With [Options.Compression], permessage-deflate (RFC 7692) is negotiated
// with clients that offer it, always without context takeover, so that a
// broadcast is compressed once for every subscriber and an idle connection
// holds no compressor (see deflate.go).
//
// Concurrency: a Server is safe for concurrent use; the Receiver of a
// connection is called from one goroutine at a time, in frame order.
package websocket

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/transport"
)

// Options configures a Server. The zero value gives the defaults.
type Options struct {
	// CheckOrigin defaults to transport.SameOrigin.
	CheckOrigin transport.OriginChecker
	// MaxFrameSize bounds one inbound message; default 1 MiB. A larger one
	// closes the connection with 1009.
	MaxFrameSize int
	// IdleTimeout closes a connection with no inbound frame; default 60 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write; default 10 s.
	WriteTimeout time.Duration
	// CloseTimeout bounds the close handshake; default 2 s.
	CloseTimeout time.Duration
	// QueueFrames and QueueBytes bound the outbound queue; defaults 1024
	// frames and 4 MiB.
	QueueFrames int
	QueueBytes  int
	// DrainBatch connections are closed every DrainInterval on Shutdown;
	// defaults 10 000 and 2 s, as Phoenix.
	DrainBatch    int
	DrainInterval time.Duration
	// ConnLimiter, if set, bounds connections per remote IP address
	// (shared with other transports); an upgrade over it gets HTTP 429.
	ConnLimiter *transport.ConnLimiter
	// Metrics, if set, receives connection refusals, disconnects by close
	// code and reason, limit hits and outbound queue depth.
	Metrics *metrics.Registry
	// Compression negotiates permessage-deflate (RFC 7692) with clients
	// that offer it, as browsers do (Phoenix: compress: true). Messages
	// are compressed without context takeover either way, so a broadcast
	// is compressed once for all its subscribers and an idle connection
	// holds no compressor; an inbound message may inflate to MaxFrameSize
	// (more closes with 1009). Default off.
	Compression bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server accepts WebSocket connections for a transport.Handler.
type Server struct {
	opts    Options
	handler transport.Handler
	m       *transport.Metrics

	wg            sync.WaitGroup
	slowConsumers atomic.Int64

	// flushers write connections' queued frames (see flush.go); a new
	// connection takes the next one in turn.
	flushers  []*flusher
	nextShard atomic.Uint32
	// handoffs counts batches a socket could not take at once, handed to
	// a writer goroutine of their connection.
	handoffs atomic.Int64

	// deflater compresses and inflates messages of the connections that
	// negotiated permessage-deflate (deflate.go); nil without Compression.
	deflater *deflater

	// readBufs holds the buffers readers borrow for a burst (park.go).
	readBufs sync.Pool

	// pollMu guards poll, the poller that parks idle connections (see
	// park.go); nil until the first connection parks.
	pollMu sync.Mutex
	poll   *poller

	// mu guards conns and closed.
	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
}

// New returns a Server that hands accepted connections to h.
func New(h transport.Handler, opts Options) *Server {
	if opts.CheckOrigin == nil {
		opts.CheckOrigin = transport.SameOrigin
	}
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = 1 << 20
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 2 * time.Second
	}
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = 1024
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 4 << 20
	}
	if opts.DrainBatch <= 0 {
		opts.DrainBatch = 10000
	}
	if opts.DrainInterval <= 0 {
		opts.DrainInterval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, handler: h, conns: make(map[*conn]struct{}), m: transport.NewMetrics(opts.Metrics, "websocket")}
	if opts.Compression {
		s.deflater = newDeflater()
	}
	s.readBufs.New = func() any { b := make([]byte, readBufSize); return &b }
	s.flushers = make([]*flusher, runtime.GOMAXPROCS(0))
	for i := range s.flushers {
		s.flushers[i] = &flusher{srv: s}
	}
	if s.m != nil {
		s.m.QueueFrames.Add(func() float64 { f, _ := s.Queued(); return float64(f) }, "websocket")
		s.m.QueueBytes.Add(func() float64 { _, b := s.Queued(); return float64(b) }, "websocket")
	}
	return s
}

// Queued returns the frames and bytes waiting in the outbound queues of
// every connection. It visits each connection: meant for scrapes, not hot
// paths.
func (s *Server) Queued() (frames, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.mu.Lock()
		frames += len(c.queue)
		bytes += c.queuedBytes
		c.mu.Unlock()
	}
	return frames, bytes
}

// Conns returns the number of open connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Compressions returns how many outbound messages were compressed: with
// permessage-deflate, a message sent to many connections (a broadcast)
// counts once.
func (s *Server) Compressions() int64 {
	if s.deflater == nil {
		return 0
	}
	return s.deflater.compressions.Load()
}

// SlowConsumers returns how many connections were closed for overflowing
// their outbound queue.
func (s *Server) SlowConsumers() int64 { return s.slowConsumers.Load() }

// ServeHTTP performs the handshake and starts the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ref := checkUpgrade(r)
	if ref != nil {
		s.m.Refused("bad upgrade")
		s.opts.Logger.Debug("websocket: handshake refused", "remote", r.RemoteAddr, "status", ref.status, "reason", ref.msg)
		for k, v := range ref.header {
			w.Header()[k] = v
		}
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			// Do not read a body meant as frames: close after the answer.
			w.Header().Set("Connection", "close")
		}
		http.Error(w, ref.msg, ref.status)
		return
	}
	if !s.opts.CheckOrigin(r) {
		s.m.Refused("origin")
		s.opts.Logger.Warn("websocket: origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "websocket: origin not allowed", http.StatusForbidden)
		return
	}
	params := r.URL.Query()
	if !transport.CheckVsn(params) {
		s.m.Refused("vsn")
		http.Error(w, "websocket: unsupported protocol vsn", http.StatusForbidden)
		return
	}
	offered, token, tokenOK := subprotocols(r)
	if !tokenOK {
		s.m.Refused("auth token")
		http.Error(w, "websocket: bad auth token", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.m.Refused("shutdown")
		http.Error(w, "websocket: shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.opts.ConnLimiter.Acquire(r.RemoteAddr) {
		s.m.Refused(transport.LimitConnsPerAddr)
		s.m.LimitHit(transport.LimitConnsPerAddr)
		s.opts.Logger.Warn("websocket: too many connections from one address", "remote", r.RemoteAddr,
			"limit", s.opts.ConnLimiter.Max())
		http.Error(w, "websocket: too many connections from your address", http.StatusTooManyRequests)
		return
	}
	// Until the read loop owns the connection, a failure releases the
	// address's slot here.
	owned := false
	defer func() {
		if !owned {
			s.opts.ConnLimiter.Release(r.RemoteAddr)
		}
	}()

	// The extension is settled before Connect, which may Send at once.
	ext := ""
	if s.deflater != nil {
		ext = negotiateDeflate(r.Header)
	}
	c := &conn{srv: s, remote: r.RemoteAddr, closeDone: make(chan struct{}), deflate: ext != ""}
	info := &transport.ConnectInfo{
		Params: params, AuthToken: token, Header: r.Header, RemoteAddr: r.RemoteAddr, Transport: "websocket",
	}
	recv, err := s.handler.Connect(r.Context(), info, c)
	if err != nil {
		s.m.Refused("connect")
		s.opts.Logger.Debug("websocket: connect refused", "remote", r.RemoteAddr, "err", err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	c.recv = recv
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		recv.Closed()
		http.Error(w, "websocket: cannot hijack", http.StatusInternalServerError)
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(key) + "\r\n"
	if offered {
		resp += "Sec-WebSocket-Protocol: phoenix\r\n"
	}
	if ext != "" {
		resp += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	resp += "\r\n"
	_ = nc.SetDeadline(time.Now().Add(s.opts.WriteTimeout))
	if _, err := nc.Write([]byte(resp)); err != nil {
		_ = nc.Close()
		recv.Closed()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c.nc = nc
	c.rd = nc
	c.raw = rawConn(nc)
	c.shard = s.flushers[int(s.nextShard.Add(1))%len(s.flushers)]
	if brw.Reader.Buffered() > 0 {
		c.rd = brw.Reader
	}
	if !s.track(c) {
		_ = nc.Close()
		recv.Closed()
		return
	}
	c.mu.Lock()
	c.started = true
	c.kickLocked()
	c.mu.Unlock()
	owned = true
	// The connection is parked, or its read loop runs in a fresh
	// goroutine: either way the HTTP server's goroutine, with its larger
	// stack, ends now.
	c.startReading()
}

// track registers c; false once the server is shut down.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1) // for the reading, until finish
	return true
}

// forget unregisters c once its read loop has ended: it frees the
// address's slot and counts how the connection ended.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.opts.ConnLimiter.Release(c.remote)
	if s.m == nil {
		return
	}
	c.mu.Lock()
	code, reason, closing, idle := c.closeCode, c.closeReason, c.closing, c.idleExpired
	c.mu.Unlock()
	switch {
	case idle:
		code, reason = 1006, "idle timeout"
	case !closing:
		// No close frame either way: the network failed or the client
		// vanished.
		code, reason = 1006, "connection lost"
	case reason == "":
		reason = "client" // we echoed the client's close
	}
	s.m.Disconnect(code, reason)
}

// Shutdown stops accepting connections, closes the open ones with code 1012
// (service restart, so clients reconnect elsewhere) in batches of
// DrainBatch every DrainInterval, and waits for every goroutine of the
// server. When ctx ends first, the remaining connections are cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()

	var err error
	for len(all) > 0 {
		n := min(s.opts.DrainBatch, len(all))
		for _, c := range all[:n] {
			c.Close(transport.CloseServiceRestart, "server restart")
		}
		all = all[n:]
		if len(all) == 0 {
			break
		}
		t := time.NewTimer(s.opts.DrainInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.abort(errors.New("websocket: shutdown deadline"))
	}
	s.mu.Unlock()
	<-done
	if err == nil {
		err = ctx.Err()
	}
	return err
}
