// Package transport holds what the WebSocket and long-poll transports share:
// the [Handler] that accepts a connection, the [Conn] a transport hands it,
// the [Receiver] that consumes inbound frames, close codes and the origin
// check.
//
// A transport never imports the channel layer: the root package adapts a
// channel.Server to a [Handler].
package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/parley-go/parley/wire"
)

// Close codes sent by the transports. 1001 and 1012 ask the client to
// reconnect; Parley never closes with 1000 to mean "restart".
const (
	CloseGoingAway      = 1001 // server asked the client to go (socket-id disconnect)
	CloseProtocolError  = 1002 // a WebSocket protocol violation
	CloseInvalidPayload = 1007 // a malformed frame
	ClosePolicy         = 1008 // a limit was exceeded (flood)
	CloseTooBig         = 1009 // a frame over the size limit
	CloseInternalError  = 1011 // a server error
	CloseServiceRestart = 1012 // the server is shutting down or draining
	CloseTryAgainLater  = 1013 // a slow consumer overflowed its outbound queue
)

// ErrSlowConsumer is reported when a connection's outbound queue overflows.
var ErrSlowConsumer = errors.New("transport: slow consumer: outbound queue full")

// ErrConnClosed is returned by Send on a closed connection.
var ErrConnClosed = errors.New("transport: connection closed")

// CloseError asks the transport to close the connection with Code.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("transport: close %d: %s", e.Code, e.Reason) }

// Conn is the outbound half of a connection. Send never blocks: it queues the
// frame (the same Frame may be queued on many connections) or fails.
type Conn interface {
	Send(f wire.Frame) error
	// Close closes the connection with a close code (WebSocket) after
	// the frames already queued.
	Close(code int, reason string)
}

// ConnectInfo describes a connection attempt.
type ConnectInfo struct {
	// Params is the query string, vsn included.
	Params url.Values
	// AuthToken is the token of the phoenix client's authToken option.
	AuthToken  string
	Header     http.Header
	RemoteAddr string
	// Transport is "websocket" or "longpoll".
	Transport string
}

// Receiver consumes the inbound frames of one connection. The transport calls
// Receive sequentially from one goroutine at a time, then Closed once.
type Receiver interface {
	// Receive handles one inbound frame. An error closes the connection;
	// a *CloseError chooses the close code.
	Receive(f wire.Frame) error
	// Closed reports that the connection is gone.
	Closed()
}

// Handler accepts connections.
type Handler interface {
	// Connect decides whether to accept a connection. On success it
	// returns the Receiver for its inbound frames; it may Send on c at
	// once. An error refuses the connection (HTTP 403).
	Connect(ctx context.Context, info *ConnectInfo, c Conn) (Receiver, error)
}

// OriginChecker reports whether a request's Origin may open a socket.
type OriginChecker func(r *http.Request) bool

// SameOrigin accepts requests without an Origin header and requests whose
// Origin host equals the request's Host. It is the default.
func SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// AllowOrigins returns an OriginChecker accepting the listed origins, each
// "scheme://host:port" with scheme and port optional and "//*.example.com"
// wildcards, as Phoenix's check_origin list. Requests without Origin pass.
func AllowOrigins(origins ...string) OriginChecker {
	type rule struct{ scheme, host, port string }
	rules := make([]rule, 0, len(origins))
	for _, o := range origins {
		if !strings.Contains(o, "//") {
			o = "//" + o
		}
		u, err := url.Parse(o)
		if err != nil {
			continue
		}
		rules = append(rules, rule{u.Scheme, strings.ToLower(u.Hostname()), u.Port()})
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		host := strings.ToLower(u.Hostname())
		for _, rl := range rules {
			if rl.scheme != "" && rl.scheme != u.Scheme {
				continue
			}
			if rl.port != "" && rl.port != u.Port() {
				continue
			}
			if rl.host == host || (strings.HasPrefix(rl.host, "*.") && strings.HasSuffix(host, rl.host[1:])) {
				return true
			}
		}
		return false
	}
}

// CheckVsn reports whether the vsn query parameter selects the V2 protocol,
// the only one Parley speaks. A missing vsn means 1.0.0, which is refused.
func CheckVsn(params url.Values) bool {
	v := params.Get("vsn")
	return v == "2.0.0" || strings.HasPrefix(v, "2.0.")
}
