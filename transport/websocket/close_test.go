package websocket

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/parley-go/parley/transport"
)

// TestCloseDrainsInput sends the header of a frame over MaxFrameSize and
// part of its payload, and goes on sending after the server's close frame,
// as a client does that has not yet read it. The server must not reset the
// connection: the close frame (1009) arrives whole, every later write of
// the client succeeds while the server drains, and the stream then ends
// cleanly (EOF, not a reset).
func TestCloseDrainsInput(t *testing.T) {
	s, hs := newTestServer(t, &echoHandler{}, Options{MaxFrameSize: 1024, CloseTimeout: 5 * time.Second})
	c, _ := dial(t, hs, phoenixQuery, nil)
	const claimed = 1 << 20
	hdr := []byte{0x80 | opBinary, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, claimed)
	hdr = append(hdr, 1, 2, 3, 4) // mask
	if _, err := c.nc.Write(append(hdr, make([]byte, 64<<10)...)); err != nil {
		t.Fatal(err)
	}
	if code := c.readClose(t); code != transport.CloseTooBig {
		t.Fatalf("close code %d, want %d", code, transport.CloseTooBig)
	}
	// The rest of the payload, written after the close frame was read:
	// the server discards it instead of resetting the connection.
	chunk := make([]byte, 16<<10)
	for sent := 64 << 10; sent < claimed; sent += len(chunk) {
		if _, err := c.nc.Write(chunk); err != nil {
			t.Fatalf("write after the close frame, at byte %d: %v", sent, err)
		}
	}
	var b [1]byte
	if _, err := c.br.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame: %v, want EOF", err)
	}
	_ = c.nc.Close()
	waitFor(t, func() bool { return s.Conns() == 0 })
}
