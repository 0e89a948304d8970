package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-go/parley/examples/commerce"
	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/pubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestRestockCommand: `parley-demo restock SKU N` restocks through the
// running demo's HTTP endpoint, and bad input is refused with the
// server's reason, changing nothing.
func TestRestockCommand(t *testing.T) {
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := commerce.New(context.Background(), commerce.Config{DataDir: t.TempDir(), PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	srv := httptest.NewServer(app.RestockHandler())
	defer srv.Close()
	var out bytes.Buffer
	if err := restock([]string{"-server", srv.URL, "limited-lamp", "2"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "limited-lamp: 5 left, 0 in carts\n" {
		t.Fatalf("output %q", got)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-server", srv.URL, "limited-lamp", "-1"}, "must be 1 to 10000"},
		{[]string{"-server", srv.URL, "limited-lamp", "99999999"}, "must be 1 to 10000"},
		{[]string{"-server", srv.URL, "limited-lamp", "two"}, "whole number"},
		{[]string{"-server", srv.URL, "no-such", "1"}, `no product "no-such"`},
		{[]string{"-server", srv.URL, "limited-lamp"}, "usage"},
	} {
		err := restock(bad.args, &out)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%v: %v", bad.args, err)
		}
	}
	p, err := app.Store().Product(context.Background(), "limited-lamp")
	if err != nil || p.Stock != 5 {
		t.Fatalf("stock %d %v", p.Stock, err)
	}
}
