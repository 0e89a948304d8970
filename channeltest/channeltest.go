// Package channeltest tests channels without a network, the way
// Phoenix.ChannelTest does: connect a socket in-process, join topics, push
// events, and assert on replies, pushes and broadcasts. The frames go through
// the real wire codec and the real channel.Socket.
//
//	c := channeltest.Connect(t, srv, url.Values{"username": {"ana"}})
//	room := c.Join(t, "room:lobby", nil).Ok(t)
//	room.Push(t, "new_msg", map[string]string{"body": "hi"}).Ok(t)
//	room.ExpectPush(t, "new_msg")
//
// The package Example runs a whole test of a room this way.
//
// Entry points: [Connect] / [Dial] return a [Client]; [Client.Join] returns a
// [JoinResult] and its [Channel]; [Channel.Push] returns a [Reply].
//
// Every wait is bounded by the Client's Timeout (default 2 s). A Client is
// safe for use by one test goroutine; frames arrive from the server's
// goroutines.
package channeltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/wire"
)

// Frame is one frame the server sent to the client.
type Frame struct {
	JoinRef, Ref wire.Ref
	Topic, Event string
	// Payload is the JSON payload, or the raw bytes of a binary frame.
	Payload json.RawMessage
	Binary  bool
	// Status is the status of a binary reply.
	Status string
}

// Client is an in-process connection.
type Client struct {
	// Timeout bounds every wait; default 2 s.
	Timeout time.Duration

	sock *channel.Socket
	conn *conn
	ref  int

	// recvMu serialises frames into the socket, as a transport does.
	recvMu sync.Mutex
}

// Dial connects to srv with params, as a transport would.
func Dial(ctx context.Context, srv *channel.Server, params url.Values) (*Client, error) {
	return DialInfo(ctx, srv, &channel.ConnectInfo{Params: params})
}

// DialInfo connects with full connection info (headers, cookies, auth
// token), as a transport would.
func DialInfo(ctx context.Context, srv *channel.Server, info *channel.ConnectInfo) (*Client, error) {
	if info.Params == nil {
		info.Params = url.Values{}
	}
	info.Params.Set("vsn", "2.0.0")
	if info.Transport == "" {
		info.Transport = "channeltest"
	}
	if info.RemoteAddr == "" {
		info.RemoteAddr = "channeltest"
	}
	cn := &conn{notify: make(chan struct{}, 1), closedCh: make(chan struct{})}
	sock, err := srv.Connect(ctx, info, cn)
	if err != nil {
		return nil, err
	}
	return &Client{Timeout: 2 * time.Second, sock: sock, conn: cn}, nil
}

