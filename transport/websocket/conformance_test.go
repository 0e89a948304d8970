package websocket

// The conformance suite: the cases of the Autobahn|Testsuite fuzzing
// client, sections 1-7, 9.1-9.2 (messages up to 1 MiB) and 10, written
// here from the public case definitions (each states a fact of RFC 6455:
// what a client sends, what a server must answer). They run against the
// transport with an echo Receiver, as Autobahn runs against an echo server,
// and each case is graded by Autobahn's rules:
//
//	OK           the frames received are the expected ones, and the close
//	             is as expected (code, who closes first)
//	NON-STRICT   the frames are the expected ones of the lenient answer the
//	             case also allows (e.g. a message before a violation not
//	             echoed, invalid UTF-8 noticed only at the end of the
//	             message instead of at the offending fragment)
//	INFORMATIONAL the case only records what happened (close codes
//	             outside the RFC's ranges)
//	FAILED       anything else
//
// TestConformance fails on any FAILED case and on any NON-STRICT one not
// listed in conformanceNonStrict with its reason; it logs a summary line.
// Run one section with go test -run 'TestConformance/6\.4' -v.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

type grade int

const (
	gradeOK grade = iota
	gradeNonStrict
	gradeInformational
	gradeFailed
)

func (g grade) String() string {
	return [...]string{"OK", "NON-STRICT", "INFORMATIONAL", "FAILED"}[g]
}

// event is one thing the client received: a message (text or binary,
// reassembled) or a pong.
type event struct {
	op   byte
	data []byte
}

func (e event) String() string {
	name := map[byte]string{opText: "text", opBinary: "binary", opPong: "pong"}[e.op]
	if len(e.data) > 40 {
		return fmt.Sprintf("%s(%d bytes)", name, len(e.data))
	}
	return fmt.Sprintf("%s(%q)", name, e.data)
}

func text(s string) event { return event{op: opText, data: []byte(s)} }
func bin(b []byte) event  { return event{op: opBinary, data: b} }
func pong(s string) event { return event{op: opPong, data: []byte(s)} }
func events(e ...event) []event {
	if e == nil {
		return []event{} // non-nil: "no event" is an expectation
	}
	return e
}

// closeExpect is how a case must end.
type closeExpect struct {
	// serverFails: the server must send the first close frame (it fails
	// the connection); else the client closes with 1000 after the case's
	// frames, or the case sent its own close frame.
	serverFails bool
	// codes the server's close frame may carry; 1005 is a close frame
	// without a code.
	codes []int
}

// wsCase is one conformance case.
type wsCase struct {
	id, desc string
	run      func(s *session)
	// ok are the events of a strict answer; nonStrict, when non-nil, those
	// of the lenient answer the case also accepts.
	ok, nonStrict []event
	close         closeExpect
	// informational cases are graded INFORMATIONAL whenever the server
	// closes cleanly.
	informational bool
	// offer, when set, is the Sec-WebSocket-Extensions of the handshake
	// (sections 12 and 13): the server with Compression must accept it.
	offer string
}

// session is one connection of a case, from the client's side.
type session struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader

	// wmu serialises writes of the case and of the reader (close echo).
	wmu       sync.Mutex
	sentClose bool

	// z compresses the case's messages (deflated).
	z *deflater

	// late is set by failFast when the server had not failed the
	// connection in time: the case is at best NON-STRICT.
	late bool

	// mu guards the reader's results below.
	mu          sync.Mutex
	got         []event
	serverClose int  // the code of the server's close frame; 0 before one
	serverFirst bool // the server's close came before the client's
	readErr     error
	closed      chan struct{} // the server's close frame has arrived
	done        chan struct{} // the reader has ended
}

func newSession(t *testing.T, c *client) *session {
	s := &session{t: t, nc: c.nc, br: c.br, closed: make(chan struct{}), done: make(chan struct{})}
	go s.read()
	return s
}

