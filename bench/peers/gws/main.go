// Command gws is the lxzan/gws peer of Parley's load tool: an Upgrader with
// parallel message handling off, 1 KiB read buffers and UTF-8 checks off
// (as in bench/wsmem), ReadLoop on its own goroutine per connection, and
// topic sets under a mutex. A broadcast frames the message once with
// gws.NewBroadcaster and queues it on every connection's asynchronous
// write queue (gws starts a writer goroutine on demand; one write system
// call per frame).
package main

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/lxzan/gws"

	"github.com/parley-go/parley/bench/peers/ctl"
)

const topicKey = "topic"

type server struct {
	gws.BuiltinEventHandler
	sockets atomic.Int64

	// mu guards topics.
	mu     sync.RWMutex
	topics map[string]map[*gws.Conn]struct{}
}

func (s *server) OnOpen(c *gws.Conn) {
	s.sockets.Add(1)
	topic, _ := c.Session().Load(topicKey)
	s.mu.Lock()
	set := s.topics[topic.(string)]
	if set == nil {
		set = map[*gws.Conn]struct{}{}
		s.topics[topic.(string)] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	_ = c.WriteString(ctl.Hello)
}

func (s *server) OnClose(c *gws.Conn, _ error) {
	s.sockets.Add(-1)
	topic, _ := c.Session().Load(topicKey)
	s.mu.Lock()
	delete(s.topics[topic.(string)], c)
	s.mu.Unlock()
}

func (s *server) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (s *server) OnMessage(_ *gws.Conn, m *gws.Message) { _ = m.Close() }

// Broadcast implements ctl.Server.
func (s *server) Broadcast(topic, event string, payload []byte) error {
	b := gws.NewBroadcaster(gws.OpcodeText, ctl.Frame(nil, topic, event, payload))
	s.mu.RLock()
	for c := range s.topics[topic] {
		_ = b.Broadcast(c)
	}
	s.mu.RUnlock()
	return b.Close()
}

// Sockets implements ctl.Server.
func (s *server) Sockets() int64 { return s.sockets.Load() }

func main() {
	s := &server{topics: map[string]map[*gws.Conn]struct{}{}}
	up := gws.NewUpgrader(s, &gws.ServerOption{
		ReadBufferSize:   1024,
		ParallelEnabled:  false,
		CheckUtf8Enabled: false,
		Authorize: func(r *http.Request, session gws.SessionStorage) bool {
			session.Store(topicKey, ctl.Topic(r))
			return true
		},
	})
	ctl.Main(ctl.Peer{
		Proto:  "plain",
		Server: s,
		Routes: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
				c, err := up.Upgrade(w, r)
				if err != nil {
					return
				}
				go c.ReadLoop()
			})
		},
	})
}
