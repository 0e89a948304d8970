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
	ln, err := Listen(ctx, addr, false)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, d, announce)
}

// Listen listens on the TCP address addr. With reusePort the socket is
// opened with SO_REUSEPORT, so that several processes (cluster nodes on
// one machine) can listen on the same address and the kernel spreads the
// connections among them.
func Listen(ctx context.Context, addr string, reusePort bool) (net.Listener, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = setReusePort
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	return ln, nil
}

// ServeListener is Serve on a listener it closes.
func ServeListener(ctx context.Context, ln net.Listener, d *Demo, announce func(string)) error {
	ep := d.Endpoint
	srv := &http.Server{Handler: SecurityHeaders(ep), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	announce("PARLEY_LISTENING http://" + ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("demo: serve: %w", err)
	case <-ctx.Done():
	}
	d.log.Info("demo: stop signal received, shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), parley.DefaultShutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(sctx)
	epErr := ep.Shutdown(sctx)
	appErr := d.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo: serve: %w", err)
	}
	if err := errors.Join(httpErr, epErr, appErr); err != nil {
		return err
	}
	d.log.Info("demo: stopped")
	return nil
}
