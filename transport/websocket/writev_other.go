//go:build !(darwin || linux || openbsd)

package websocket

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: on this system every connection writes through a
// writer goroutine of its own.
func rawConn(net.Conn) syscall.RawConn { return nil }

func tryWritev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.New("websocket: no non-blocking writev on this system")
}
