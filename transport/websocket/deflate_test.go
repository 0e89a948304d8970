package websocket

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/parley-go/parley/transport"
	"github.com/parley-go/parley/wire"
)

const deflateAnswer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

func TestNegotiateDeflate(t *testing.T) {
	tests := []struct {
		offer string
		want  bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true}, // Chromium's offer
		{"PerMessage-Deflate ; Client_No_Context_Takeover ; server_no_context_takeover", true},
		{"permessage-deflate; client_max_window_bits=8", true},
		{`permessage-deflate; client_max_window_bits="10"`, true},
		{"permessage-deflate; server_max_window_bits=15", true},
		{"permessage-deflate; server_max_window_bits=10", false}, // compress/flate needs 15
		{"permessage-deflate; server_max_window_bits", false},    // a value is required
		{"permessage-deflate; client_max_window_bits=7", false},
		{"permessage-deflate; client_max_window_bits=16", false},
		{"permessage-deflate; client_max_window_bits=015", false},
		{"permessage-deflate; client_max_window_bits=x", false},
		{"permessage-deflate; unknown_param", false},
		{"permessage-deflate; server_no_context_takeover=1", false},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", false},
		{"x-webkit-deflate-frame", false},
		{"permessage-deflate; unknown, permessage-deflate", true}, // the second offer
		{"", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.offer != "" {
			h.Set("Sec-WebSocket-Extensions", tt.offer)
		}
		got := negotiateDeflate(h)
		if (got != "") != tt.want || (got != "" && got != deflateAnswer) {
			t.Errorf("offer %q: answer %q, want accepted=%v", tt.offer, got, tt.want)
		}
	}
}

func TestCompressionHandshake(t *testing.T) {
	_, hs := newTestServer(t, &echoHandler{}, Options{Compression: true})
	for _, tt := range []struct{ offer, want string }{
		{"permessage-deflate; client_max_window_bits", deflateAnswer},
		{"permessage-deflate; foo=bar", ""},
		{"permessage-deflate; client_max_window_bits=16", ""},
		{"", ""},
	} {
		hdr := http.Header{}
		if tt.offer != "" {
			hdr.Set("Sec-WebSocket-Extensions", tt.offer)
		}
		_, resp := dial(t, hs, phoenixQuery, hdr)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("offer %q: status %d: a bad offer is declined, not refused", tt.offer, resp.StatusCode)
		}
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
			t.Fatalf("offer %q: extensions %q, want %q", tt.offer, got, tt.want)
		}
	}
	// Off by default: an offer is not answered.
	_, hs2 := newTestServer(t, &echoHandler{}, Options{})
	_, resp := dial(t, hs2, phoenixQuery, http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}})
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != "" {
		t.Fatalf("compression off, yet extensions %q", got)
	}
}

