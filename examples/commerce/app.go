package commerce

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/pubsub"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = map[string]*render.Template{}

func init() {
	for _, name := range []string{"naive_product", "better_product", "inventory", "cart"} {
		templates[name] = render.Must(render.New(name+".html").ParseFS(templateFS, "templates/"+name+".html", "templates/layout_parts.html"))
	}
}

// Config configures the app.
type Config struct {
	// DataDir holds commerce.db.
	DataDir string
	// HoldTTL is how long a cart reservation lasts; default 2 minutes.
	HoldTTL time.Duration
	// SweepInterval is how often expired reservations are released;
	// default 1 s.
	SweepInterval time.Duration
	// AlsoBoughtDelay is how slow the better page's "customers also
	// bought" block is to load (a stand-in for a slow recommendation
	// service; live.Socket.AssignAsync keeps the page responsive
	// meanwhile); default 400 ms.
	AlsoBoughtDelay time.Duration
	// PubSub carries inventory changes to every page; required.
	PubSub *pubsub.PubSub
	Logger *slog.Logger
}

// App is the commerce demo. Build it with [New], register its views with
// [App.Register], stop it with [App.Close].
type App struct {
	cfg   Config
	store *Store

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	// catalogMu guards catalog, the products as first loaded (names and
	// SKUs do not change), for the "customers also bought" block.
	catalogMu sync.Mutex
	catalog   []Product
}

// products returns the catalog, loading it once.
func (a *App) products(ctx context.Context) ([]Product, error) {
	a.catalogMu.Lock()
	defer a.catalogMu.Unlock()
	if a.catalog == nil {
		all, err := a.store.Products(ctx)
		if err != nil {
			return nil, err
		}
		a.catalog = all
	}
	return a.catalog, nil
}

// New opens the store and starts the sweeper that releases expired
// reservations and tells every page.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.PubSub == nil {
		return nil, errors.New("commerce: a PubSub is required")
	}
	if cfg.HoldTTL <= 0 {
		cfg.HoldTTL = 2 * time.Minute
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	store, err := OpenStore(ctx, cfg.DataDir, cfg.HoldTTL)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, store: store, stop: make(chan struct{})}
	a.wg.Add(1)
	go a.sweep()
	return a, nil
}

// Store returns the app's store.
func (a *App) Store() *Store { return a.store }

// Close stops the sweeper and closes the store.
func (a *App) Close() error {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
	return a.store.Close()
}

func (a *App) sweep() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		skus, err := a.store.ExpireHolds(ctx)
		cancel()
		if err != nil {
			a.cfg.Logger.Warn("commerce: expiring reservations failed", "err", err)
			continue
		}
		for _, sku := range skus {
			a.changed(sku)
		}
	}
}

// Topic is the pubsub topic of one product's inventory changes.
func Topic(sku string) string { return "inventory:" + sku }

// changed tells every page showing sku that its inventory moved.
func (a *App) changed(sku string) {
	if err := channel.Broadcast(context.Background(), a.cfg.PubSub, Topic(sku), "changed", map[string]string{"sku": sku}); err != nil {
		a.cfg.Logger.Warn("commerce: broadcast failed", "sku", sku, "err", err)
	}
}

// CartTopic is the pubsub topic of one user's cart: every tab and device
// of the user hears when it changes (the session handoff of seed 000).
func CartTopic(userID string) string { return "cart:" + userID }

// cartChanged tells every page of userID that their cart changed.
func (a *App) cartChanged(userID string) {
	if err := channel.Broadcast(context.Background(), a.cfg.PubSub, CartTopic(userID), "cart", map[string]string{"user_id": userID}); err != nil {
		a.cfg.Logger.Warn("commerce: broadcast failed", "user", userID, "err", err)
	}
}

// Register routes the commerce pages on l.
func (a *App) Register(l *live.Server) {
	l.Handle("/commerce/products/{sku}", func() live.View { return &naiveProduct{app: a} })
	l.Handle("/commerce/better_products/{sku}", func() live.View { return &betterProduct{app: a} })
	l.Handle("/commerce/inventory/{sku}", func() live.View { return &inventory{app: a} })
	l.Handle("/commerce/cart", func() live.View { return &cart{app: a} })
}

func price(cents int) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

// remaining formats a countdown as m:ss.
func remaining(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// userMessage turns a store error into words for the page.
func userMessage(err error) string {
	switch {
	case errors.Is(err, ErrSoldOut):
		return "Sorry, it just sold out."
	case errors.Is(err, ErrHeld):
		return "Someone else just put the last one in their cart."
	case errors.Is(err, ErrNoHold):
		return "Your reservation expired; it went back on the shelf."
	case errors.Is(err, ErrNotInCart):
		return "It is not in your cart."
	case errors.Is(err, ErrNotFound):
		return "No such product."
	}
	return "Something went wrong; please try again."
}
