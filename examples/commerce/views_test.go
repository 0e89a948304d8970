package commerce

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/livetest"
	"github.com/parley-go/parley/pubsub"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newApp(t *testing.T, ttl time.Duration) (*App, *live.Server) {
	t.Helper()
	ps, err := pubsub.New(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	app, err := New(context.Background(), Config{DataDir: t.TempDir(), HoldTTL: ttl, SweepInterval: 20 * time.Millisecond, PubSub: ps,
		Logger: slog.New(slog.DiscardHandler),
		// only TestBetterProductAlsoBoughtAsync waits for the also-bought block
		AlsoBoughtDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	l, err := live.New(live.Config{PubSub: ps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	app.Register(l)
	return app, l
}

func has(s string) func(string) bool { return func(h string) bool { return strings.Contains(h, s) } }

func TestBetterProductReservation(t *testing.T) {
	app, l := newApp(t, 1500*time.Millisecond)
	parker := livetest.Mount(t, l, "/commerce/better_products/rare-raincoat?user_id=110&user_name=Parker")
	andrew := livetest.Mount(t, l, "/commerce/better_products/rare-raincoat?user_id=120&user_name=Andrew")
	for _, v := range []*livetest.View{parker, andrew} {
		if h := v.HTML(t); !strings.Contains(h, `<span id="stock">1</span>`) || !strings.Contains(h, `<button id="add" phx-click="add">`) {
			t.Fatalf("before: %s", h)
		}
	}
	parker.Click(t, "add", nil)
	if h := parker.HTML(t); !strings.Contains(h, `id="remaining"`) || !strings.Contains(h, `<span id="stock">0</span>`) {
		t.Fatalf("holder: %s", h)
	}
	andrew.WaitFor(t, "the other's button is disabled with the reason", func(h string) bool {
		return strings.Contains(h, `<button id="add" disabled>`) && strings.Contains(h, `id="reason"`) && strings.Contains(h, `<span id="stock">0</span>`)
	})
	// A click that slipped through is refused by the store.
	andrew.Click(t, "add", nil)
	if !strings.Contains(andrew.HTML(t), "Someone else just put the last one in their cart.") {
		t.Fatalf("late click: %s", andrew.HTML(t))
	}
	// The countdown ticks, then the hold expires for both.
	parker.WaitFor(t, "the countdown reaches 0:01", has(`<strong id="remaining" class="timer">0:01</strong>`))
	parker.WaitFor(t, "expiry tells the holder", has("Your reservation expired"))
	for _, v := range []*livetest.View{parker, andrew} {
		v.WaitFor(t, "the unit is back", func(h string) bool {
			return strings.Contains(h, `<span id="stock">1</span>`) && strings.Contains(h, `<button id="add" phx-click="add">`)
		})
	}
	// Andrew reserves and buys it; Parker sees it sold out. A long TTL now,
	// so a slow machine cannot expire the hold between the two clicks.
	app.store.ttl = time.Minute
	andrew.Click(t, "add", nil)
	andrew.Click(t, "checkout", nil)
	if !strings.Contains(andrew.HTML(t), "Order placed") {
		t.Fatalf("checkout: %s", andrew.HTML(t))
	}
	parker.WaitFor(t, "sold out everywhere", has(`<button id="add" disabled>Sold out</button>`))
}

func TestReleaseAndInventoryRestock(t *testing.T) {
	_, l := newApp(t, time.Minute)
	a := livetest.Mount(t, l, "/commerce/better_products/scarce-scarf?user_id=1&user_name=A")
	inv := livetest.Mount(t, l, "/commerce/inventory/scarce-scarf")
	a.Click(t, "add", nil)
	inv.WaitFor(t, "the widget shows the hold", has(`<span id="inv-held">1</span>`))
	a.Click(t, "release", nil)
	inv.WaitFor(t, "the widget shows the release", has(`<span id="inv-held">0</span>`))
	inv.Submit(t, "restock", url.Values{"n": {"4"}})
	if !strings.Contains(inv.HTML(t), `<span id="inv-stock">5</span>`) {
		t.Fatalf("after restock: %s", inv.HTML(t))
	}
	a.WaitFor(t, "the product page sees the restock", has(`<span id="stock">5</span>`))
	inv.Submit(t, "restock", url.Values{"n": {"-3"}})
	if !strings.Contains(inv.HTML(t), "must be 1 to 10000") {
		t.Fatalf("bad restock: %s", inv.HTML(t))
	}
}

func TestNaiveProductDeadEnd(t *testing.T) {
	_, l := newApp(t, time.Minute)
	tim := livetest.Mount(t, l, "/commerce/products/scarce-scarf?user_id=11&user_name=Tim")
	katie := livetest.Mount(t, l, "/commerce/products/scarce-scarf?user_id=12&user_name=Katie")
	tim.Click(t, "add", nil)
	katie.Click(t, "add", nil)
	katie.Click(t, "checkout", nil)
	tim.Click(t, "checkout", nil)
	if !strings.Contains(katie.HTML(t), "Order placed") || !strings.Contains(tim.HTML(t), "Sorry, it just sold out.") {
		t.Fatalf("katie: %s\ntim: %s", katie.HTML(t), tim.HTML(t))
	}
}

func TestCartPage(t *testing.T) {
	_, l := newApp(t, time.Minute)
	p := livetest.Mount(t, l, "/commerce/better_products/limited-lamp?user_id=7&user_name=Sam")
	p.Click(t, "add", nil)
	c := livetest.Mount(t, l, "/commerce/cart?user_id=7&user_name=Sam")
	if !strings.Contains(c.HTML(t), `id="cart-limited-lamp"`) {
		t.Fatalf("cart: %s", c.HTML(t))
	}
	c.Click(t, "checkout", map[string]any{"sku": "limited-lamp"})
	if h := c.HTML(t); !strings.Contains(h, "Order placed") || !strings.Contains(h, `id="empty"`) {
		t.Fatalf("after checkout: %s", h)
	}
	p.WaitFor(t, "the product page sees the sale", has(`<span id="stock">2</span>`))
}

// TestLastItemRace sends 100 buyers through the real event path (100
// connected views clicking at once): exactly one gets the last unit.
func TestLastItemRace(t *testing.T) {
	app, l := newApp(t, time.Minute)
	views := make([]*livetest.View, 100)
	for i := range views {
		views[i] = livetest.Mount(t, l, fmt.Sprintf("/commerce/better_products/scarce-scarf?user_id=b%d&user_name=B%d", i, i))
	}
	var wg sync.WaitGroup
	results := make([]string, len(views))
	for i, v := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.Click(t, "add", nil)
			v.Click(t, "checkout", nil)
			results[i] = v.HTML(t)
		}()
	}
	wg.Wait()
	won := 0
	for _, h := range results {
		if strings.Contains(h, "Order placed") {
			won++
		}
	}
	orders, err := app.store.Orders(context.Background(), "scarce-scarf")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := app.store.Product(context.Background(), "scarce-scarf")
	if won != 1 || orders != 1 || p.Stock != 0 {
		t.Fatalf("%d buyers saw success, %d orders, stock %d: want exactly one", won, orders, p.Stock)
	}
}

// The better page's "customers also bought" block loads asynchronously:
// loading in the dead render and at join, then the other products.
func TestBetterProductAlsoBoughtAsync(t *testing.T) {
	app, l := newApp(t, time.Minute)
	app.cfg.AlsoBoughtDelay = 10 * time.Millisecond
	v := livetest.Mount(t, l, "/commerce/better_products/limited-lamp?user_id=9&user_name=Kim")
	if !strings.Contains(v.DeadHTML, `<section id="also-bought"><h2>Customers also bought</h2><p class="loading">Loading…</p></section>`) {
		t.Fatalf("dead render: %s", v.DeadHTML)
	}
	v.WaitFor(t, "the block loaded", func(h string) bool {
		return strings.Contains(h, `<li><a href="/commerce/better_products/scarce-scarf">Scarce scarf</a></li>`)
	})
	if strings.Contains(v.HTML(t), `better_products/limited-lamp">`) {
		t.Fatalf("the product itself is recommended: %s", v.HTML(t))
	}
}
