package commerce

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/diff"
	"github.com/parley-go/parley/live/js"
	"github.com/parley-go/parley/pubsub"
)

// user reads the demo's user from the URL (no accounts in the demo).
func user(s *live.Socket, params url.Values) (id, name string) {
	id, name = params.Get("user_id"), params.Get("user_name")
	if id == "" {
		id = "guest"
	}
	if name == "" {
		name = "Guest"
		if id != "guest" {
			name += " " + id
		}
	}
	s.Assign("userID", id)
	s.Assign("userName", name)
	return id, name
}

func setMessage(s *live.Socket, kind, msg string) {
	s.Assign("message", msg)
	s.Assign("messageKind", kind)
}

// naiveProduct is the page the talk criticises: stock read once, "Add to
// cart" always enabled, and the bad news only at checkout.
type naiveProduct struct {
	app         *App
	sku, userID string
}

func (v *naiveProduct) Mount(s *live.Socket, params url.Values) error {
	v.sku = params.Get("sku")
	v.userID, _ = user(s, params)
	p, err := v.app.store.Product(s.Context(), v.sku)
	if err != nil {
		return mountErr(err)
	}
	in, err := v.app.store.InNaiveCart(s.Context(), v.sku, v.userID)
	if err != nil {
		return err
	}
	s.SetTitle(p.Name)
	s.Assign("product", p)
	s.Assign("price", price(p.PriceCents))
	s.Assign("inCart", in)
	s.Assign("ordered", false)
	setMessage(s, "", "")
	return nil
}

func (v *naiveProduct) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["naive_product"])
}

func (v *naiveProduct) HandleEvent(s *live.Socket, e live.Event) error {
	ctx := s.Context()
	switch e.Name {
	case "add":
		if err := v.app.store.NaiveAdd(ctx, v.sku, v.userID); err != nil {
			setMessage(s, "error", userMessage(err))
			return nil
		}
		s.Assign("inCart", true)
		setMessage(s, "ok", "Added to your cart.")
	case "checkout":
		err := v.app.store.NaiveCheckout(ctx, v.sku, v.userID)
		s.Assign("inCart", false)
		if err != nil {
			setMessage(s, "error", userMessage(err))
			return nil
		}
		v.app.changed(v.sku)
		// The stock as it is now (the page reads it again), and no "Add
		// to cart" under your own order.
		if p, err := v.app.store.Product(ctx, v.sku); err == nil {
			s.Assign("product", p)
		}
		s.Assign("ordered", true)
		setMessage(s, "ok", "Order placed. Thank you!")
	}
	return nil
}

// betterProduct shows live stock, reserves on add, and counts down.
type betterProduct struct {
	app                   *App
	sku, userID, userName string
	hold                  *Hold
	cancelTick            func()
}

type tick struct{}

func (v *betterProduct) Mount(s *live.Socket, params url.Values) error {
	v.sku = params.Get("sku")
	v.userID, v.userName = user(s, params)
	if err := s.Subscribe(Topic(v.sku)); err != nil {
		return err
	}
	setMessage(s, "", "")
	s.Assign("hold", false)
	s.Assign("remaining", "")
	s.AssignAsync("alsoBought", v.alsoBought)
	// A JS command flow: the disclosure opens on the client at once
	// (toggle, aria-expanded) and asks the server for its text (push).
	s.Assign("shippingToggle", js.Toggle(js.ToggleOpts{To: "#shipping"}).
		ToggleAttributeBetween("aria-expanded", "true", "false").
		Push("shipping"))
	s.Assign("shipping", "")
	return mountErr(v.refresh(s))
}

// shippingInfo is the text of the better page's shipping disclosure.
const shippingInfo = "Ships within 2 working days; free returns for 30 days."

// alsoBought loads the "customers also bought" block: slow on purpose
// (Config.AlsoBoughtDelay), so the page shows it loading first.
func (v *betterProduct) alsoBought(ctx context.Context) (any, error) {
	delay := v.app.cfg.AlsoBoughtDelay
	if delay <= 0 {
		delay = 400 * time.Millisecond
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	all, err := v.app.products(ctx)
	if err != nil {
		return nil, err
	}
	var others []Product
	for _, p := range all {
		if p.SKU != v.sku {
			others = append(others, p)
		}
	}
	return others, nil
}

// mountErr marks a missing product as live.ErrNotFound: a 404 page.
func mountErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", err, live.ErrNotFound)
	}
	return err
}

