package wsclient_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-go/parley/internal/wsclient"
	"github.com/parley-go/parley/transport/websocket"
)

// Dial from a chosen loopback source address, send a message, read the
// echo and close with the handshake.
func Example() {
	s := websocket.New(&echo{}, websocket.Options{Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(s)
	defer func() {
		hs.Close()
		_ = s.Shutdown(context.Background())
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket/websocket?vsn=2.0.0"
	c, err := wsclient.Dial(ctx, u, &wsclient.Options{LocalAddr: netip.MustParseAddr("127.0.0.2")})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Write(ctx, wsclient.Text, []byte(`[null,"1","phoenix","heartbeat",{}]`))
	_, msg, err := c.Read(ctx)
	fmt.Println(string(msg), err)
	fmt.Println(c.Close(ctx, 1000, "bye"))
	// Output:
	// [null,"1","phoenix","heartbeat",{}] <nil>
	// <nil>
}
