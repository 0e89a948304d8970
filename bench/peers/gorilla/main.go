// Command gorilla is the gorilla/websocket peer of Parley's load tool, in
// the hub pattern of gorilla's chat example: one hub goroutine owns the
// topic → clients sets and receives register, unregister and broadcast on
// channels; every client has a read goroutine and a write goroutine fed
// by a buffered send channel of 256 messages, and a client whose channel
// is full when a broadcast arrives is dropped (the example's slow-client
// rule). Each message is one text frame, written with WriteMessage (one
// write system call per frame; gorilla cannot gather frames). Buffers as
// in bench/wsmem: 1 KiB reads, a pooled 1 KiB write buffer.
package main

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/parley-go/parley/bench/peers/ctl"
)

type client struct {
	hub   *hub
	conn  *websocket.Conn
	topic string
	send  chan []byte
}

type message struct {
	topic string
	frame []byte
}

// hub is the chat example's Hub, with topics.
type hub struct {
	register   chan *client
	unregister chan *client
	broadcast  chan message
	sockets    atomic.Int64
}

func (h *hub) run() {
	topics := map[string]map[*client]bool{}
	for {
		select {
		case c := <-h.register:
			set := topics[c.topic]
			if set == nil {
				set = map[*client]bool{}
				topics[c.topic] = set
			}
			set[c] = true
			c.send <- []byte(ctl.Hello)
		case c := <-h.unregister:
			if set := topics[c.topic]; set[c] {
				delete(set, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			for c := range topics[m.topic] {
				select {
				case c.send <- m.frame:
				default:
					close(c.send)
					delete(topics[m.topic], c)
				}
			}
		}
	}
}

// Broadcast implements ctl.Server.
func (h *hub) Broadcast(topic, event string, payload []byte) error {
	h.broadcast <- message{topic: topic, frame: ctl.Frame(nil, topic, event, payload)}
	return nil
}

// Sockets implements ctl.Server.
func (h *hub) Sockets() int64 { return h.sockets.Load() }

func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		_ = c.conn.Close()
		c.hub.sockets.Add(-1)
	}()
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *client) writePump() {
	defer c.conn.Close()
	for msg := range c.send {
		if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			return
		}
	}
	_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

func main() {
	h := &hub{register: make(chan *client), unregister: make(chan *client), broadcast: make(chan message)}
	go h.run()
	up := websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ctl.Main(ctl.Peer{
		Proto:  "plain",
		Server: h,
		Routes: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
				conn, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				h.sockets.Add(1)
				c := &client{hub: h, conn: conn, topic: ctl.Topic(r), send: make(chan []byte, 256)}
				go c.writePump()
				h.register <- c
				go c.readPump()
			})
		},
	})
}
