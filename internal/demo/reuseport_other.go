//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package demo

import (
	"errors"
	"syscall"
)

func setReusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New("SO_REUSEPORT is not supported on this system")
}
