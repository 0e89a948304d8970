// Command server-coder is the wsmem candidate server for
// github.com/coder/websocket: websocket.Accept with compression disabled and
// one goroutine per connection blocked in Conn.Read. The library keeps the
// bufio reader and writer it gets from the http.Hijacker for the life of the
// connection and has no option to size or drop them, and no API to write
// pre-framed bytes, so only the plain broadcast mode exists.
package main

import (
	"context"
	"flag"
	"net/http"

	"github.com/coder/websocket"

	"github.com/parley-go/parley/bench/wsmem/internal/harness"
)

func main() {
	var opts harness.Options
	opts.Register(flag.CommandLine)
	flag.Parse()

	accept := &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	}

	harness.Serve(opts, &harness.Hub[*websocket.Conn]{}, harness.Candidate[*websocket.Conn, struct{}]{
		Name: "coder",
		Upgrade: func(hub *harness.Hub[*websocket.Conn], w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, accept)
			if err != nil {
				return
			}
			hub.Add(c)
			go func() {
				defer hub.Remove(c)
				defer c.CloseNow()
				ctx := context.Background()
				for {
					typ, p, err := c.Read(ctx)
					if err != nil {
						return
					}
					if typ != websocket.MessageText {
						continue
					}
					if err := c.Write(ctx, typ, p); err != nil {
						return
					}
				}
			}()
		},
		Write: func(c *websocket.Conn, payload []byte) error {
			return c.Write(context.Background(), websocket.MessageText, payload)
		},
	})
}
