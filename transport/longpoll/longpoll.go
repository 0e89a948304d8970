// Package longpoll is Parley's long-poll transport, wire-compatible with the
// phoenix client's LongPoll: HTTP status always 200 with the real status in
// the JSON body; the first GET creates a session and answers 410 with its
// token; later GETs hold up to Window for frames; POSTs carry frames as
// ndjson (a line starting with "[" is JSON text, any other line base64 of a
// binary frame, at most 100 lines).
//
// Entry points: [New] builds a [Server], an http.Handler to mount at
// "<socket path>/longpoll"; [Server.Shutdown] ends every session.
//
// Concurrency: a Server is safe for concurrent use. A session's Receiver is
// called by one request at a time; sessions with no poll for IdleTimeout
// (default 1.5 × Window) end.
package longpoll

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/parley-go/parley/metrics"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

// Options configures a Server. The zero value gives the defaults.
type Options struct {
	CheckOrigin transport.OriginChecker // default transport.SameOrigin
	// Window is how long a GET waits for frames; default 10 s.
	Window time.Duration
	// IdleTimeout ends a session not polled for that long; default 1.5 × Window.
	IdleTimeout time.Duration
	// MaxFrameSize bounds one frame; default 1 MiB. MaxBodySize bounds a
	// POST body; default 8 MiB.
	MaxFrameSize int
	MaxBodySize  int64
	// MaxSessions bounds open sessions; default 100 000. An open over it
	// gets HTTP 503 (the client retries with backoff).
	MaxSessions int
	// QueueFrames and QueueBytes bound the frames buffered between polls;
	// defaults 1024 and 4 MiB. Overflow ends the session (slow consumer).
	QueueFrames int
	QueueBytes  int
	// ConnLimiter, if set, bounds sessions per remote IP address (shared
	// with other transports); an open over it gets HTTP 429 (the client
	// retries with backoff).
	ConnLimiter *transport.ConnLimiter
	// Metrics, if set, receives refusals, session ends by reason, limit
	// hits and the frames buffered between polls.
	Metrics *metrics.Registry
	Logger  *slog.Logger
}

const maxLines = 100

// Server serves long-poll sessions for a transport.Handler.
type Server struct {
	opts    Options
	handler transport.Handler
	m       *transport.Metrics
	wg      sync.WaitGroup

	// mu guards sessions and closed.
	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New returns a Server handing sessions to h.
func New(h transport.Handler, opts Options) *Server {
	if opts.CheckOrigin == nil {
		opts.CheckOrigin = transport.SameOrigin
	}
	if opts.Window <= 0 {
		opts.Window = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = opts.Window * 3 / 2
	}
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = 1 << 20
	}
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = 8 << 20
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100000
	}
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = 1024
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 4 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, handler: h, sessions: make(map[string]*session), m: transport.NewMetrics(opts.Metrics, "longpoll")}
	if s.m != nil {
		s.m.QueueFrames.Add(func() float64 { f, _ := s.Queued(); return float64(f) }, "longpoll")
		s.m.QueueBytes.Add(func() float64 { _, b := s.Queued(); return float64(b) }, "longpoll")
	}
	return s
}

// Queued returns the frames and bytes buffered for every session. It
// visits each session: meant for scrapes, not hot paths.
func (s *Server) Queued() (frames, bytes int) {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.mu.Lock()
		frames += len(ss.queue)
		bytes += ss.bytes
		ss.mu.Unlock()
	}
	return frames, bytes
}

// Sessions returns the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// session is one long-poll connection; it implements transport.Conn.
type session struct {
	srv    *Server
	token  string
	remote string
	recv   transport.Receiver
	log    *slog.Logger
	// idle ends the session when no poll comes; set under mu before the
	// session is published, then only Reset.
	idle *time.Timer

	// recvMu serialises Receive across concurrent POSTs.
	recvMu sync.Mutex

	// mu guards the fields below.
	mu     sync.Mutex
	queue  [][]byte
	bytes  int
	wake   chan struct{} // closed and replaced when frames arrive or the session ends
	closed bool
	ended  bool // recv.Closed has been scheduled
	// code and reason say why the session ended, for metrics.
	code   int
	reason string
}

func (ss *session) Send(f wire.Frame) error {
	if f.Binary {
		ss.log.Debug("longpoll: binary frame dropped: the client cannot receive binary over long-poll")
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return transport.ErrConnClosed
	}
	if len(ss.queue) >= ss.srv.opts.QueueFrames || ss.bytes+len(f.Data) > ss.srv.opts.QueueBytes {
		ss.log.Warn("longpoll: slow consumer disconnected", "queued_frames", len(ss.queue))
		ss.srv.m.LimitHit(transport.LimitOutboundQueue)
		ss.closeLocked(transport.CloseTryAgainLater, "slow consumer")
		return transport.ErrSlowConsumer
	}
	ss.queue = append(ss.queue, f.Data)
	ss.bytes += len(f.Data)
	ss.wakeLocked()
	return nil
}

