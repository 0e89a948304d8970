//go:build linux

package commerce

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a traffic helper: "<dir>,<prefix>".
const helperEnv = "PARLEY_COMMERCE_CRASH_HELPER"

// helperMaxTime is how long a helper runs if nobody kills it.
const helperMaxTime = 30 * time.Second

// crashHelper buys plenty-pens in a loop, alternating the reserved and the
// naive checkout, and prints "committed <user>" after each committed
// order; the user id is unique per order. It exits by itself after
// helperMaxTime or when the pens are sold out.
func crashHelper(spec string) {
	dir, prefix, _ := strings.Cut(spec, ",")
	ctx := context.Background()
	s, err := OpenStore(ctx, dir, time.Minute)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	stop := time.Now().Add(helperMaxTime)
	for i := 0; time.Now().Before(stop); i++ {
		user := fmt.Sprintf("%s-%06d", prefix, i)
		if i%2 == 0 {
			_, err = s.Reserve(ctx, "plenty-pens", user, user)
			if err == nil {
				err = s.Checkout(ctx, "plenty-pens", user)
			}
		} else {
			err = s.NaiveAdd(ctx, "plenty-pens", user)
			if err == nil {
				err = s.NaiveCheckout(ctx, "plenty-pens", user)
			}
		}
		if errors.Is(err, ErrSoldOut) || errors.Is(err, ErrHeld) {
			os.Exit(0)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", user, err)
			os.Exit(3)
		}
		fmt.Printf("committed %s\n", user) // os.Stdout is unbuffered
	}
	os.Exit(0)
}

// helperProc is a running helper and the ids it printed.
type helperProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once its stdout is drained

	mu  sync.Mutex
	ids []string
}

func startHelper(t *testing.T, dir, prefix string) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidTraffic$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir+","+prefix)
	cmd.Stderr = os.Stderr
	// Killed with the test binary, should it die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				h.mu.Lock()
				h.ids = append(h.ids, id)
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { h.kill(t) })
	return h
}

func (h *helperProc) printed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ids...)
}

// waitPrinted polls until the helper has printed n ids.
func (h *helperProc) waitPrinted(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.printed()) < n {
		select {
		case <-h.done:
			t.Fatalf("helper ended after %d ids, want %d", len(h.printed()), n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper printed %d ids in 20 s, want %d", len(h.printed()), n)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// kill sends SIGKILL and reaps the process once its output is drained.
func (h *helperProc) kill(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	err := h.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("helper ended with %v, want killed by SIGKILL", err)
	}
}

// TestKillMidTraffic: two processes commit orders into one commerce
// database; one is killed with SIGKILL mid-traffic and the other goes on,
// then it is killed too. Reopened, the database has every order either
// printed (at most one more per process: committed, not yet printed),
// stock is never negative and orders = initial stock − stock for every
// product.
func TestKillMidTraffic(t *testing.T) {
	if spec := os.Getenv(helperEnv); spec != "" {
		crashHelper(spec)
		return
	}
	dir := t.TempDir()
	// Create and seed the database before the helpers race to, with
	// enough pens that they cannot sell out first.
	const restocked = 5000
	s, err := OpenStore(context.Background(), dir, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restock(context.Background(), "plenty-pens", restocked); err != nil {
		t.Fatal(err)
	}
	s.Close()

	a := startHelper(t, dir, "a")
	b := startHelper(t, dir, "b")
	a.waitPrinted(t, 40)
	a.kill(t)
	// The survivor is not blocked by whatever lock the killed one held.
	after := len(b.printed())
	b.waitPrinted(t, after+20)
	b.kill(t)

	s, err = OpenStore(context.Background(), dir, time.Minute)
	if err != nil {
		t.Fatalf("reopen after the kills: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	var check string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	inDB := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id FROM orders WHERE sku = 'plenty-pens'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if inDB[id] {
			t.Errorf("order %s twice", id)
		}
		inDB[id] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*helperProc{a, b} {
		ids := h.printed()
		for _, id := range ids {
			if !inDB[id] {
				t.Errorf("order %s was printed as committed but is not in the database", id)
			}
		}
		prefix := ids[0][:1]
		n := 0
		for id := range inDB {
			if strings.HasPrefix(id, prefix+"-") {
				n++
			}
		}
		if n < len(ids) || n > len(ids)+1 {
			t.Errorf("helper %s printed %d orders, the database has %d of its orders (want %d or %d)", prefix, len(ids), n, len(ids), len(ids)+1)
		}
	}
	for _, p := range seed {
		var stock, orders int
		if err := s.db.QueryRowContext(ctx, `SELECT stock, (SELECT count(*) FROM orders WHERE orders.sku = products.sku) FROM products WHERE sku = ?`, p.SKU).
			Scan(&stock, &orders); err != nil {
			t.Fatal(err)
		}
		initial := p.Stock
		if p.SKU == "plenty-pens" {
			initial += restocked
		}
		if stock < 0 || orders != initial-stock {
			t.Errorf("%s: stock %d, %d orders; want stock ≥ 0 and orders = %d − stock", p.SKU, stock, orders, initial)
		}
	}
	t.Logf("killed a after %d printed orders and b after %d; the database has %d plenty-pens orders, all printed ones among them",
		len(a.printed()), len(b.printed()), len(inDB))
}
