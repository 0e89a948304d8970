//go:build darwin || linux || openbsd

package websocket

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxIovecs is IOV_MAX on the systems this file builds for.
const maxIovecs = 1024

// rawConn returns nc's raw connection for non-blocking writes, or nil when
// nc is not a socket of the net package.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWritev writes bufs with writev without waiting for the socket: it
// returns how many bytes the kernel took, which is fewer than asked when
// the socket buffer is full. The socket is non-blocking, as every socket of
// the net package is.
func tryWritev(rc syscall.RawConn, bufs [][]byte) (int, error) {
	total := 0
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 {
			chunk := bufs[:min(len(bufs), maxIovecs)]
			n, err := unix.Writev(int(fd), chunk)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return true
			}
			if err != nil {
				werr = err
				return true
			}
			total += n
			want := 0
			for _, b := range chunk {
				want += len(b)
			}
			if n < want {
				return true
			}
			bufs = bufs[len(chunk):]
		}
		return true // done: do not wait for the socket to become writable
	})
	if err == nil {
		err = werr
	}
	return total, err
}
