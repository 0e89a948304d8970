// Command server-gws is the wsmem candidate server for github.com/lxzan/gws:
// an Upgrader with parallel message handling off, a small read buffer and
// UTF-8 checking off, and Conn.ReadLoop on its own goroutine per connection
// (as its README advises when sharing a net/http server). gws keeps the
// pooled bufio.Reader for as long as ReadLoop runs. Its pre-framed path is
// gws.Broadcaster, which frames once and queues the write on the
// connection's asynchronous write queue (a goroutine is started on demand and
// exits when the queue is empty).
package main

import (
	"flag"
	"net/http"

	"github.com/lxzan/gws"

	"github.com/parley-go/parley/bench/wsmem/internal/harness"
)

// events is the gws event handler: it registers connections and echoes text.
type events struct {
	gws.BuiltinEventHandler
	hub *harness.Hub[*gws.Conn]
}

func (e *events) OnOpen(c *gws.Conn) { e.hub.Add(c) }

func (e *events) OnClose(c *gws.Conn, err error) { e.hub.Remove(c) }

func (e *events) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (e *events) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode == gws.OpcodeText {
		_ = c.WriteMessage(gws.OpcodeText, msg.Bytes())
	}
}

func main() {
	var opts harness.Options
	opts.Register(flag.CommandLine)
	readBuf := flag.Int("readbuf", 1024, "ServerOption.ReadBufferSize")
	flag.Parse()

	ev := &events{hub: &harness.Hub[*gws.Conn]{}}
	up := gws.NewUpgrader(ev, &gws.ServerOption{
		ReadBufferSize:   *readBuf,
		ParallelEnabled:  false,
		CheckUtf8Enabled: false,
	})

	harness.Serve(opts, ev.hub, harness.Candidate[*gws.Conn, *gws.Broadcaster]{
		Name: "gws",
		Upgrade: func(hub *harness.Hub[*gws.Conn], w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			go c.ReadLoop()
		},
		Write: func(c *gws.Conn, payload []byte) error {
			return c.WriteMessage(gws.OpcodeText, payload)
		},
		Prepare: func(payload []byte) (*gws.Broadcaster, error) {
			return gws.NewBroadcaster(gws.OpcodeText, payload), nil
		},
		WritePrepared: func(c *gws.Conn, b *gws.Broadcaster) error {
			return b.Broadcast(c)
		},
		Release: func(b *gws.Broadcaster) { _ = b.Close() },
	})
}
