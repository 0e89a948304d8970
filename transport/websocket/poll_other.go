//go:build !linux

package websocket

import "errors"

// pollSupported is false: on this system every connection has a reader
// goroutine of its own.
const pollSupported = false

type poller struct{}

func newPoller(*Server) (*poller, error) {
	return nil, errors.New("websocket: no poller on this system")
}

func (*poller) add(*conn) error             { return errors.ErrUnsupported }
func (*poller) rearm(*conn) error           { return errors.ErrUnsupported }
func (*poller) remove(*conn) bool           { return false }
func (*poller) isStopping() bool            { return true }
func (c *conn) tryRead([]byte) (int, error) { return 0, errors.ErrUnsupported }
