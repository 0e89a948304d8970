// Command server-gorilla is the wsmem candidate server for
// github.com/gorilla/websocket, in its low-memory configuration: one read
// goroutine per connection, a small read buffer of its own (the 4 KiB bufio
// reader from net/http is not kept), and write buffers borrowed from a pool
// only while a message is being written.
package main

import (
	"flag"
	"net/http"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/parley-go/parley/bench/wsmem/internal/harness"
)

// conn pairs a connection with the lock gorilla needs: at most one writer
// at a time (the echo in the read goroutine and the broadcast writers).
type conn struct {
	// mu serialises writes to ws.
	mu sync.Mutex
	ws *websocket.Conn
}

func main() {
	var opts harness.Options
	opts.Register(flag.CommandLine)
	readBuf := flag.Int("readbuf", 1024, "Upgrader.ReadBufferSize")
	writeBuf := flag.Int("writebuf", 1024, "Upgrader.WriteBufferSize (pooled)")
	flag.Parse()

	up := &websocket.Upgrader{
		ReadBufferSize:  *readBuf,
		WriteBufferSize: *writeBuf,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*http.Request) bool { return true },
	}

	harness.Serve(opts, &harness.Hub[*conn]{}, harness.Candidate[*conn, *websocket.PreparedMessage]{
		Name: "gorilla",
		Upgrade: func(hub *harness.Hub[*conn], w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			c := &conn{ws: ws}
			hub.Add(c)
			go func() {
				defer hub.Remove(c)
				defer ws.Close()
				for {
					typ, p, err := ws.ReadMessage()
					if err != nil {
						return
					}
					if typ != websocket.TextMessage {
						continue
					}
					c.mu.Lock()
					err = ws.WriteMessage(typ, p)
					c.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		},
		Write: func(c *conn, payload []byte) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.ws.WriteMessage(websocket.TextMessage, payload)
		},
		Prepare: func(payload []byte) (*websocket.PreparedMessage, error) {
			return websocket.NewPreparedMessage(websocket.TextMessage, payload)
		},
		WritePrepared: func(c *conn, pm *websocket.PreparedMessage) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.ws.WritePreparedMessage(pm)
		},
	})
}