// read collects what the server sends until the connection ends. It echoes
// the server's close frame when the client has not sent one.
func (s *session) read() {
	defer close(s.done)
	var msg []byte
	var msgOp byte
	var msgDeflated bool
	z := newDeflater()
	for {
		h, err := readHeader(s.br)
		if err != nil {
			s.end(err)
			return
		}
		p := make([]byte, h.length)
		if _, err := io.ReadFull(s.br, p); err != nil {
			s.end(err)
			return
		}
		if h.masked {
			s.end(errors.New("server frame is masked"))
			return
		}
		switch h.op {
		case opText, opBinary:
			msgOp, msg, msgDeflated = h.op, p, h.rsv1
		case opContinuation:
			msg = append(msg, p...)
		case opPong:
			s.add(event{op: opPong, data: p})
			continue
		case opPing:
			s.write(clientFrame(true, opPong, p, true))
			continue
		case opClose:
			code := 1005
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			s.wmu.Lock()
			first := !s.sentClose
			if first {
				s.sentClose = true
				_, _ = s.nc.Write(clientFrame(true, opClose, p[:min(len(p), 2)], true))
			}
			s.wmu.Unlock()
			s.mu.Lock()
			s.serverClose, s.serverFirst = code, first
			s.mu.Unlock()
			close(s.closed)
			// Read on to the end of the stream.
			_, err := io.Copy(io.Discard, s.br)
			s.end(err)
			return
		}
		if h.fin {
			if msgDeflated {
				if msg, err = z.inflate(msg, 64<<20); err != nil {
					s.end(fmt.Errorf("inflate a server message: %w", err))
					return
				}
			}
			s.add(event{op: msgOp, data: msg})
			msg = nil
		}
	}
}

func (s *session) add(e event) {
	s.mu.Lock()
	s.got = append(s.got, e)
	s.mu.Unlock()
}

func (s *session) end(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	s.readErr = err
	s.mu.Unlock()
}

// write sends raw bytes; after the server's close, writes may fail (the
// server may be gone): that is not an error of the case.
func (s *session) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, _ = s.nc.Write(b)
}

// frame sends one masked frame; rsv is the three reserved bits (0-7).
func (s *session) frame(fin bool, rsv, op byte, payload []byte) {
	s.write(rsvFrame(fin, rsv, op, payload))
}

func rsvFrame(fin bool, rsv, op byte, payload []byte) []byte {
	f := clientFrame(fin, op, payload, true)
	f[0] |= rsv << 4
	return f
}

func (s *session) text(p string)   { s.frame(true, 0, opText, []byte(p)) }
func (s *session) binary(p []byte) { s.frame(true, 0, opBinary, p) }
func (s *session) ping(p string)   { s.frame(true, 0, opPing, []byte(p)) }

// chopped sends b in writes of chop bytes each.
func (s *session) chopped(b []byte, chop int) {
	for len(b) > 0 {
		n := min(chop, len(b))
		s.write(b[:n])
		b = b[n:]
	}
}

// deflated sends one message compressed (permessage-deflate, no context
// takeover) in one frame, or in fragments of frag bytes of compressed data.
func (s *session) deflated(op byte, p []byte, frag int) {
	if s.z == nil {
		s.z = newDeflater()
	}
	z := s.z.deflate(p)
	if z == nil { // incompressible: the raw DEFLATE of a stored block
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.NoCompression)
		_, _ = w.Write(p)
		_ = w.Flush()
		z = bytes.TrimSuffix(buf.Bytes(), deflateTail)
	}
	if frag <= 0 {
		frag = len(z)
	}
	for off := 0; off == 0 || off < len(z); off += frag {
		end := min(off+frag, len(z))
		fop, rsv := byte(opContinuation), byte(0)
		if off == 0 {
			fop, rsv = op, 4 // RSV1
		}
		s.frame(end == len(z), rsv, fop, z[off:end])
	}
}