// Close ends the session; the client's next poll gets 410 and it reconnects.
func (ss *session) Close(code int, reason string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.closeLocked(code, reason)
}

func (ss *session) wakeLocked() {
	close(ss.wake)
	ss.wake = make(chan struct{})
}

// closeLocked marks the session closed and ends it in another goroutine:
// Close may be called from a pubsub delivery, where Receiver.Closed (which
// unsubscribes) must not run.
func (ss *session) closeLocked(code int, reason string) {
	if ss.closed {
		return
	}
	ss.closed = true
	ss.code, ss.reason = code, reason
	ss.queue, ss.bytes = nil, 0
	ss.wakeLocked()
	ss.srv.wg.Add(1)
	go func() {
		defer ss.srv.wg.Done()
		ss.end()
	}()
}

// end removes the session and reports Closed once.
func (ss *session) end() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	ss.closed = true
	idle := ss.idle
	code, reason := ss.code, ss.reason
	ss.mu.Unlock()
	idle.Stop()
	ss.srv.m.Disconnect(code, reason)
	ss.srv.opts.ConnLimiter.Release(ss.remote)
	ss.srv.mu.Lock()
	if ss.srv.sessions[ss.token] == ss {
		delete(ss.srv.sessions, ss.token)
	}
	ss.srv.mu.Unlock()
	ss.recvMu.Lock()
	ss.recv.Closed()
	ss.recvMu.Unlock()
}

func (s *Server) writeStatus(w http.ResponseWriter, status int, token string, messages [][]byte) {
	buf := make([]byte, 0, 64)
	buf = append(buf, `{"status":`...)
	buf = strconv.AppendInt(buf, int64(status), 10)
	if token != "" {
		buf = append(buf, `,"token":`...)
		buf = wire.AppendString(buf, token)
	}
	if messages != nil || status == 410 || status == 200 {
		buf = append(buf, `,"messages":[`...)
		for i, m := range messages {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = wire.AppendString(buf, string(m))
		}
		buf = append(buf, ']')
	}
	buf = append(buf, '}')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

// ServeHTTP serves GET (poll or open), POST (send) and OPTIONS (CORS).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Headers", r.Header.Get("Access-Control-Request-Headers"))
		h.Set("Access-Control-Allow-Methods", "get, post, options")
		h.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return
	case http.MethodGet, http.MethodPost:
	default:
		http.Error(w, "longpoll: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.opts.CheckOrigin(r) {
		s.m.Refused("origin")
		s.opts.Logger.Warn("longpoll: origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "longpoll: origin not allowed", http.StatusForbidden)
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = r.Header.Get("X-Phoenix-Longpoll-Token")
	}
	s.mu.Lock()
	ss := s.sessions[token]
	s.mu.Unlock()
	if r.Method == http.MethodPost {
		if ss == nil {
			s.writeStatus(w, 410, "", nil)
			return
		}
		s.publish(w, r, ss)
		return
	}
	if ss == nil {
		s.open(w, r)
		return
	}
	s.poll(w, r, ss)
}

func newToken() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) open(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	if !transport.CheckVsn(params) {
		s.m.Refused("vsn")
		s.writeStatus(w, 403, "", nil)
		return
	}
	s.mu.Lock()
	closed, full := s.closed, len(s.sessions) >= s.opts.MaxSessions
	s.mu.Unlock()
	if closed || full {
		// A real HTTP error with a body that is not JSON: the phoenix
		// client reads it as status 0 and retries with backoff (a 503 in
		// the JSON body would be an "unhandled poll status" to it).
		if closed {
			s.m.Refused("shutdown")
		} else {
			s.m.Refused(transport.LimitMaxSessions)
			s.m.LimitHit(transport.LimitMaxSessions)
			s.opts.Logger.Warn("longpoll: session refused: at MaxSessions", "limit", s.opts.MaxSessions)
		}
		http.Error(w, "longpoll: unavailable", http.StatusServiceUnavailable)
		return
	}
	if !s.opts.ConnLimiter.Acquire(r.RemoteAddr) {
		s.m.Refused(transport.LimitConnsPerAddr)
		s.m.LimitHit(transport.LimitConnsPerAddr)
		s.opts.Logger.Warn("longpoll: too many sessions from one address", "remote", r.RemoteAddr,
			"limit", s.opts.ConnLimiter.Max())
		http.Error(w, "longpoll: too many connections from your address", http.StatusTooManyRequests)
		return
	}
	ss := &session{srv: s, token: newToken(), remote: r.RemoteAddr, wake: make(chan struct{}), log: s.opts.Logger.With("remote", r.RemoteAddr)}
	info := &transport.ConnectInfo{
		Params: params, AuthToken: r.Header.Get("X-Phoenix-Authtoken"), Header: r.Header,
		RemoteAddr: r.RemoteAddr, Transport: "longpoll",
	}
	recv, err := s.handler.Connect(r.Context(), info, ss)
	if err != nil {
		s.opts.ConnLimiter.Release(r.RemoteAddr)
		s.m.Refused("connect")
		s.opts.Logger.Debug("longpoll: connect refused", "remote", r.RemoteAddr, "err", err)
		s.writeStatus(w, 403, "", nil)
		return
	}
	ss.recv = recv
	ss.mu.Lock()
	ss.idle = time.AfterFunc(s.opts.IdleTimeout, func() {
		ss.mu.Lock()
		ss.closeLocked(1006, "idle timeout")
		ss.mu.Unlock()
	})
	ss.mu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ss.idle.Stop()
		recv.Closed()
		s.opts.ConnLimiter.Release(r.RemoteAddr)
		http.Error(w, "longpoll: unavailable", http.StatusServiceUnavailable)
		return
	}
	s.sessions[ss.token] = ss
	s.mu.Unlock()
	s.writeStatus(w, 410, ss.token, [][]byte{})
}