// refresh reloads the product and the user's hold.
func (v *betterProduct) refresh(s *live.Socket) error {
	ctx := s.Context()
	p, err := v.app.store.Product(ctx, v.sku)
	if err != nil {
		return err
	}
	h, mine, err := v.app.store.HoldOf(ctx, v.sku, v.userID)
	if err != nil {
		return err
	}
	s.SetTitle(p.Name)
	s.Assign("product", p)
	s.Assign("price", price(p.PriceCents))
	s.Assign("available", p.Available())
	s.Assign("soldOut", p.Stock == 0)
	s.Assign("heldByOthers", !mine && p.Stock > 0 && p.Available() <= 0)
	s.Assign("reason", heldReason(p))
	if mine {
		v.hold = &h
		s.Assign("hold", true)
		v.updateRemaining(s)
		if v.cancelTick == nil {
			v.scheduleTick(s)
		}
	} else {
		if v.hold != nil {
			s.Assign("hold", false)
			if time.Until(v.hold.ExpiresAt) <= 0 {
				// Gone by expiry (the sweeper's news may beat our tick).
				setMessage(s, "reason", "Your reservation expired; it went back on the shelf.")
			}
			v.stopTick()
		}
		v.hold = nil
	}
	return nil
}

func (v *betterProduct) updateRemaining(s *live.Socket) {
	s.Assign("remaining", remaining(time.Until(v.hold.ExpiresAt)))
}

// scheduleTick wakes the view on the next whole second of the countdown.
func (v *betterProduct) scheduleTick(s *live.Socket) {
	if !s.Connected() {
		return
	}
	left := time.Until(v.hold.ExpiresAt)
	next := left - left.Truncate(time.Second)
	if next <= 0 {
		next = time.Second
	}
	v.cancelTick = s.SendAfter(next+5*time.Millisecond, tick{})
}

func (v *betterProduct) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["better_product"])
}

func (v *betterProduct) HandleEvent(s *live.Socket, e live.Event) error {
	ctx := s.Context()
	switch e.Name {
	case "shipping":
		s.Assign("shipping", shippingInfo)
		return nil
	case "add":
		if _, err := v.app.store.Reserve(ctx, v.sku, v.userID, v.userName); err != nil {
			setMessage(s, "error", userMessage(err))
			return v.refresh(s)
		}
		setMessage(s, "ok", "Reserved for you: it is yours while the countdown runs.")
		v.app.changed(v.sku)
		v.app.cartChanged(v.userID)
	case "release":
		if err := v.app.store.Release(ctx, v.sku, v.userID); err != nil {
			return err
		}
		v.stopTick()
		setMessage(s, "", "Removed from your cart.")
		v.app.changed(v.sku)
		v.app.cartChanged(v.userID)
	case "checkout":
		err := v.app.store.Checkout(ctx, v.sku, v.userID)
		v.stopTick()
		if err != nil {
			setMessage(s, "error", userMessage(err))
		} else {
			setMessage(s, "ok", "Order placed. Thank you!")
			v.app.changed(v.sku)
			v.app.cartChanged(v.userID)
		}
	}
	return v.refresh(s)
}

func (v *betterProduct) stopTick() {
	if v.cancelTick != nil {
		v.cancelTick()
		v.cancelTick = nil
	}
}

func (v *betterProduct) HandleInfo(s *live.Socket, msg any) error {
	switch m := msg.(type) {
	case tick:
		v.cancelTick = nil
		if v.hold == nil {
			return nil
		}
		if time.Until(v.hold.ExpiresAt) <= 0 {
			setMessage(s, "reason", "Your reservation expired; it went back on the shelf.")
			return v.refresh(s)
		}
		v.updateRemaining(s)
		v.scheduleTick(s)
	case *pubsub.Message:
		if m.Event == "changed" {
			// Somebody else's change: a message about an earlier action
			// of ours no longer describes the page.
			before := buyState(s)
			if err := v.refresh(s); err != nil {
				return err
			}
			if buyState(s) != before && s.Get("messageKind") != "reason" {
				setMessage(s, "", "")
			}
		}
	}
	return nil
}

// buyState is what the buy box shows.
func buyState(s *live.Socket) string {
	return fmt.Sprint(s.Get("hold"), s.Get("soldOut"), s.Get("heldByOthers"), s.Get("available"))
}

// heldReason says why "Add to cart" is disabled when every unit left sits
// in other carts.
func heldReason(p Product) string {
	if p.Held == 1 {
		return "The last one is in someone else's cart. If they don't buy it, it comes back here."
	}
	return fmt.Sprintf("All %d left are in other shoppers' carts. If they don't buy them, they come back here.", p.Held)
}