// Connect is Dial that fails the test on error and closes the client when
// the test ends.
func Connect(t testing.TB, srv *channel.Server, params url.Values) *Client {
	t.Helper()
	c, err := Dial(context.Background(), srv, params)
	if err != nil {
		t.Fatalf("channeltest: connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Socket returns the server-side socket.
func (c *Client) Socket() *channel.Socket { return c.sock }

// Close ends the connection, as a dropped network connection would, and
// waits for the socket's channels to terminate.
func (c *Client) Close() {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.sock.Closed()
}

// CloseCode returns the close code the server asked for, or 0.
func (c *Client) CloseCode() int { return c.conn.closeCode() }

// WaitClosed waits until the server closes the connection and returns the
// close code.
func (c *Client) WaitClosed(t testing.TB) int {
	t.Helper()
	select {
	case <-c.conn.closedCh:
		return c.conn.closeCode()
	case <-time.After(c.Timeout):
		t.Fatalf("channeltest: connection not closed within %v", c.Timeout)
		return 0
	}
}

func (c *Client) nextRef() string {
	c.ref++
	return strconv.Itoa(c.ref)
}

// SendRaw hands raw frame bytes to the socket, as a transport would. It
// returns the socket's error (a malformed frame, a flood).
func (c *Client) SendRaw(data []byte, binary bool) error {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	return c.sock.Receive(data, binary)
}

func (c *Client) send(joinRef, ref wire.Ref, topic, event string, payload any) error {
	if b, ok := payload.(channel.Binary); ok {
		frame := []byte{wire.KindPush, byte(len(joinRef.Value)), byte(len(ref.Value)), byte(len(topic)), byte(len(event))}
		frame = append(frame, joinRef.Value+ref.Value+topic+event...)
		return c.SendRaw(append(frame, b...), true)
	}
	data := []byte("{}")
	if payload != nil {
		var err error
		if data, err = json.Marshal(payload); err != nil {
			return fmt.Errorf("channeltest: encode payload: %w", err)
		}
	}
	return c.SendRaw(wire.AppendText(nil, joinRef, ref, topic, event, data), false)
}

// Heartbeat sends a heartbeat and waits for its reply.
func (c *Client) Heartbeat(t testing.TB) {
	t.Helper()
	ref := wire.StringRef(c.nextRef())
	if err := c.send(wire.Ref{}, ref, wire.TopicPhoenix, wire.EventHeartbeat, nil); err != nil {
		t.Fatal(err)
	}
	r := c.waitReply(t, wire.TopicPhoenix, ref)
	if r.Status != "ok" {
		t.Fatalf("channeltest: heartbeat reply %s", r.Status)
	}
}

// Join joins topic with payload and waits for the reply.
func (c *Client) Join(t testing.TB, topic string, payload any) *JoinResult {
	t.Helper()
	ref := wire.StringRef(c.nextRef())
	if err := c.send(ref, ref, topic, wire.EventJoin, payload); err != nil {
		t.Fatal(err)
	}
	r := c.waitReply(t, topic, ref)
	return &JoinResult{Reply: r, Channel: &Channel{c: c, topic: topic, joinRef: ref}}
}

// JoinAsync sends a join of topic with payload and returns its channel
// without waiting for the reply, for tests that assert on the order of what
// follows with [Channel.ExpectNext]: the reply is the next frame on the
// topic unless something was sent before it.
func (c *Client) JoinAsync(t testing.TB, topic string, payload any) *Channel {
	t.Helper()
	ref := wire.StringRef(c.nextRef())
	if err := c.send(ref, ref, topic, wire.EventJoin, payload); err != nil {
		t.Fatal(err)
	}
	return &Channel{c: c, topic: topic, joinRef: ref}
}

// JoinResult is the reply to a join and the channel it opened.
type JoinResult struct {
	Reply   *Reply
	Channel *Channel
}

// Ok fails the test unless the join succeeded, and returns the channel.
func (j *JoinResult) Ok(t testing.TB) *Channel {
	t.Helper()
	if j.Reply.Status != "ok" {
		t.Fatalf("channeltest: join %s: %s %s", j.Channel.topic, j.Reply.Status, j.Reply.Response)
	}
	return j.Channel
}

// Recovery is the "_recovery" member of a join reply on a route with a
// history (see channel.WithHistory): the client's position after the
// reply, and, when the join sent one, whether the missed broadcasts follow.
type Recovery struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Recovered *bool  `json:"recovered"`
}

// Recovery decodes the reply's "_recovery", failing the test without one.
func (r *Reply) Recovery(t testing.TB) Recovery {
	t.Helper()
	var env struct {
		Recovery *Recovery `json:"_recovery"`
	}
	if err := json.Unmarshal(r.Response, &env); err != nil || env.Recovery == nil {
		t.Fatalf("channeltest: join reply %s has no _recovery (err %v)", r.Response, err)
	}
	return *env.Recovery
}

// RecoverParams returns join params asking to recover from a position, as
// the recovery.js helper sends them.
func RecoverParams(epoch string, offset uint64) map[string]any {
	return map[string]any{"_recover": map[string]any{"epoch": epoch, "offset": offset}}
}

// Reply is a phx_reply.
type Reply struct {
	Status   string
	Response json.RawMessage
	// Binary holds the response of a binary reply.
	Binary []byte
}

// Ok fails the test unless the status is "ok"; it returns the response.
func (r *Reply) Ok(t testing.TB) json.RawMessage {
	t.Helper()
	if r.Status != "ok" {
		t.Fatalf("channeltest: reply %s %s, want ok", r.Status, r.Response)
	}
	return r.Response
}

// Decode unmarshals the response into v, failing the test on error.
func (r *Reply) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Response, v); err != nil {
		t.Fatalf("channeltest: decode reply %s: %v", r.Response, err)
	}
}

