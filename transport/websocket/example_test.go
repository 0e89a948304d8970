package websocket_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/transport/websocket"
	"github.com/parley-go/parley/wire"
)

// upper answers every frame with the same text in upper case.
type upper struct{}

func (upper) Connect(_ context.Context, info *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	return upperConn{c}, nil
}

type upperConn struct{ c transport.Conn }

func (u upperConn) Receive(f wire.Frame) error {
	return u.c.Send(wire.Frame{Data: []byte(strings.ToUpper(string(f.Data)))})
}

func (upperConn) Closed() {}

// A Server is an http.Handler for "<socket path>/websocket": it performs
// the handshake, hands each connection to the transport.Handler and moves
// frames. Between frames a connection costs no goroutine (on Linux), and
// what is sent is written by the server's flushers. Shutdown closes the
// connections with 1012 and waits for every goroutine.
func Example() {
	s := websocket.New(upper{}, websocket.Options{Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsclient.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/socket/websocket?vsn=2.0.0", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	for _, m := range []string{"hello", "parked again"} {
		_ = c.Write(ctx, wsclient.Text, []byte(m))
		_, reply, err := c.Read(ctx)
		fmt.Println(string(reply), err)
	}
	// Output:
	// HELLO <nil>
	// PARKED AGAIN <nil>
}

// With Options.Compression the server negotiates permessage-deflate with a
// client that offers it (browsers do): messages are compressed without
// context takeover, so one message sent to many connections is compressed
// once, which Server.Compressions counts.
func ExampleOptions_compression() {
	s := websocket.New(upper{}, websocket.Options{Compression: true, Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsclient.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/socket/websocket?vsn=2.0.0",
		&wsclient.Options{Compression: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	_ = c.Write(ctx, wsclient.Text, []byte(strings.Repeat("compress me ", 10)))
	_, reply, err := c.Read(ctx)
	fmt.Println(string(reply[:24]), len(reply), err)
	fmt.Println("compressed messages:", s.Compressions())
	// Output:
	// COMPRESS ME COMPRESS ME  120 <nil>
	// compressed messages: 1
}