// TestCompressionBadInput: each violation gets the RFC's close code and a
// healthy compressed connection on the same server goes on.
func TestCompressionBadInput(t *testing.T) {
	_, hs := newTestServer(t, &echoHandler{}, Options{Compression: true, MaxFrameSize: 1 << 20})
	offer := http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}}
	z := newDeflater()
	bomb := z.deflate(make([]byte, 10<<20)) // 10 MiB of zeros
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	healthy, _ := dial(t, hs, phoenixQuery, offer)
	hs2 := newSession(t, healthy)
	tests := []struct {
		name   string
		offer  http.Header
		send   func(s *session)
		code   int
		reason string
	}{
		{"deflate bomb", offer, func(s *session) { s.frame(true, 4, opBinary, bomb) }, transport.CloseTooBig, "frame too big"},
		{"bomb in fragments", offer, func(s *session) {
			s.frame(false, 4, opText, bomb[:len(bomb)/2])
			s.frame(true, 0, opContinuation, bomb[len(bomb)/2:])
		}, transport.CloseTooBig, "frame too big"},
		{"compressed ping", offer, func(s *session) { s.frame(true, 4, opPing, z.deflate(bytes.Repeat([]byte("ping"), 20))) }, transport.CloseProtocolError, "protocol error"},
		{"RSV1 on a continuation", offer, func(s *session) {
			s.frame(false, 0, opText, []byte("fragment1"))
			s.frame(true, 4, opContinuation, []byte("fragment2"))
		}, transport.CloseProtocolError, "protocol error"},
		{"RSV1 without the extension", nil, func(s *session) { s.frame(true, 4, opText, z.deflate(bytes.Repeat([]byte("text"), 20))) }, transport.CloseProtocolError, "protocol error"},
		{"corrupt data", offer, func(s *session) { s.frame(true, 4, opText, []byte{0xff, 0xff, 0xff, 0xff, 0x00}) }, transport.CloseInvalidPayload, "bad compressed data"},
		{"invalid UTF-8 inside", offer, func(s *session) { s.deflated(opText, append(bytes.Repeat([]byte("a"), 100), 0xff), 0) }, transport.CloseInvalidPayload, "invalid utf-8"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dial(t, hs, phoenixQuery, tt.offer)
			s := newSession(t, c)
			tt.send(s)
			<-s.done
			s.mu.Lock()
			code, first, got := s.serverClose, s.serverFirst, s.got
			s.mu.Unlock()
			if code != tt.code || !first || len(got) != 0 {
				t.Fatalf("close %d (server first %v), events %v; want %d", code, first, got, tt.code)
			}
			msg := bytes.Repeat([]byte(fmt.Sprintf("still serving %d ", i)), 10)
			hs2.deflated(opText, msg, 0)
			waitFor(t, func() bool {
				hs2.mu.Lock()
				defer hs2.mu.Unlock()
				return len(hs2.got) == i+1 && bytes.Equal(hs2.got[i].data, msg)
			})
		})
	}
	hs2.closeWith(closePayload(1000, ""))
	<-hs2.done
}

// broadcastHandler keeps every connection; broadcast sends one Frame to all.
type broadcastHandler struct {
	mu    sync.Mutex
	conns []transport.Conn
}

func (b *broadcastHandler) Connect(_ context.Context, _ *transport.ConnectInfo, c transport.Conn) (transport.Receiver, error) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	return nopRecv{}, nil
}

func (b *broadcastHandler) broadcast(f wire.Frame) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Send(f)
	}
}

// TestBroadcastCompressedOnce: one frame sent to 1,000 compressed
// connections is compressed once, and every subscriber inflates it to the
// original.
func TestBroadcastCompressedOnce(t *testing.T) {
	b := &broadcastHandler{}
	s, hs := newTestServer(t, b, Options{Compression: true})
	const n = 1000
	clients := make([]*client, n)
	for i := range clients {
		c, resp := dial(t, hs, phoenixQuery, http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_max_window_bits"}})
		if resp.Header.Get("Sec-WebSocket-Extensions") == "" {
			t.Fatal("not negotiated")
		}
		clients[i] = c
	}
	waitFor(t, func() bool { return s.Conns() == n })
	msg := []byte(`["1",null,"room:lobby","new_msg",{"body":"hello everyone, how is the weather over there today?","user":"ann"}]`)
	b.broadcast(wire.Frame{Data: msg})
	var wireBytes int
	z := newDeflater()
	for i, c := range clients {
		h, err := readHeader(c.br)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		p := make([]byte, h.length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			t.Fatal(err)
		}
		if !h.rsv1 {
			t.Fatalf("client %d: frame not compressed", i)
		}
		got, err := z.inflate(p, 1<<20)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("client %d: inflated %q, %v", i, got, err)
		}
		wireBytes = len(p)
	}
	if got := s.Compressions(); got != 1 {
		t.Fatalf("%d compressions for one broadcast to %d connections, want 1", got, n)
	}
	t.Logf("a %d-byte message is %d bytes compressed", len(msg), wireBytes)
	// Another message: one more compression; the same again: none.
	msg2 := bytes.Repeat([]byte("another broadcast "), 5)
	b.broadcast(wire.Frame{Data: msg2})
	b.broadcast(wire.Frame{Data: bytes.Clone(msg2)})
	if got := s.Compressions(); got != 2 {
		t.Fatalf("%d compressions after a second message sent twice, want 2", got)
	}
	for _, c := range clients {
		_ = c.nc.Close()
	}
}

