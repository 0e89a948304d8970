// Command server-gobwas is the wsmem candidate server for github.com/gobwas/ws
// used at its low level: ws.UpgradeHTTP hijacks the net.Conn and writes the
// handshake response, the hijacked bufio.ReadWriter is dropped, and one read
// goroutine per connection reads frame headers straight from the net.Conn
// into a 12-byte array of its own (no bufio retained while idle). There is no
// per-connection write goroutine: writers call net.Conn.Write, which the
// runtime serialises per connection, with one whole frame per call.
package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"

	"github.com/parley-go/parley/bench/wsmem/internal/harness"
)

// maxMessage bounds what a client may send; larger frames close the connection.
const maxMessage = 1 << 16

// errProtocol closes a connection whose client broke RFC 6455.
var errProtocol = errors.New("server-gobwas: protocol error")

var frameBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeFrame frames p as one unmasked server frame and writes it with one
// Write call, so that concurrent writers never interleave frames.
func writeFrame(c net.Conn, fin bool, op ws.OpCode, p []byte) error {
	buf := frameBufs.Get().(*bytes.Buffer)
	defer frameBufs.Put(buf)
	buf.Reset()
	if err := ws.WriteHeader(buf, ws.Header{Fin: fin, OpCode: op, Length: int64(len(p))}); err != nil {
		return err
	}
	buf.Write(p)
	_, err := c.Write(buf.Bytes())
	return err
}

// readLoop serves one connection until it fails or closes: text and
// continuation frames are echoed frame by frame, pings answered, and a close
// frame answered and the connection closed.
func readLoop(hub *harness.Hub[net.Conn], c net.Conn) {
	defer hub.Remove(c)
	defer c.Close()
	var hb [ws.MaxHeaderSize - 2]byte
	for {
		h, err := ws.ReadHeaderBuffer(c, hb[:])
		if err != nil {
			return
		}
		if !h.Masked || h.Length > maxMessage || (h.OpCode.IsControl() && (!h.Fin || h.Length > ws.MaxControlFramePayloadSize)) {
			_ = writeFrame(c, true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, ""))
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c, p); err != nil {
			return
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpClose:
			_ = writeFrame(c, true, ws.OpClose, p)
			return
		case ws.OpPing:
			err = writeFrame(c, true, ws.OpPong, p)
		case ws.OpText, ws.OpContinuation:
			err = writeFrame(c, h.Fin, h.OpCode, p)
		}
		if err != nil {
			return
		}
	}
}

func main() {
	var opts harness.Options
	opts.Register(flag.CommandLine)
	flag.Parse()

	harness.Serve(opts, &harness.Hub[net.Conn]{}, harness.Candidate[net.Conn, []byte]{
		Name: "gobwas",
		Upgrade: func(hub *harness.Hub[net.Conn], w http.ResponseWriter, r *http.Request) {
			c, rw, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				if c != nil {
					c.Close()
				}
				return
			}
			if rw.Reader.Buffered() > 0 {
				// A client that sends frames before it has read the
				// handshake response is not one this benchmark makes.
				c.Close()
				return
			}
			hub.Add(c)
			go readLoop(hub, c)
		},
		Write: func(c net.Conn, payload []byte) error {
			return writeFrame(c, true, ws.OpText, payload)
		},
		Prepare: func(payload []byte) ([]byte, error) {
			return ws.CompileFrame(ws.NewTextFrame(payload))
		},
		WritePrepared: func(c net.Conn, frame []byte) error {
			_, err := c.Write(frame)
			return err
		},
		WriteBatch: func(c net.Conn, frames [][]byte) error {
			bufs := make(net.Buffers, len(frames))
			copy(bufs, frames)
			_, err := bufs.WriteTo(c)
			return err
		},
	})
}
