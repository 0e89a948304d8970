package social

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/pubsub"
)

// inbox is a feed view's subscriber to PostsTopic. Deliver runs in the
// publisher's goroutine and must not block, so it only keeps the message
// (shared and immutable; decoded later, by the view) in a ring of fixed
// capacity, dropping the oldest when full, and wakes the view with one
// message if it is not already awake. However fast posts come, a view has
// at most one wake message queued and at most cap posts kept.
type inbox struct {
	wake func() bool // sends wakeMsg to the view

	// mu guards the fields below.
	mu      sync.Mutex
	posts   ring[*pubsub.Message]
	dropped int  // posts pushed out since the last take
	armed   bool // a wake is on its way, or a take is due
}

func newInbox(capacity int, wake func() bool) *inbox {
	return &inbox{wake: wake, posts: newRing[*pubsub.Message](capacity)}
}

func (b *inbox) Deliver(m *pubsub.Message) {
	if m.Event != "post" {
		return
	}
	b.mu.Lock()
	if b.posts.push(m) {
		b.dropped++
	}
	wake := !b.armed
	b.armed = true
	b.mu.Unlock()
	if wake {
		b.wake()
	}
}

// take returns the kept posts, oldest first, and how many were dropped
// since the last take, and empties the inbox.
func (b *inbox) take() ([]*pubsub.Message, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ms, dropped := b.posts.items(), b.dropped
	b.posts.reset()
	b.dropped, b.armed = 0, false
	return ms, dropped
}

// wakeMsg says the inbox has posts; flushMsg is the flush timer firing.
type (
	wakeMsg  struct{}
	flushMsg struct{}
)

// feed is what both feed views share: the subscription and the pacing of
// renders. A view renders only when it takes posts from its inbox, and it
// takes them at most once per FlushInterval: a wake that comes sooner
// arms one timer (SendAfter) for the rest of the interval, and wakes
// meanwhile are ignored (the inbox keeps the newest posts).
type feed struct {
	app     *App
	in      *inbox
	last    time.Time // last take
	timer   bool      // a flushMsg is due
	dropped int       // posts the inbox dropped, in total
}

// subscribe starts the inbox (connected mounts only); it is unsubscribed
// when the view ends.
func (f *feed) subscribe(s *live.Socket) error {
	if !s.Connected() {
		return nil
	}
	h := s.Handle()
	f.in = newInbox(Limit, func() bool { return h.Send(wakeMsg{}) })
	ps := f.app.cfg.PubSub
	if err := ps.Subscribe(PostsTopic, f.in); err != nil {
		return err
	}
	in := f.in
	context.AfterFunc(s.Context(), func() { ps.Unsubscribe(PostsTopic, in) })
	return nil
}

// handle handles wakeMsg and flushMsg: it returns the posts to apply now
// (oldest first), or nil.
func (f *feed) handle(s *live.Socket, msg any) []Post {
	switch msg.(type) {
	case wakeMsg:
		if f.timer {
			return nil
		}
		if wait := f.app.cfg.FlushInterval - time.Since(f.last); wait > 0 {
			f.timer = true
			s.SendAfter(wait, flushMsg{})
			return nil
		}
	case flushMsg:
		f.timer = false
	default:
		return nil
	}
	f.last = time.Now()
	ms, dropped := f.in.take()
	f.dropped += dropped
	posts := make([]Post, 0, len(ms))
	for _, m := range ms {
		raw, err := channel.BroadcastPayload(m)
		if err != nil {
			continue
		}
		var p Post
		if json.Unmarshal(raw, &p) == nil {
			posts = append(posts, p)
		}
	}
	return posts
}