func (s *Server) poll(w http.ResponseWriter, r *http.Request, ss *session) {
	ss.idle.Reset(s.opts.IdleTimeout + s.opts.Window)
	defer ss.idle.Reset(s.opts.IdleTimeout)
	timer := time.NewTimer(s.opts.Window)
	defer timer.Stop()
	for {
		ss.mu.Lock()
		if ss.closed {
			ss.mu.Unlock()
			s.writeStatus(w, 410, "", nil)
			return
		}
		if len(ss.queue) > 0 {
			msgs := ss.queue
			ss.queue, ss.bytes = nil, 0
			ss.mu.Unlock()
			s.writeStatus(w, 200, ss.token, msgs)
			return
		}
		wake := ss.wake
		ss.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			s.writeStatus(w, 204, ss.token, nil)
			return
		case <-r.Context().Done():
			return
		}
	}
}

var errTooManyLines = errors.New("longpoll: more than 100 lines in one POST")

func (s *Server) publish(w http.ResponseWriter, r *http.Request, ss *session) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodySize))
	if err != nil {
		s.writeStatus(w, 413, "", nil)
		return
	}
	var frames []wire.Frame
	if ct := r.Header.Get("Content-Type"); len(ct) >= 20 && ct[:20] == "application/x-ndjson" {
		frames, err = splitNDJSON(body)
		if err != nil {
			ss.log.Warn("longpoll: bad POST body", "err", err)
			s.writeStatus(w, 400, "", nil)
			return
		}
	} else {
		frames = []wire.Frame{{Data: body}}
	}
	ss.recvMu.Lock()
	defer ss.recvMu.Unlock()
	ss.mu.Lock()
	ended := ss.ended
	ss.mu.Unlock()
	if ended {
		s.writeStatus(w, 410, "", nil)
		return
	}
	for _, f := range frames {
		if len(f.Data) > s.opts.MaxFrameSize {
			ss.log.Warn("longpoll: frame too big", "bytes", len(f.Data))
			s.m.LimitHit(transport.LimitFrameSize)
			ss.Close(transport.CloseTooBig, "frame too big")
			s.writeStatus(w, 413, "", nil)
			return
		}
		if err := ss.recv.Receive(f); err != nil {
			code, reason := transport.CloseInvalidPayload, "bad frame"
			var ce *transport.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			ss.Close(code, reason)
			s.writeStatus(w, 400, "", nil)
			return
		}
	}
	s.writeStatus(w, 200, "", nil)
}

// splitNDJSON splits a POST body into frames: JSON text lines and base64
// binary lines.
func splitNDJSON(body []byte) ([]wire.Frame, error) {
	var frames []wire.Frame
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if len(frames) == maxLines {
			return nil, errTooManyLines
		}
		if line[0] == '[' {
			frames = append(frames, wire.Frame{Data: bytes.Clone(line)})
			continue
		}
		bin, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil {
			return nil, errors.New("longpoll: a line is neither JSON nor base64")
		}
		frames = append(frames, wire.Frame{Data: bin, Binary: true})
	}
	return frames, sc.Err()
}

// Shutdown ends every session (their clients' next poll gets 410) and
// waits for the server's goroutines, which report Closed to each session's
// Receiver once the Receive calls in flight return. When ctx ends first it
// still waits for them, as the WebSocket transport does, and returns
// ctx.Err(): nothing of the server runs after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.Close(transport.CloseServiceRestart, "server restart")
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		<-done
		return ctx.Err()
	}
}
