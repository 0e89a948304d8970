package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// runNATS is the hidden "nats" command: an embedded nats-server on a
// loopback address, for cluster. It prints "PARLEY_LISTENING nats://…"
// once it accepts clients and runs until SIGTERM, SIGINT or -maxtime.
//
// cluster runs it as a child process rather than in its own: NATS's CPU
// time and RSS are then read from /proc apart from everything else, and
// cluster's work (decoding the workers' reports, a million latencies) never
// stalls NATS with its garbage collection in the middle of a measurement.
func runNATS(args []string) error {
	fs := flag.NewFlagSet("nats", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	maxtime := fs.Duration("maxtime", 30*time.Minute, "exit by itself after this long")
	_ = fs.Parse(args)
	host, portStr, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("nats: -addr: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("nats: -addr port: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		Host: host, Port: port, NoLog: true, NoSigs: true,
		MaxPayload: 8 << 20, // Parley frames may be 1 MiB
	})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.Start()
	defer func() {
		s.Shutdown()
		s.WaitForShutdown()
	}()
	if !s.ReadyForConnections(15 * time.Second) {
		return errors.New("nats: server not ready within 15 s")
	}
	fmt.Printf("PARLEY_LISTENING nats://%s\n", s.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	limit := time.NewTimer(*maxtime)
	defer limit.Stop()
	select {
	case <-sig:
	case <-limit.C:
		fmt.Fprintln(os.Stderr, "nats: -maxtime reached, stopping")
	}
	return nil
}
