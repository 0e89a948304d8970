package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Compression: permessage-deflate (RFC 7692).
//
// The server answers an offer with server_no_context_takeover and
// client_no_context_takeover: every message, both ways, is compressed on
// its own, with a fresh LZ77 window. That costs some ratio, and buys three
// things. The compressed bytes of a message do not depend on the
// connection, so a broadcast is compressed once and the same bytes are
// queued for every subscriber, as the encode-once fastlane queues the same
// frame (see deflater). A connection keeps no compressor or decompressor
// between messages: both come from pools for one message (a flate writer
// holds about 1 MiB, which an idle connection must not). And the inbound
// inflated size is bounded per message by MaxFrameSize (a zip bomb gets
// 1009), with nothing carried over.

// deflateTail is what a compressor's sync flush ends with; RFC 7692 §7.2.1
// has the sender strip it and the receiver append it.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff}

// errBadDeflate is a compressed message that does not inflate.
var errBadDeflate = errors.New("websocket: bad compressed data")

// negotiateDeflate reads the permessage-deflate offers of a handshake and
// returns the response header value accepting the first acceptable one, or
// "" when none is. Offers with an unknown, repeated or invalid parameter
// are declined (RFC 7692 §5), as are those asking for a server window under
// 15 bits (compress/flate always uses 32 KiB); the handshake goes on
// without compression.
func negotiateDeflate(h http.Header) string {
	for _, v := range h.Values("Sec-Websocket-Extensions") {
		for _, offer := range strings.Split(v, ",") {
			params := strings.Split(offer, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
				continue
			}
			if acceptOffer(params[1:]) {
				return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
			}
		}
	}
	return ""
}

// acceptOffer reports whether the parameters of one permessage-deflate
// offer can be accepted with both context takeovers off.
func acceptOffer(params []string) bool {
	seen := map[string]bool{}
	for _, p := range params {
		name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if seen[name] {
			return false
		}
		seen[name] = true
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return false
			}
		case "server_max_window_bits":
			bits, ok := windowBits(value)
			if !hasValue || !ok || bits != 15 {
				return false
			}
		case "client_max_window_bits":
			// Without a value: the client can limit its window if asked;
			// we do not ask. With one: the client's window, any is fine
			// to inflate.
			if _, ok := windowBits(value); hasValue && !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// windowBits parses a window bits value, 8 to 15 (RFC 7692 §7.1.2).
func windowBits(v string) (int, bool) {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 8 && n <= 15
}

// deflateCacheSize is how many recent messages a deflater remembers.
const deflateCacheSize = 256

// deflateCacheMax is the largest message a deflater remembers; a larger one
// is compressed for each connection (sizes like that are not broadcasts of
// a chat). deflateCacheBytes bounds what the cache holds, messages and
// their compressed forms together.
const (
	deflateCacheMax   = 64 << 10
	deflateCacheBytes = 4 << 20
)

// minDeflate is the smallest message compressed; below it the deflate
// block's overhead leaves nothing to gain.
const minDeflate = 32

// deflater compresses outbound messages for every connection of a Server,
// each distinct message once: the same bytes sent to many connections (a
// broadcast) are found again in a small cache of recent messages, keyed by
// content. Compressors are pooled.
type deflater struct {
	level   int
	writers sync.Pool // *flate.Writer
	readers sync.Pool // io.ReadCloser that is also a flate.Resetter

	// compressions counts messages compressed (cache misses).
	compressions atomic.Int64

	// mu guards cache, ring, next and bytes. ring holds the cached keys in
	// the order they came, next is the oldest slot, bytes the cache's size
	// (each key counted twice: the message and, at most, its compressed
	// form).
	mu    sync.Mutex
	cache map[string]*deflated
	ring  [deflateCacheSize]string
	next  int
	bytes int
}

// deflated is one message's compressed form; once computes it.
type deflated struct {
	once sync.Once
	out  []byte // nil when compressing did not make it smaller
}

func newDeflater() *deflater {
	return &deflater{level: flate.BestSpeed, cache: make(map[string]*deflated, deflateCacheSize)}
}

// compress returns p's compressed form for a frame with RSV1, or nil when p
// is better sent as it is. The result is shared: never modify it.
func (d *deflater) compress(p []byte) []byte {
	if len(p) < minDeflate {
		return nil
	}
	if len(p) > deflateCacheMax {
		return d.deflate(p)
	}
	d.mu.Lock()
	e := d.cache[string(p)] // no allocation for the lookup
	if e == nil {
		key := string(p)
		e = &deflated{}
		// Evict the oldest slot, and more while over the byte bound.
		for i := 0; i < deflateCacheSize; i++ {
			slot := (d.next + i) % deflateCacheSize
			if i > 0 && d.bytes+2*len(key) <= deflateCacheBytes {
				break
			}
			if old := d.ring[slot]; old != "" {
				delete(d.cache, old)
				d.bytes -= 2 * len(old)
				d.ring[slot] = ""
			}
		}
		d.ring[d.next] = key
		d.next = (d.next + 1) % deflateCacheSize
		d.cache[key] = e
		d.bytes += 2 * len(key)
	}
	d.mu.Unlock()
	e.once.Do(func() { e.out = d.deflate(p) })
	return e.out
}

// deflate compresses p with a fresh window (no context takeover).
func (d *deflater) deflate(p []byte) []byte {
	d.compressions.Add(1)
	var buf bytes.Buffer
	buf.Grow(len(p)/2 + 16)
	w, _ := d.writers.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, d.level) // the level is valid
	} else {
		w.Reset(&buf)
	}
	_, _ = w.Write(p) // a bytes.Buffer does not fail
	_ = w.Flush()
	d.writers.Put(w)
	out := bytes.TrimSuffix(buf.Bytes(), deflateTail)
	if len(out) >= len(p) {
		return nil
	}
	return out
}

// inflate decompresses one inbound message of at most max bytes inflated;
// errTooBig past it.
func (d *deflater) inflate(p []byte, max int) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(p), bytes.NewReader(deflateTail))
	r, _ := d.readers.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadDeflate, err)
	}
	defer d.readers.Put(r)
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(r, int64(max)+1))
	switch {
	case n > int64(max):
		return nil, fmt.Errorf("%w: inflates past %d bytes", errTooBig, max)
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: %v", errBadDeflate, err)
	}
	// The stream ends where the tail's empty stored block ends: flate
	// reports that as an unexpected EOF, which is the normal end here.
	return out.Bytes(), nil
}