func (c *Client) waitReply(t testing.TB, topic string, ref wire.Ref) *Reply {
	t.Helper()
	f, err := c.conn.take(c.Timeout, func(f Frame) bool {
		return f.Event == wire.EventReply && f.Topic == topic && f.Ref == ref
	})
	if err != nil {
		t.Fatalf("channeltest: no reply to %s ref %s: %v", topic, ref, err)
	}
	return frameReply(f)
}

func frameReply(f Frame) *Reply {
	if f.Binary {
		return &Reply{Status: f.Status, Binary: f.Payload}
	}
	var env struct {
		Status   string          `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(f.Payload, &env)
	return &Reply{Status: env.Status, Response: env.Response}
}

// Channel is a joined topic.
type Channel struct {
	c       *Client
	topic   string
	joinRef wire.Ref
}

// Topic returns the topic.
func (ch *Channel) Topic() string { return ch.topic }

// JoinRef returns the join reference.
func (ch *Channel) JoinRef() string { return ch.joinRef.Value }

// Push sends event and waits for its reply.
func (ch *Channel) Push(t testing.TB, event string, payload any) *Reply {
	t.Helper()
	ref := ch.PushAsync(t, event, payload)
	return ch.c.waitReply(t, ch.topic, ref)
}

// PushAsync sends event and returns its ref without waiting.
func (ch *Channel) PushAsync(t testing.TB, event string, payload any) wire.Ref {
	t.Helper()
	ref := wire.StringRef(ch.c.nextRef())
	if err := ch.c.send(ch.joinRef, ref, ch.topic, event, payload); err != nil {
		t.Fatal(err)
	}
	return ref
}

// AwaitReply waits for the reply to a PushAsync.
func (ch *Channel) AwaitReply(t testing.TB, ref wire.Ref) *Reply {
	t.Helper()
	return ch.c.waitReply(t, ch.topic, ref)
}

// ExpectPush waits for a push or broadcast of event on this topic and
// returns its payload.
func (ch *Channel) ExpectPush(t testing.TB, event string) json.RawMessage {
	t.Helper()
	return ch.ExpectFrame(t, event).Payload
}

// ExpectFrame waits for a frame of event on this topic.
func (ch *Channel) ExpectFrame(t testing.TB, event string) Frame {
	t.Helper()
	f, err := ch.c.conn.take(ch.c.Timeout, func(f Frame) bool { return f.Topic == ch.topic && f.Event == event })
	if err != nil {
		t.Fatalf("channeltest: no %q on %s: %v", event, ch.topic, err)
	}
	return f
}

// ExpectNext takes the next frame on this topic in arrival order, waiting
// up to the Client's Timeout, and fails the test unless its event is event.
// Unlike [Channel.ExpectFrame], which finds a matching frame wherever it is
// among those buffered, ExpectNext asserts order: a frame of another event
// that arrived first fails it. For event phx_reply the returned frame's
// Reply gives the status and response.
func (ch *Channel) ExpectNext(t testing.TB, event string) Frame {
	t.Helper()
	f, err := ch.c.conn.take(ch.c.Timeout, func(f Frame) bool { return f.Topic == ch.topic })
	if err != nil {
		t.Fatalf("channeltest: no frame on %s (wanted %q next): %v", ch.topic, event, err)
	}
	if f.Event != event {
		t.Fatalf("channeltest: next frame on %s is %q %s, want %q", ch.topic, f.Event, f.Payload, event)
	}
	return f
}

// Reply decodes a phx_reply frame's status and response.
func (f Frame) Reply() *Reply { return frameReply(f) }

// NextFrame returns the next frame on this topic in arrival order, waiting
// up to d; false when none came.
func (ch *Channel) NextFrame(d time.Duration) (Frame, bool) {
	f, err := ch.c.conn.take(d, func(f Frame) bool { return f.Topic == ch.topic })
	return f, err == nil
}

// RefuteFrame fails the test if a frame of event on this topic arrives
// within d.
func (ch *Channel) RefuteFrame(t testing.TB, event string, d time.Duration) {
	t.Helper()
	if f, err := ch.c.conn.take(d, func(f Frame) bool { return f.Topic == ch.topic && f.Event == event }); err == nil {
		t.Fatalf("channeltest: unexpected %q on %s: %s", event, ch.topic, f.Payload)
	}
}

// Leave leaves the channel and waits for the ok reply and phx_close.
func (ch *Channel) Leave(t testing.TB) {
	t.Helper()
	ch.Push(t, wire.EventLeave, nil).Ok(t)
	ch.ExpectFrame(t, wire.EventClose)
}

// Frames returns the frames received and not yet taken by an Expect.
func (c *Client) Frames() []Frame { return c.conn.snapshot() }

// conn is the in-process channel.Conn.
type conn struct {
	notify   chan struct{}
	closedCh chan struct{}

	// mu guards frames and code.
	mu     sync.Mutex
	frames []Frame
	code   int
}

var errTimeout = errors.New("timed out")

func (cn *conn) Send(f wire.Frame) error {
	fr, err := decodeServerFrame(f)
	if err != nil {
		return err
	}
	cn.mu.Lock()
	cn.frames = append(cn.frames, fr)
	cn.mu.Unlock()
	select {
	case cn.notify <- struct{}{}:
	default:
	}
	return nil
}

func (cn *conn) Close(code int, _ string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.code == 0 {
		cn.code = code
		close(cn.closedCh)
	}
}

func (cn *conn) closeCode() int {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.code
}

func (cn *conn) snapshot() []Frame {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return append([]Frame(nil), cn.frames...)
}

// take removes and returns the first frame matching, waiting up to d.
func (cn *conn) take(d time.Duration, match func(Frame) bool) (Frame, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		cn.mu.Lock()
		for i, f := range cn.frames {
			if match(f) {
				cn.frames = append(cn.frames[:i:i], cn.frames[i+1:]...)
				cn.mu.Unlock()
				return f, nil
			}
		}
		cn.mu.Unlock()
		select {
		case <-cn.notify:
		case <-timer.C:
			return Frame{}, errTimeout
		}
	}
}

// decodeServerFrame decodes what the server sends: V2 JSON text, or the
// binary push (0), reply (1) and broadcast (2) kinds.
func decodeServerFrame(f wire.Frame) (Frame, error) {
	if !f.Binary {
		m, err := wire.DecodeText(f.Data)
		if err != nil {
			return Frame{}, err
		}
		return Frame{JoinRef: m.JoinRef, Ref: m.Ref, Topic: m.Topic, Event: m.Event, Payload: m.Payload}, nil
	}
	d := f.Data
	field := func(off, n int) (string, error) {
		if off+n > len(d) {
			return "", fmt.Errorf("%w: short binary frame", wire.ErrMalformed)
		}
		return string(d[off : off+n]), nil
	}
	var lens []int
	switch {
	case len(d) >= 4 && d[0] == wire.KindPush:
		lens = []int{int(d[1]), int(d[2]), int(d[3])}
	case len(d) >= 5 && d[0] == wire.KindReply:
		lens = []int{int(d[1]), int(d[2]), int(d[3]), int(d[4])}
	case len(d) >= 3 && d[0] == wire.KindBroadcast:
		lens = []int{int(d[1]), int(d[2])}
	default:
		return Frame{}, fmt.Errorf("%w: binary server frame", wire.ErrMalformed)
	}
	off := 1 + len(lens)
	vals := make([]string, len(lens))
	for i, n := range lens {
		v, err := field(off, n)
		if err != nil {
			return Frame{}, err
		}
		vals[i] = v
		off += n
	}
	fr := Frame{Binary: true, Payload: d[off:]}
	switch d[0] {
	case wire.KindPush:
		fr.JoinRef, fr.Topic, fr.Event = wire.StringRef(vals[0]), vals[1], vals[2]
	case wire.KindReply:
		fr.JoinRef, fr.Ref, fr.Topic, fr.Status = wire.StringRef(vals[0]), wire.StringRef(vals[1]), vals[2], vals[3]
		fr.Event = wire.EventReply
	case wire.KindBroadcast:
		fr.Topic, fr.Event = vals[0], vals[1]
	}
	return fr, nil
}