// inventory is the small live stock widget with a restock form.
type inventory struct {
	app *App
	sku string
}

func (v *inventory) Mount(s *live.Socket, params url.Values) error {
	v.sku = params.Get("sku")
	if err := s.Subscribe(Topic(v.sku)); err != nil {
		return err
	}
	setMessage(s, "", "")
	return mountErr(v.refresh(s))
}

func (v *inventory) refresh(s *live.Socket) error {
	p, err := v.app.store.Product(s.Context(), v.sku)
	if err != nil {
		return err
	}
	s.SetTitle("Inventory: " + p.Name)
	s.Assign("product", p)
	s.Assign("available", p.Available())
	return nil
}

func (v *inventory) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["inventory"])
}

func (v *inventory) HandleEvent(s *live.Socket, e live.Event) error {
	if e.Name != "restock" {
		return nil
	}
	n, err := e.Int("n")
	if err != nil {
		setMessage(s, "error", "Enter a number of units.")
		return nil
	}
	if _, err := v.app.Restock(s.Context(), v.sku, n); err != nil {
		setMessage(s, "error", strings.TrimPrefix(err.Error(), "commerce: "))
		return nil
	}
	setMessage(s, "ok", fmt.Sprintf("Restocked %d.", n))
	return v.refresh(s)
}

func (v *inventory) HandleInfo(s *live.Socket, msg any) error {
	if m, ok := msg.(*pubsub.Message); ok && m.Event == "changed" {
		return v.refresh(s)
	}
	return nil
}

// cartLine is one reservation in the cart page.
type cartLine struct {
	SKU, Name, Remaining string
	expires              time.Time
}

// cart lists the user's reservations with their countdowns.
type cart struct {
	app        *App
	userID     string
	lines      []cartLine
	subscribed map[string]bool
	ticking    bool
}

func (v *cart) Mount(s *live.Socket, params url.Values) error {
	v.userID, _ = user(s, params)
	v.subscribed = map[string]bool{}
	setMessage(s, "", "")
	s.SetTitle("Your cart")
	// The cart follows its user across tabs and devices.
	if err := s.Subscribe(CartTopic(v.userID)); err != nil {
		return err
	}
	return v.refresh(s)
}

func (v *cart) refresh(s *live.Socket) error {
	holds, err := v.app.store.HoldsOf(s.Context(), v.userID)
	if err != nil {
		return err
	}
	v.lines = v.lines[:0]
	for _, h := range holds {
		p, err := v.app.store.Product(s.Context(), h.SKU)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		v.lines = append(v.lines, cartLine{SKU: h.SKU, Name: p.Name, expires: h.ExpiresAt, Remaining: remaining(time.Until(h.ExpiresAt))})
		if !v.subscribed[h.SKU] {
			v.subscribed[h.SKU] = true
			if err := s.Subscribe(Topic(h.SKU)); err != nil {
				return err
			}
		}
	}
	s.Assign("holds", v.lines)
	if len(v.lines) > 0 && !v.ticking && s.Connected() {
		v.ticking = true
		s.SendAfter(time.Second, tick{})
	}
	return nil
}

func (v *cart) Render(s *live.Socket) (*diff.Node, error) {
	return s.RenderTemplate(templates["cart"])
}

func (v *cart) HandleEvent(s *live.Socket, e live.Event) error {
	sku := e.String("sku")
	ctx := s.Context()
	switch e.Name {
	case "release":
		if err := v.app.store.Release(ctx, sku, v.userID); err != nil {
			return err
		}
		setMessage(s, "", "Removed from your cart.")
	case "checkout":
		if err := v.app.store.Checkout(ctx, sku, v.userID); err != nil {
			setMessage(s, "error", userMessage(err))
		} else {
			setMessage(s, "ok", "Order placed. Thank you!")
		}
	default:
		return nil
	}
	v.app.changed(sku)
	v.app.cartChanged(v.userID)
	return v.refresh(s)
}

func (v *cart) HandleInfo(s *live.Socket, msg any) error {
	switch m := msg.(type) {
	case tick:
		v.ticking = false
		return v.refresh(s)
	case *pubsub.Message:
		if strings.HasPrefix(m.Topic, "inventory:") || m.Topic == CartTopic(v.userID) {
			return v.refresh(s)
		}
	}
	return nil
}
