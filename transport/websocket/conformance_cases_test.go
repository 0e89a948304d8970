package websocket

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Section 6: UTF-8 handling of text messages.
func utf8Cases() []wsCase {
	var cs []wsCase
	valid := func(id, desc string, p []byte) wsCase {
		return wsCase{id: id, desc: desc, run: func(s *session) { s.frame(true, 0, opText, p) }, ok: events(text(string(p))), close: normalClose}
	}
	invalid := func(id, desc string, p []byte) wsCase {
		return wsCase{id: id, desc: desc, run: func(s *session) { s.frame(true, 0, opText, p) }, close: fails(1007)}
	}
	// sample is an arbitrary vector: valid or not by the utf8 package,
	// which follows the Unicode standard (no surrogates, no overlong
	// forms, nothing past U+10FFFF), as RFC 3629 does.
	sample := func(id, desc string, p []byte) wsCase {
		if utf8.Valid(p) {
			return valid(id, desc, p)
		}
		return invalid(id, desc, p)
	}
	frags := func(id, desc string, parts ...string) wsCase {
		return wsCase{id: id, desc: desc, run: func(s *session) {
			for i, p := range parts {
				op := byte(opContinuation)
				if i == 0 {
					op = opText
				}
				s.frame(i == len(parts)-1, 0, op, []byte(p))
			}
		}, ok: events(text(strings.Join(parts, ""))), close: normalClose}
	}
	octets := func(p string) []string {
		var out []string
		for i := range len(p) {
			out = append(out, p[i:i+1])
		}
		return out
	}

	// 6.1: empty messages and fragments.
	cs = append(cs, frags("6.1.1", "empty text", ""),
		frags("6.1.2", "text of 3 empty fragments", "", "", ""),
		frags("6.1.3", "text of an empty, a non-empty and an empty fragment", "", "middle frame payload", ""))

	// 6.2: valid UTF-8, fragmented on and off code point boundaries.
	hello := "Hello-µ@ßöäüàá-UTF-8!!"
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" // κόσμε
	cs = append(cs, valid("6.2.1", "valid UTF-8 in one frame", []byte(hello)),
		frags("6.2.2", "valid UTF-8 in 2 fragments split on a code point", hello[:12], hello[12:]),
		frags("6.2.3", "valid UTF-8 in fragments of one octet", octets(hello)...),
		frags("6.2.4", "κόσμε in fragments of one octet", octets(kosme)...))

	// 6.3: invalid UTF-8, in one frame and in fragments of one octet.
	bad := kosme + "\xed\xa0\x80" + "edited"
	cs = append(cs, invalid("6.3.1", "invalid UTF-8 in one frame", []byte(bad)),
		wsCase{id: "6.3.2", desc: "invalid UTF-8 in fragments of one octet", run: func(s *session) {
			for i := range len(bad) {
				op := byte(opContinuation)
				if i == 0 {
					op = opText
				}
				s.frame(i == len(bad)-1, 0, op, []byte(bad[i:i+1]))
			}
		}, close: fails(1007)})

	// 6.4: fail fast: the connection must be failed at the fragment (6.4.1,
	// 6.4.2) or at the chop of a frame (6.4.3, 6.4.4) that makes the text
	// invalid, before the rest is sent.
	const p1, p2, p3 = kosmeConst, "\xf4\x90\x80\x80", "edited"
	cs = append(cs,
		wsCase{id: "6.4.1", desc: "invalid in the 2nd of 3 fragments: fail at it", run: func(s *session) {
			s.frame(false, 0, opText, []byte(p1))
			s.frame(false, 0, opContinuation, []byte(p2))
			s.failFast()
			s.frame(true, 0, opContinuation, []byte(p3))
		}, nonStrict: events(), close: fails(1007)},
		wsCase{id: "6.4.2", desc: "the 2nd of 3 fragments is one octet that makes it invalid: fail at it", run: func(s *session) {
			s.frame(false, 0, opText, []byte(p1+p2[:1]))
			s.frame(false, 0, opContinuation, []byte(p2[1:2]))
			s.failFast()
			s.frame(true, 0, opContinuation, []byte(p2[2:]+p3))
		}, nonStrict: events(), close: fails(1007)},
		wsCase{id: "6.4.3", desc: "one frame in 3 chops, the 2nd makes it invalid: fail at it", run: func(s *session) {
			f := rsvFrame(true, 0, opText, []byte(p1+p2+p3))
			hdr := len(f) - len(p1+p2+p3)
			s.write(f[:hdr+len(p1)])
			s.write(f[hdr+len(p1) : hdr+len(p1)+len(p2)])
			s.failFast()
			s.write(f[hdr+len(p1)+len(p2):])
		}, nonStrict: events(), close: fails(1007)},
		wsCase{id: "6.4.4", desc: "one frame in 3 chops, the 2nd is one octet that makes it invalid: fail at it", run: func(s *session) {
			f := rsvFrame(true, 0, opText, []byte(p1+p2+p3))
			hdr := len(f) - len(p1+p2+p3)
			s.write(f[:hdr+len(p1)+1])
			s.write(f[hdr+len(p1)+1 : hdr+len(p1)+2])
			s.failFast()
			s.write(f[hdr+len(p1)+2:])
		}, nonStrict: events(), close: fails(1007)})

	// 6.5: valid samples.
	for i, p := range []string{kosme, hello, "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97", "\xf0\x9f\x98\x80 grin", "mixed: a\u00e9\u4e2d\U0001F600z"} {
		cs = append(cs, valid(fmt.Sprintf("6.5.%d", i+1), "valid sample", []byte(p)))
	}
	// 6.6: every prefix of κόσμε: valid exactly when it ends on a code point.
	for i := 1; i <= len(kosme); i++ {
		cs = append(cs, sample(fmt.Sprintf("6.6.%d", i), fmt.Sprintf("κόσμε, first %d octets", i), []byte(kosme[:i])))
	}
	groups := []struct {
		section, desc string
		vectors       []string
	}{
		{"6.7", "first sequence of a length", []string{"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}},
		{"6.8", "first 5- or 6-octet sequence", []string{"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"}},
		{"6.9", "last sequence of a length", []string{"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}},
		{"6.10", "last 4-, 5- or 6-octet form", []string{"\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"}},
		{"6.11", "other boundary", []string{"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80"}},
		{"6.12", "unexpected continuation octets", []string{"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf",
			"\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", byteRange(0x80, 0xbf, "")}},
		{"6.13", "lonely start octets", []string{byteRange(0xc0, 0xdf, " "), byteRange(0xe0, 0xef, " "), byteRange(0xf0, 0xf7, " "),
			byteRange(0xf8, 0xfb, " "), byteRange(0xfc, 0xfd, " ")}},
		{"6.14", "last continuation octet missing", lastMissing},
		{"6.15", "concatenated incomplete sequences", []string{strings.Join(lastMissing, "")}},
		{"6.16", "impossible octets", []string{"\xfe", "\xff", "\xfe\xfe\xff\xff"}},
		{"6.17", "overlong '/'", []string{"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"}},
		{"6.18", "maximum overlong", []string{"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"}},
		{"6.19", "overlong NUL", []string{"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"}},
		{"6.20", "single surrogate", []string{"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"}},
		{"6.21", "paired surrogates", []string{"\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80",
			"\xed\xad\xbf\xed\xbf\xbf", "\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"}},
		{"6.22", "noncharacter (valid)", nonCharacters()},
		{"6.23", "specials (valid)", []string{"\uFFF9", "\uFFFA", "\uFFFB", "\uFFFC", "\uFFFD", "\uFEFF", "a\uFFFDb"}},
	}
	for _, g := range groups {
		for i, v := range g.vectors {
			cs = append(cs, sample(fmt.Sprintf("%s.%d", g.section, i+1), g.desc, []byte(v)))
		}
	}
	return cs
}

const kosmeConst = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// lastMissing are sequences of 2 to 6 octets without their last one.
var lastMissing = []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
	"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}

// byteRange returns the octets lo..hi, each followed by sep.
func byteRange(lo, hi byte, sep string) string {
	var b strings.Builder
	for c := int(lo); c <= int(hi); c++ {
		b.WriteByte(byte(c))
		b.WriteString(sep)
	}
	return b.String()
}

// nonCharacters returns U+FFFE, U+FFFF and U+nFFFE, U+nFFFF of every plane.
func nonCharacters() []string {
	var out []string
	for plane := rune(0); plane <= 16; plane++ {
		out = append(out, string(plane<<16|0xfffe), string(plane<<16|0xffff))
	}
	return out
}

// Section 7: the closing handshake.
func closeCases() []wsCase {
	hello := "Hello World!"
	closeCode := func(code int, reason string) []byte { return closePayload(code, reason) }
	echo := func(code int) closeExpect { return closeExpect{codes: []int{code, 1000}} }
	big := string(pattern(256 << 10))
	cs := []wsCase{
		{id: "7.1.1", desc: "text, then close", run: func(s *session) { s.text(hello); s.closeWith(closeCode(1000, "")) },
			ok: events(text(hello)), close: normalClose},
		{id: "7.1.2", desc: "close twice", run: func(s *session) {
			s.write(append(rsvFrame(true, 0, opClose, closeCode(1000, "")), rsvFrame(true, 0, opClose, closeCode(1000, ""))...))
			s.wmu.Lock()
			s.sentClose = true
			s.wmu.Unlock()
		}, ok: events(), close: normalClose},
		{id: "7.1.3", desc: "close, then ping", run: func(s *session) { s.closeWith(closeCode(1000, "")); s.ping(hello) },
			ok: events(), close: normalClose},
		{id: "7.1.4", desc: "close, then text", run: func(s *session) { s.closeWith(closeCode(1000, "")); s.text(hello) },
			ok: events(), close: normalClose},
		{id: "7.1.5", desc: "text fragment, close, last fragment", run: func(s *session) {
			s.frame(false, 0, opText, []byte("fragment1"))
			s.closeWith(closeCode(1000, ""))
			s.frame(true, 0, opContinuation, []byte("fragment2"))
		}, ok: events(), close: normalClose},
		{id: "7.1.6", desc: "256 KiB text, small text, close, ping, in one write", run: func(s *session) {
			all := rsvFrame(true, 0, opText, []byte(big))
			all = append(all, rsvFrame(true, 0, opText, []byte(hello))...)
			all = append(all, rsvFrame(true, 0, opClose, closeCode(1000, ""))...)
			all = append(all, rsvFrame(true, 0, opPing, nil)...)
			s.wmu.Lock()
			s.sentClose = true
			s.wmu.Unlock()
			s.write(all)
		}, ok: events(text(big), text(hello)), close: normalClose},
		{id: "7.3.1", desc: "close without payload", run: func(s *session) { s.closeWith(nil) }, ok: events(), close: closeExpect{codes: []int{1000, 1005}}},
		{id: "7.3.2", desc: "close with a one-octet payload", run: func(s *session) { s.closeWith([]byte{0x03}) }, ok: events(), close: closeExpect{codes: []int{1002}}},
		{id: "7.3.3", desc: "close 1000", run: func(s *session) { s.closeWith(closeCode(1000, "")) }, ok: events(), close: normalClose},
		{id: "7.3.4", desc: "close 1000 with a reason", run: func(s *session) { s.closeWith(closeCode(1000, hello)) }, ok: events(), close: normalClose},
		{id: "7.3.5", desc: "close 1000 with a 123-octet reason", run: func(s *session) { s.closeWith(closeCode(1000, strings.Repeat("*", 123))) },
			ok: events(), close: normalClose},
		{id: "7.3.6", desc: "close 1000 with a 124-octet reason (payload over 125)", run: func(s *session) {
			s.closeWith(append(closeCode(1000, ""), strings.Repeat("*", 124)...))
		}, ok: events(), close: closeExpect{codes: []int{1002}}},
		{id: "7.5.1", desc: "close with an invalid UTF-8 reason", run: func(s *session) {
			s.closeWith(append(closeCode(1000, ""), "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"...))
		}, ok: events(), close: closeExpect{codes: []int{1007}}},
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, wsCase{id: fmt.Sprintf("7.7.%d", i+1), desc: fmt.Sprintf("close with valid code %d", code),
			run: func(s *session) { s.closeWith(closeCode(code, "")) }, ok: events(), close: echo(code)})
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, wsCase{id: fmt.Sprintf("7.9.%d", i+1), desc: fmt.Sprintf("close with invalid code %d", code),
			run: func(s *session) { s.closeWith(closeCode(code, "")) }, ok: events(), close: closeExpect{codes: []int{1002}}})
	}
	for i, code := range []int{5000, 65535} {
		cs = append(cs, wsCase{id: fmt.Sprintf("7.13.%d", i+1), desc: fmt.Sprintf("close with code %d, outside every range", code),
			run: func(s *session) { s.closeWith(closeCode(code, "")) }, informational: true})
	}
	return cs
}

// Section 9.1-9.2: large messages, up to 1 MiB (the suite's server limit;
// Autobahn goes to 16 MiB).
func limitsCases() []wsCase {
	var cs []wsCase
	for i, n := range []int{64 << 10, 256 << 10, 1 << 20} {
		p := pattern(n)
		cs = append(cs, wsCase{id: fmt.Sprintf("9.1.%d", i+1), desc: fmt.Sprintf("text of %d bytes", n),
			run: func(s *session) { s.text(string(p)) }, ok: events(text(string(p))), close: normalClose})
	}
	for i, n := range []int{64 << 10, 256 << 10, 1 << 20} {
		p := bytes.Repeat([]byte{0xfe}, n)
		cs = append(cs, wsCase{id: fmt.Sprintf("9.2.%d", i+1), desc: fmt.Sprintf("binary of %d bytes", n),
			run: func(s *session) { s.binary(p) }, ok: events(bin(p)), close: normalClose})
	}
	return cs
}

// Section 10: miscellaneous.
func miscCases() []wsCase {
	p := pattern(65536)
	return []wsCase{{id: "10.1.1", desc: "text of 65536 bytes in fragments of 1300", run: func(s *session) {
		for off := 0; off < len(p); off += 1300 {
			end := min(off+1300, len(p))
			op := byte(opContinuation)
			if off == 0 {
				op = opText
			}
			s.frame(end == len(p), 0, op, p[off:end])
		}
	}, ok: events(text(string(p))), close: normalClose}}
}

// Sections 12 and 13: permessage-deflate. 12.1-12.5 send compressed
// messages of five kinds of payload, 13.1-13.7 one kind under seven offers;
// each in the 18 configurations of Autobahn (10 sizes from 16 bytes to 128
// KiB in one frame, 8 fragmented), every message echoed. Autobahn sends
// 1000 messages per case; here at most 20, and 32 KiB unless one message is
// larger, which CI
// affords.
func compressionCases() []wsCase {
	kinds := []struct {
		desc   string
		corpus []byte
		op     byte
	}{
		{"JSON", corpusJSON(), opText},
		{"bitmap", corpusBitmap(), opBinary},
		{"human text", corpusText(), opText},
		{"HTML", corpusHTML(), opText},
		{"random binary", corpusRandom(), opBinary},
	}
	type config struct{ size, frag int }
	var configs []config
	for _, n := range []int{16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072} {
		configs = append(configs, config{n, 0})
	}
	for _, c := range []config{{8192, 256}, {16384, 256}, {32768, 256}, {65536, 256}, {131072, 256}, {32768, 1024}, {65536, 1024}, {131072, 1024}} {
		configs = append(configs, c)
	}
	mk := func(id, desc, offer string, corpus []byte, op byte, cfg config) wsCase {
		count := min(20, max(1, (32<<10)/cfg.size))
		var want []event
		msgs := make([][]byte, count)
		for i := range msgs {
			off := (i * 7919 * 16) % (len(corpus) - cfg.size)
			msgs[i] = corpus[off : off+cfg.size]
			want = append(want, event{op: op, data: msgs[i]})
		}
		return wsCase{id: id, offer: offer,
			desc: fmt.Sprintf("%s, %d messages of %d bytes, fragments of %d", desc, count, cfg.size, cfg.frag),
			run: func(s *session) {
				for _, m := range msgs {
					s.deflated(op, m, cfg.frag)
				}
			}, ok: want, close: normalClose}
	}
	var cs []wsCase
	for k, kind := range kinds {
		for i, cfg := range configs {
			cs = append(cs, mk(fmt.Sprintf("12.%d.%d", k+1, i+1), kind.desc, "permessage-deflate", kind.corpus, kind.op, cfg))
		}
	}
	offers := []string{
		"permessage-deflate",
		"permessage-deflate; client_no_context_takeover",
		"permessage-deflate; client_max_window_bits=8",
		"permessage-deflate; client_max_window_bits=15",
		"permessage-deflate; client_no_context_takeover; client_max_window_bits=8",
		"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
		"permessage-deflate; client_no_context_takeover; client_max_window_bits=8, permessage-deflate; client_no_context_takeover, permessage-deflate",
	}
	for o, offer := range offers {
		for i, cfg := range configs {
			cs = append(cs, mk(fmt.Sprintf("13.%d.%d", o+1, i+1), "JSON under "+offer, offer, kinds[0].corpus, opText, cfg))
		}
	}
	return cs
}

// The corpora of section 12: 512 KiB of each kind, made here
// deterministically (Autobahn reads files of each kind).
const corpusSize = 512 << 10

func corpusJSON() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < corpusSize; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","topic":"room:%d","body":"message number %d in the room","tags":["a","b%d"],"at":%d},`,
			i, i%97, i%13, i, i%7, 1700000000+i*37)
	}
	return b.Bytes()[:corpusSize]
}