// TestDeflaterPoolsAndLimits: compress and inflate round-trip every size;
// small or incompressible messages go uncompressed.
func TestDeflaterRoundTrip(t *testing.T) {
	d := newDeflater()
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	if d.compress([]byte("short")) != nil {
		t.Fatal("a 5-byte message compressed")
	}
	if d.compress(random) != nil {
		t.Fatal("random bytes compressed")
	}
	for _, n := range []int{32, 100, 1000, 70000, deflateCacheMax + 1, 300 << 10} {
		p := []byte(strings.Repeat(base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(n))), n/8+1)[:n])
		z := d.compress(p)
		if z == nil {
			t.Fatalf("%d bytes not compressed", n)
		}
		got, err := d.inflate(z, n)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: round trip %v", n, err)
		}
		if _, err := d.inflate(z, n-1); err == nil {
			t.Fatalf("%d bytes inflated under a limit of %d", n, n-1)
		}
	}
}

// TestDeflateCacheBounds: the cache keeps at most deflateCacheSize
// messages and deflateCacheBytes, and a remembered message is not
// compressed again.
func TestDeflateCacheBounds(t *testing.T) {
	d := newDeflater()
	msg := func(i, n int) []byte { return []byte(fmt.Sprintf("%08d%s", i, strings.Repeat("y", n-8))) }
	for i := range 3 * deflateCacheSize {
		d.compress(msg(i, 100))
	}
	if len(d.cache) != deflateCacheSize {
		t.Fatalf("%d cached, want %d", len(d.cache), deflateCacheSize)
	}
	before := d.compressions.Load()
	d.compress(msg(3*deflateCacheSize-1, 100)) // the newest: remembered
	d.compress(msg(0, 100))                    // the oldest: evicted long ago
	if got := d.compressions.Load() - before; got != 1 {
		t.Fatalf("%d compressions, want 1", got)
	}
	for i := range 2 * deflateCacheBytes / (2 * deflateCacheMax) { // twice what fits
		d.compress(msg(i, deflateCacheMax))
		if d.bytes > deflateCacheBytes {
			t.Fatalf("cache of %d bytes after %d large messages", d.bytes, i+1)
		}
	}
	n := 0
	for _, k := range d.ring {
		if k != "" {
			n++
			if d.cache[k] == nil {
				t.Fatal("a ring key not in the cache")
			}
		}
	}
	if n != len(d.cache) {
		t.Fatalf("ring holds %d keys, cache %d", n, len(d.cache))
	}
}

// FuzzInflate: any bytes, as a compressed message, inflate to at most the
// limit or fail with errTooBig or errBadDeflate, never panic; what
// deflate made inflates back.
func FuzzInflate(f *testing.F) {
	d := newDeflater()
	f.Add(d.deflate(bytes.Repeat([]byte("hello "), 20)), uint16(200))
	f.Add(d.deflate(make([]byte, 5000)), uint16(100))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x00}, uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		out, err := d.inflate(data, int(limit))
		switch {
		case err == nil && len(out) > int(limit):
			t.Fatalf("%d bytes inflated under a limit of %d", len(out), limit)
		case err != nil && !errors.Is(err, errTooBig) && !errors.Is(err, errBadDeflate):
			t.Fatalf("unexpected error %v", err)
		}
		if z := d.deflate(data); z != nil {
			back, err := d.inflate(z, len(data))
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("round trip of %q: %q, %v", data, back, err)
			}
		}
	})
}