// closeWith sends a close frame with the given payload.
func (s *session) closeWith(payload []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.sentClose = true
	_, _ = s.nc.Write(clientFrame(true, opClose, payload, true))
}

// failFastWait is how long failFast waits for the server's close frame:
// Autobahn's fail-fast cases wait a second before the next frame.
const failFastWait = time.Second

// failFast waits for the server to fail the connection before the case
// sends more; if it has not, the case is at best NON-STRICT.
func (s *session) failFast() {
	t := time.NewTimer(failFastWait)
	defer t.Stop()
	select {
	case <-s.closed:
	case <-t.C:
		s.late = true
	}
}

// runCase runs c on a fresh connection and grades it.
func runCase(t *testing.T, dialer func(wsCase) *client, c wsCase) (grade, string) {
	cl := dialer(c)
	if cl == nil {
		return gradeFailed, "permessage-deflate not negotiated"
	}
	_ = cl.nc.SetDeadline(time.Now().Add(10 * time.Second))
	s := newSession(t, cl)
	c.run(s)
	if !c.close.serverFails {
		s.wmu.Lock()
		sent := s.sentClose
		s.wmu.Unlock()
		if !sent {
			s.closeWith(closePayload(1000, ""))
		}
	}
	<-s.done
	_ = cl.nc.Close()

	s.mu.Lock()
	got, code, first, readErr := s.got, s.serverClose, s.serverFirst, s.readErr
	s.mu.Unlock()
	switch {
	case readErr != nil:
		return gradeFailed, fmt.Sprintf("read: %v (events %v)", readErr, got)
	case code == 0:
		return gradeFailed, fmt.Sprintf("no close frame from the server (events %v)", got)
	case c.informational:
		return gradeInformational, fmt.Sprintf("server closed with %d", code)
	case c.close.serverFails && !first:
		return gradeFailed, "the server did not fail the connection"
	case !containsInt(c.close.codes, code):
		return gradeFailed, fmt.Sprintf("close code %d, want one of %v", code, c.close.codes)
	}
	switch {
	case sameEvents(got, c.ok) && !s.late:
		return gradeOK, ""
	case sameEvents(got, c.ok) && s.late:
		return gradeNonStrict, "the connection was failed only after the case went on"
	case c.nonStrict != nil && sameEvents(got, c.nonStrict):
		return gradeNonStrict, fmt.Sprintf("events %v, strict answer %v", got, c.ok)
	}
	return gradeFailed, fmt.Sprintf("events %v, want %v", got, c.ok)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sameEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].op != b[i].op || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

// conformanceNonStrict lists the cases allowed to grade NON-STRICT, with
// the reason. It is empty: every case is strict.
var conformanceNonStrict = map[string]string{}