func corpusBitmap() []byte {
	b := make([]byte, corpusSize)
	for i := range b {
		x, y := i%512, i/512
		if (x/16+y/16)%2 == 0 || (x-256)*(x-256)+(y-512)*(y-512) < 20000 {
			b[i] = 0xff
		}
	}
	return b
}

func corpusText() []byte {
	words := strings.Fields("Habe nun, ach! Philosophie, Juristerei und Medizin, und leider auch Theologie durchaus studiert, " +
		"mit heissem Bemuehn. Da steh ich nun, ich armer Tor! Und bin so klug als wie zuvor; heisse Magister, heisse Doktor gar")
	var b bytes.Buffer
	for i := 0; b.Len() < corpusSize+16; i++ {
		b.WriteString(words[(i*31+i/len(words))%len(words)])
		b.WriteByte(" \n"[boolInt(i%17 == 16)])
	}
	return b.Bytes()[:corpusSize] // ASCII: any cut is valid UTF-8
}

func corpusHTML() []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html><html><head><title>corpus</title></head><body>")
	for i := 0; b.Len() < corpusSize; i++ {
		fmt.Fprintf(&b, `<div class="row r%d"><a href="/item/%d">Item %d</a><span data-price="%d.%02d">$%d</span></div>`+"\n",
			i%5, i, i, i%300, i%100, i%300)
	}
	return b.Bytes()[:corpusSize]
}

func corpusRandom() []byte {
	b := make([]byte, corpusSize)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
