package commerce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), t.TempDir(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReserveCheckoutExpire(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }

	h, err := s.Reserve(ctx, "scarce-scarf", "u1", "Ana")
	if err != nil {
		t.Fatal(err)
	}
	if !h.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("hold expires %v", h.ExpiresAt)
	}
	if _, err := s.Reserve(ctx, "scarce-scarf", "u2", "Bo"); !errors.Is(err, ErrHeld) {
		t.Fatalf("second reserve: %v", err)
	}
	again, err := s.Reserve(ctx, "scarce-scarf", "u1", "Ana")
	if err != nil || !again.ExpiresAt.Equal(h.ExpiresAt) {
		t.Fatalf("reserving again: %v %v", again, err)
	}
	p, _ := s.Product(ctx, "scarce-scarf")
	if p.Stock != 1 || p.Held != 1 || p.Available() != 0 {
		t.Fatalf("product %+v", p)
	}
	// Expiry gives the unit back.
	now = now.Add(2 * time.Minute)
	skus, err := s.ExpireHolds(ctx)
	if err != nil || len(skus) != 1 || skus[0] != "scarce-scarf" {
		t.Fatalf("expired %v %v", skus, err)
	}
	if err := s.Checkout(ctx, "scarce-scarf", "u1"); !errors.Is(err, ErrNoHold) {
		t.Fatalf("checkout after expiry: %v", err)
	}
	if _, err := s.Reserve(ctx, "scarce-scarf", "u2", "Bo"); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, "scarce-scarf", "u2"); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Product(ctx, "scarce-scarf")
	if p.Stock != 0 || p.Held != 0 {
		t.Fatalf("after checkout %+v", p)
	}
	if _, err := s.Reserve(ctx, "scarce-scarf", "u3", "Cy"); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("reserve sold out: %v", err)
	}
	if err := s.Restock(ctx, "scarce-scarf", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, "scarce-scarf", "u3", "Cy"); err != nil {
		t.Fatalf("after restock: %v", err)
	}
	if err := s.Release(ctx, "scarce-scarf", "u3"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Product(ctx, "scarce-scarf"); p.Available() != 2 {
		t.Fatalf("after release %+v", p)
	}
}

func TestNaiveCheckoutDeadEnd(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, u := range []string{"a", "b"} {
		if err := s.NaiveAdd(ctx, "scarce-scarf", u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.NaiveCheckout(ctx, "scarce-scarf", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.NaiveCheckout(ctx, "scarce-scarf", "b"); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("second naive checkout: %v", err)
	}
}

// TestNoOversell races many buyers for scarce stock at the store level.
func TestNoOversell(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprint("u", i)
			if _, err := s.Reserve(ctx, "limited-lamp", u, u); err != nil {
				return
			}
			if err := s.Checkout(ctx, "limited-lamp", u); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p, _ := s.Product(ctx, "limited-lamp")
	orders, _ := s.Orders(ctx, "limited-lamp")
	if won != 3 || orders != 3 || p.Stock != 0 {
		t.Fatalf("won %d, orders %d, stock %d: want exactly the 3 units sold", won, orders, p.Stock)
	}
}