// TestConformance runs every case and prints the summary line.
func TestConformance(t *testing.T) {
	h := &echoHandler{}
	_, hs := newTestServer(t, h, Options{MaxFrameSize: 1 << 20})
	_, hsz := newTestServer(t, h, Options{MaxFrameSize: 1 << 20, Compression: true})
	dialer := func(c wsCase) *client {
		if c.offer == "" {
			cl, resp := dial(t, hs, phoenixQuery, nil)
			if resp.StatusCode != 101 {
				t.Fatalf("handshake: %d", resp.StatusCode)
			}
			return cl
		}
		cl, resp := dial(t, hsz, phoenixQuery, http.Header{"Sec-Websocket-Extensions": {c.offer}})
		if resp.StatusCode != 101 {
			t.Fatalf("handshake: %d", resp.StatusCode)
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") != deflateAnswer {
			_ = cl.nc.Close()
			h.mu.Lock()
			h.closed++ // counted as the closed connection of the case
			h.mu.Unlock()
			return nil
		}
		return cl
	}
	cases := conformanceCases()
	counts := map[grade]int{}
	seen, ranIDs := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		if seen[c.id] {
			t.Fatalf("case %s twice", c.id)
		}
		seen[c.id] = true
		t.Run(c.id, func(t *testing.T) {
			ranIDs[c.id] = true
			g, why := runCase(t, dialer, c)
			counts[g]++
			switch {
			case g == gradeFailed:
				t.Errorf("%s %s: FAILED: %s", c.id, c.desc, why)
			case g == gradeNonStrict && conformanceNonStrict[c.id] == "":
				t.Errorf("%s %s: NON-STRICT: %s", c.id, c.desc, why)
			case g != gradeOK:
				t.Logf("%s %s: %s: %s", c.id, c.desc, g, why)
			}
		})
	}
	ran := counts[gradeOK] + counts[gradeNonStrict] + counts[gradeInformational] + counts[gradeFailed]
	t.Logf("conformance: %d cases: %d OK, %d NON-STRICT, %d INFORMATIONAL, %d FAILED",
		ran, counts[gradeOK], counts[gradeNonStrict], counts[gradeInformational], counts[gradeFailed])
	perSection := map[string]int{}
	for _, c := range cases {
		if !ranIDs[c.id] {
			continue
		}
		perSection[strings.SplitN(c.id, ".", 2)[0]]++
	}
	var secs []string
	for k, v := range perSection {
		secs = append(secs, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(secs)
	t.Logf("conformance: cases per section %s", strings.Join(secs, " "))
	waitFor(t, func() bool { return h.closedCount() == ran })
}

// pattern returns n bytes of a repeated ASCII pattern.
func pattern(n int) []byte {
	const p = "BAsd7&jh23"
	return bytes.Repeat([]byte(p), n/len(p)+1)[:n]
}

func fails(codes ...int) closeExpect { return closeExpect{serverFails: true, codes: codes} }

var normalClose = closeExpect{codes: []int{1000}}

// conformanceCases returns the cases of every section, in order.
func conformanceCases() []wsCase {
	var cs []wsCase
	cs = append(cs, framingCases()...)
	cs = append(cs, pingPongCases()...)
	cs = append(cs, reservedBitsCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentationCases()...)
	cs = append(cs, utf8Cases()...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitsCases()...)
	cs = append(cs, miscCases()...)
	cs = append(cs, compressionCases()...)
	return cs
}

// Section 1: framing, text (1.1) and binary (1.2) of boundary lengths.
func framingCases() []wsCase {
	var cs []wsCase
	lengths := []int{0, 125, 126, 127, 128, 65535, 65536}
	for i, n := range lengths {
		p := bytes.Repeat([]byte{'*'}, n)
		cs = append(cs, wsCase{id: fmt.Sprintf("1.1.%d", i+1), desc: fmt.Sprintf("text of %d bytes", n),
			run: func(s *session) { s.text(string(p)) }, ok: events(text(string(p))), close: normalClose})
	}
	p := bytes.Repeat([]byte{'*'}, 65536)
	cs = append(cs, wsCase{id: "1.1.8", desc: "text of 65536 bytes in chops of 997",
		run: func(s *session) { s.chopped(rsvFrame(true, 0, opText, p), 997) }, ok: events(text(string(p))), close: normalClose})
	for i, n := range lengths {
		p := bytes.Repeat([]byte{0xfe}, n)
		cs = append(cs, wsCase{id: fmt.Sprintf("1.2.%d", i+1), desc: fmt.Sprintf("binary of %d bytes", n),
			run: func(s *session) { s.binary(p) }, ok: events(bin(p)), close: normalClose})
	}
	pb := bytes.Repeat([]byte{0xfe}, 65536)
	cs = append(cs, wsCase{id: "1.2.8", desc: "binary of 65536 bytes in chops of 997",
		run: func(s *session) { s.chopped(rsvFrame(true, 0, opBinary, pb), 997) }, ok: events(bin(pb)), close: normalClose})
	return cs
}

// Section 2: pings and pongs.
func pingPongCases() []wsCase {
	binPayload := string([]byte{0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff})
	p125 := strings.Repeat("\xfe", 125)
	var ten []event
	for i := range 10 {
		ten = append(ten, pong(fmt.Sprintf("payload-%d", i)))
	}
	return []wsCase{
		{id: "2.1", desc: "ping without payload", run: func(s *session) { s.ping("") }, ok: events(pong("")), close: normalClose},
		{id: "2.2", desc: "ping with a small text payload", run: func(s *session) { s.ping("Hello, world!") }, ok: events(pong("Hello, world!")), close: normalClose},
		{id: "2.3", desc: "ping with a small binary payload", run: func(s *session) { s.ping(binPayload) }, ok: events(pong(binPayload)), close: normalClose},
		{id: "2.4", desc: "ping with a 125-byte payload", run: func(s *session) { s.ping(p125) }, ok: events(pong(p125)), close: normalClose},
		{id: "2.5", desc: "ping with a 126-byte payload", run: func(s *session) { s.ping(p125 + "\xfe") }, close: fails(1002)},
		{id: "2.6", desc: "ping with a 125-byte payload in chops of 1", run: func(s *session) {
			s.chopped(rsvFrame(true, 0, opPing, []byte(p125)), 1)
		}, ok: events(pong(p125)), close: normalClose},
		{id: "2.7", desc: "unsolicited pong without payload", run: func(s *session) { s.frame(true, 0, opPong, nil) }, ok: events(), close: normalClose},
		{id: "2.8", desc: "unsolicited pong with payload", run: func(s *session) {
			s.frame(true, 0, opPong, []byte("unsolicited pong payload"))
		}, ok: events(), close: normalClose},
		{id: "2.9", desc: "unsolicited pong, then ping", run: func(s *session) {
			s.frame(true, 0, opPong, []byte("unsolicited pong payload"))
			s.ping("ping payload")
		}, ok: events(pong("ping payload")), close: normalClose},
		{id: "2.10", desc: "ten pings", run: func(s *session) {
			for i := range 10 {
				s.ping(fmt.Sprintf("payload-%d", i))
			}
		}, ok: ten, close: normalClose},
		{id: "2.11", desc: "ten pings in chops of 1", run: func(s *session) {
			for i := range 10 {
				s.chopped(rsvFrame(true, 0, opPing, []byte(fmt.Sprintf("payload-%d", i))), 1)
			}
		}, ok: ten, close: normalClose},
	}
}

// Section 3: reserved bits, which no extension was negotiated to use.
func reservedBitsCases() []wsCase {
	hello := "Hello, world!"
	// then sends a small text, the frame with reserved bits, and a ping,
	// in one write or in chops of chop bytes.
	then := func(rsv, op byte, payload []byte, chop int) func(s *session) {
		return func(s *session) {
			all := rsvFrame(true, 0, opText, []byte(hello))
			all = append(all, rsvFrame(true, rsv, op, payload)...)
			all = append(all, rsvFrame(true, 0, opPing, nil)...)
			s.chopped(all, chop)
		}
	}
	bigChop := 1 << 20
	return []wsCase{
		{id: "3.1", desc: "text with RSV = 1", run: func(s *session) { s.frame(true, 1, opText, []byte(hello)) }, close: fails(1002)},
		{id: "3.2", desc: "text, text with RSV = 2, ping", run: then(2, opText, []byte(hello), bigChop),
			ok: events(text(hello)), nonStrict: events(), close: fails(1002)},
		{id: "3.3", desc: "text, text with RSV = 3, ping, in one write", run: then(3, opText, []byte(hello), bigChop),
			ok: events(text(hello)), nonStrict: events(), close: fails(1002)},
		{id: "3.4", desc: "text, text with RSV = 4, ping, in chops of 1", run: then(4, opText, []byte(hello), 1),
			ok: events(text(hello)), nonStrict: events(), close: fails(1002)},
		{id: "3.5", desc: "binary with RSV = 5", run: func(s *session) { s.frame(true, 5, opBinary, []byte{0, 0xff, 0xfe}) }, close: fails(1002)},
		{id: "3.6", desc: "ping with RSV = 6", run: func(s *session) { s.frame(true, 6, opPing, []byte(hello)) }, close: fails(1002)},
		{id: "3.7", desc: "close with RSV = 7", run: func(s *session) { s.frame(true, 7, opClose, closePayload(1000, "")) }, close: fails(1002)},
	}
}

// Section 4: reserved opcodes, non-control (4.1) and control (4.2).
func opcodeCases() []wsCase {
	hello := "Hello, world!"
	var cs []wsCase
	for i, kind := range []struct {
		section string
		ops     []byte
	}{{"4.1", []byte{3, 4, 5, 6, 7}}, {"4.2", []byte{11, 12, 13, 14, 15}}} {
		_ = i
		for j, op := range kind.ops {
			id := fmt.Sprintf("%s.%d", kind.section, j+1)
			switch j {
			case 0:
				cs = append(cs, wsCase{id: id, desc: fmt.Sprintf("opcode %d", op),
					run: func(s *session) { s.frame(true, 0, op, nil) }, close: fails(1002)})
			case 1:
				cs = append(cs, wsCase{id: id, desc: fmt.Sprintf("opcode %d with payload", op),
					run: func(s *session) { s.frame(true, 0, op, []byte("reserved opcode payload")) }, close: fails(1002)})
			default:
				var payload []byte
				if j >= 3 {
					payload = []byte("reserved opcode payload")
				}
				cs = append(cs, wsCase{id: id, desc: fmt.Sprintf("text, opcode %d, ping", op),
					run: func(s *session) {
						all := rsvFrame(true, 0, opText, []byte(hello))
						all = append(all, rsvFrame(true, 0, op, payload)...)
						all = append(all, rsvFrame(true, 0, opPing, nil)...)
						s.write(all)
					}, ok: events(text(hello)), nonStrict: events(), close: fails(1002)})
			}
		}
	}
	return cs
}

// Section 5: fragmentation.
func fragmentationCases() []wsCase {
	f := func(fin bool, op byte, p string) []byte { return rsvFrame(fin, 0, op, []byte(p)) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	// send writes each frame of frames in one write per frame (chop 0), in
	// chops of chop bytes, or all in one write (chop < 0).
	send := func(chop int, frames ...[]byte) func(s *session) {
		return func(s *session) {
			switch {
			case chop < 0:
				s.write(cat(frames...))
			case chop == 0:
				for _, fr := range frames {
					s.write(fr)
				}
			default:
				s.chopped(cat(frames...), chop)
			}
		}
	}
	twoFrags := []([]byte){f(false, opText, "fragment1"), f(true, opContinuation, "fragment2")}
	withPing := []([]byte){f(false, opText, "fragment1"), f(true, opPing, "ping payload"), f(true, opContinuation, "fragment2")}
	orphanFin := []([]byte){f(true, opContinuation, "non-continuation payload"), f(true, opText, "Hello, world!")}
	orphanNoFin := []([]byte){f(false, opContinuation, "non-continuation payload"), f(true, opText, "Hello, world!")}
	msg12 := events(text("fragment1fragment2"))
	return []wsCase{
		{id: "5.1", desc: "ping in 2 fragments", run: send(0, f(false, opPing, "fragment1"), f(true, opContinuation, "fragment2")), close: fails(1002)},
		{id: "5.2", desc: "pong in 2 fragments", run: send(0, f(false, opPong, "fragment1"), f(true, opContinuation, "fragment2")), close: fails(1002)},
		{id: "5.3", desc: "text in 2 fragments", run: send(0, twoFrags...), ok: msg12, close: normalClose},
		{id: "5.4", desc: "text in 2 fragments, one write", run: send(-1, twoFrags...), ok: msg12, close: normalClose},
		{id: "5.5", desc: "text in 2 fragments, chops of 1", run: send(1, twoFrags...), ok: msg12, close: normalClose},
		{id: "5.6", desc: "text in 2 fragments, ping between", run: send(0, withPing...), ok: events(pong("ping payload"), msg12[0]), close: normalClose},
		{id: "5.7", desc: "text in 2 fragments, ping between, one write", run: send(-1, withPing...), ok: events(pong("ping payload"), msg12[0]), close: normalClose},
		{id: "5.8", desc: "text in 2 fragments, ping between, chops of 1", run: send(1, withPing...), ok: events(pong("ping payload"), msg12[0]), close: normalClose},
		{id: "5.9", desc: "continuation (FIN) without a message, then text", run: send(0, orphanFin...), close: fails(1002)},
		{id: "5.10", desc: "continuation (FIN) without a message, then text, one write", run: send(-1, orphanFin...), close: fails(1002)},
		{id: "5.11", desc: "continuation (FIN) without a message, then text, chops of 1", run: send(1, orphanFin...), close: fails(1002)},
		{id: "5.12", desc: "continuation (no FIN) without a message, then text", run: send(0, orphanNoFin...), close: fails(1002)},
		{id: "5.13", desc: "continuation (no FIN) without a message, then text, one write", run: send(-1, orphanNoFin...), close: fails(1002)},
		{id: "5.14", desc: "continuation (no FIN) without a message, then text, chops of 1", run: send(1, orphanNoFin...), close: fails(1002)},
		{id: "5.15", desc: "text in 2 fragments, then continuation without a message, then text in 2 fragments", run: send(-1,
			f(false, opText, "fragment1"), f(true, opContinuation, "fragment2"), f(false, opContinuation, "fragment3"),
			f(true, opText, "fragment4")), ok: msg12, nonStrict: events(), close: fails(1002)},
		{id: "5.16", desc: "twice: continuation without a message, text fragment, continuation", run: send(-1,
			f(false, opContinuation, "fragment1"), f(false, opText, "fragment2"), f(true, opContinuation, "fragment3"),
			f(false, opContinuation, "fragment1"), f(false, opText, "fragment2"), f(true, opContinuation, "fragment3")), close: fails(1002)},
		{id: "5.17", desc: "twice: continuation (FIN) without a message, text fragment, continuation", run: send(-1,
			f(true, opContinuation, "fragment1"), f(false, opText, "fragment2"), f(true, opContinuation, "fragment3"),
			f(true, opContinuation, "fragment1"), f(false, opText, "fragment2"), f(true, opContinuation, "fragment3")), close: fails(1002)},
		{id: "5.18", desc: "text in 2 fragments, both with the text opcode", run: send(-1, f(false, opText, "fragment1"), f(true, opText, "fragment2")), close: fails(1002)},
		{id: "5.19", desc: "text in 5 fragments, pings between", run: send(0,
			f(false, opText, "fragment1"), f(false, opContinuation, "fragment2"), f(true, opPing, "pongme 1!"),
			f(false, opContinuation, "fragment3"), f(false, opContinuation, "fragment4"), f(true, opPing, "pongme 2!"),
			f(true, opContinuation, "fragment5")),
			ok: events(pong("pongme 1!"), pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")), close: normalClose},
		{id: "5.20", desc: "text in 5 fragments, pings between, chops of 1", run: send(1,
			f(false, opText, "fragment1"), f(false, opContinuation, "fragment2"), f(true, opPing, "pongme 1!"),
			f(false, opContinuation, "fragment3"), f(false, opContinuation, "fragment4"), f(true, opPing, "pongme 2!"),
			f(true, opContinuation, "fragment5")),
			ok: events(pong("pongme 1!"), pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")), close: normalClose},
	}
}
