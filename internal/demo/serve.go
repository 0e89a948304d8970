package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/parley-go/parley"
)

// Serve listens on addr, prints "PARLEY_LISTENING http://<addr>" through
// announce once it accepts connections, and serves ep until ctx ends; then
// it stops accepting, closes every socket with 1012 and waits for them.
func Serve(ctx context.Context, addr string, d *Demo, announce func(string)) error {
	ep := d.Endpoint
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo: listen: %w", err)
	}
	srv := &http.Server{Handler: SecurityHeaders(ep), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	announce("PARLEY_LISTENING http://" + ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("demo: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), parley.DefaultShutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(sctx)
	epErr := ep.Shutdown(sctx)
	appErr := d.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo: serve: %w", err)
	}
	return errors.Join(httpErr, epErr, appErr)
}
