package commerce

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-go/parley/internal/sqlitedb"
)

// Errors the store returns to the views, with messages fit for users.
var (
	ErrNotFound  = errors.New("commerce: no such product")
	ErrSoldOut   = errors.New("commerce: sold out")
	ErrHeld      = errors.New("commerce: the last one is in someone else's cart")
	ErrNoHold    = errors.New("commerce: your reservation has expired")
	ErrNotInCart = errors.New("commerce: not in your cart")
)

const schema = `
CREATE TABLE IF NOT EXISTS products (
	sku         TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	price_cents INTEGER NOT NULL,
	stock       INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS holds (
	sku        TEXT NOT NULL REFERENCES products(sku),
	user_id    TEXT NOT NULL,
	user_name  TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (sku, user_id)
);
CREATE TABLE IF NOT EXISTS naive_cart (
	sku     TEXT NOT NULL REFERENCES products(sku),
	user_id TEXT NOT NULL,
	PRIMARY KEY (sku, user_id)
);
CREATE TABLE IF NOT EXISTS orders (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	sku        TEXT NOT NULL REFERENCES products(sku),
	user_id    TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
`

// MaxRestock bounds one restock, in units.
const MaxRestock = 10000

// ErrBadRestock refuses a restock count out of range.
var ErrBadRestock = errors.New("commerce: restock count out of range")

// Product is a product and its availability.
type Product struct {
	SKU, Name, Description string
	PriceCents             int
	// Stock is the units not sold; Held of them sit in carts.
	Stock, Held int
}

// Available returns the units nobody holds.
func (p Product) Available() int { return p.Stock - p.Held }

// Hold is one user's reservation of one unit.
type Hold struct {
	SKU, UserID, UserName string
	ExpiresAt             time.Time
}

// Store keeps products, holds and orders in SQLite. Every change runs in
// one transaction on a single connection, so changes are serialised: two
// users can never both hold or buy the last unit.
type Store struct {
	db  *sql.DB
	ttl time.Duration
	now func() time.Time
}

// Seed products; scarce ones have stock 1 to 3.
var seed = []Product{
	{SKU: "scarce-scarf", Name: "Scarce scarf", Description: "Hand-knitted, one of a kind run.", PriceCents: 4900, Stock: 1},
	{SKU: "rare-raincoat", Name: "Rare raincoat", Description: "Waxed cotton; only a few were made.", PriceCents: 12900, Stock: 1},
	{SKU: "limited-lamp", Name: "Limited lamp", Description: "Brass desk lamp, small batch.", PriceCents: 8900, Stock: 3},
	{SKU: "plenty-pens", Name: "Plenty of pens", Description: "A box of ten pens.", PriceCents: 900, Stock: 500},
}

// OpenStore opens commerce.db in dir, creating and seeding it on first
// use. ttl is how long a cart reservation lasts.
func OpenStore(ctx context.Context, dir string, ttl time.Duration) (*Store, error) {
	db, err := sqlitedb.Open(ctx, dir, "commerce.db", schema)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, ttl: ttl, now: time.Now}
	err = sqlitedb.Tx(ctx, db, func(tx *sql.Tx) error {
		for _, p := range seed {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO products (sku, name, description, price_cents, stock) VALUES (?, ?, ?, ?, ?)`,
				p.SKU, p.Name, p.Description, p.PriceCents, p.Stock); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("commerce: seed: %w", err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// TTL returns how long reservations last.
func (s *Store) TTL() time.Duration { return s.ttl }

func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return sqlitedb.Tx(ctx, s.db, f)
}

// expire deletes holds past their time and returns the SKUs they freed.
func (s *Store) expire(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `DELETE FROM holds WHERE expires_at <= ? RETURNING sku`, s.now().UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var skus []string
	for rows.Next() {
		var sku string
		if err := rows.Scan(&sku); err != nil {
			return nil, err
		}
		skus = append(skus, sku)
	}
	return skus, rows.Err()
}

// ExpireHolds removes expired holds and returns the SKUs whose stock came
// back.
func (s *Store) ExpireHolds(ctx context.Context) ([]string, error) {
	var skus []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		skus, err = s.expire(ctx, tx)
		return err
	})
	return skus, err
}

// product reads a product; holds past their time count as gone (only
// ExpireHolds deletes them, so that every expiry is announced).
func (s *Store) product(ctx context.Context, tx *sql.Tx, sku string) (Product, error) {
	var p Product
	err := tx.QueryRowContext(ctx, `SELECT sku, name, description, price_cents, stock,
		(SELECT count(*) FROM holds WHERE holds.sku = products.sku AND expires_at > ?) FROM products WHERE sku = ?`,
		s.now().UnixMilli(), sku).
		Scan(&p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Stock, &p.Held)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// Product returns a product with its live availability.
func (s *Store) Product(ctx context.Context, sku string) (Product, error) {
	var p Product
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = s.product(ctx, tx, sku)
		return err
	})
	return p, err
}

// Products lists every product.
func (s *Store) Products(ctx context.Context) ([]Product, error) {
	var out []Product
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT sku FROM products ORDER BY sku`)
		if err != nil {
			return err
		}
		var skus []string
		for rows.Next() {
			var sku string
			if err := rows.Scan(&sku); err != nil {
				rows.Close()
				return err
			}
			skus = append(skus, sku)
		}
		rows.Close()
		for _, sku := range skus {
			p, err := s.product(ctx, tx, sku)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// HoldOf returns the user's live hold on sku, if any.
func (s *Store) HoldOf(ctx context.Context, sku, userID string) (Hold, bool, error) {
	var h Hold
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT sku, user_id, user_name, expires_at FROM holds WHERE sku = ? AND user_id = ? AND expires_at > ?`,
		sku, userID, s.now().UnixMilli()).Scan(&h.SKU, &h.UserID, &h.UserName, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("commerce: hold: %w", err)
	}
	h.ExpiresAt = time.UnixMilli(ms)
	return h, true, nil
}

// HoldsOf returns the user's live holds.
func (s *Store) HoldsOf(ctx context.Context, userID string) ([]Hold, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sku, user_id, user_name, expires_at FROM holds WHERE user_id = ? AND expires_at > ? ORDER BY sku`,
		userID, s.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("commerce: holds: %w", err)
	}
	defer rows.Close()
	var out []Hold
	for rows.Next() {
		var h Hold
		var ms int64
		if err := rows.Scan(&h.SKU, &h.UserID, &h.UserName, &ms); err != nil {
			return nil, err
		}
		h.ExpiresAt = time.UnixMilli(ms)
		out = append(out, h)
	}
	return out, rows.Err()
}

// Reserve puts one unit of sku in the user's cart until the TTL runs out.
// It fails with ErrSoldOut or ErrHeld when no unit is free; reserving again
// returns the existing hold.
func (s *Store) Reserve(ctx context.Context, sku, userID, userName string) (Hold, error) {
	var h Hold
	err := s.tx(ctx, func(tx *sql.Tx) error {
		p, err := s.product(ctx, tx, sku)
		if err != nil {
			return err
		}
		var ms int64
		err = tx.QueryRowContext(ctx, `SELECT expires_at FROM holds WHERE sku = ? AND user_id = ? AND expires_at > ?`,
			sku, userID, s.now().UnixMilli()).Scan(&ms)
		if err == nil {
			h = Hold{SKU: sku, UserID: userID, UserName: userName, ExpiresAt: time.UnixMilli(ms)}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case p.Stock == 0:
			return ErrSoldOut
		case p.Available() <= 0:
			return ErrHeld
		}
		h = Hold{SKU: sku, UserID: userID, UserName: userName, ExpiresAt: s.now().Add(s.ttl)}
		// REPLACE: the user's own expired hold may still be there.
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO holds (sku, user_id, user_name, expires_at) VALUES (?, ?, ?, ?)`,
			sku, userID, userName, h.ExpiresAt.UnixMilli())
		return err
	})
	return h, err
}

// Release empties the user's cart of sku.
func (s *Store) Release(ctx context.Context, sku, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE sku = ? AND user_id = ?`, sku, userID)
		return err
	})
}

// Checkout buys the unit the user holds.
func (s *Store) Checkout(ctx context.Context, sku, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE sku = ? AND user_id = ? AND expires_at > ?`, sku, userID, s.now().UnixMilli())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoHold
		}
		// The hold guaranteed a unit; the CHECK constraint backs it.
		if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock - 1 WHERE sku = ?`, sku); err != nil {
			return fmt.Errorf("commerce: checkout: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO orders (sku, user_id, created_at) VALUES (?, ?, ?)`, sku, userID, s.now().UnixMilli())
		return err
	})
}

// NaiveAdd puts sku in the naive cart: no reservation, always allowed.
func (s *Store) NaiveAdd(ctx context.Context, sku, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.product(ctx, tx, sku); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO naive_cart (sku, user_id) VALUES (?, ?)`, sku, userID)
		return err
	})
}

// InNaiveCart reports whether sku is in the user's naive cart.
func (s *Store) InNaiveCart(ctx context.Context, sku, userID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM naive_cart WHERE sku = ? AND user_id = ?`, sku, userID).Scan(&n)
	return n > 0, err
}

// NaiveCheckout buys sku from the naive cart if a unit is still free: the
// dead end the talk criticises, found out only at checkout.
func (s *Store) NaiveCheckout(ctx context.Context, sku, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM naive_cart WHERE sku = ? AND user_id = ?`, sku, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotInCart
		}
		p, err := s.product(ctx, tx, sku)
		if err != nil {
			return err
		}
		if p.Available() <= 0 {
			return ErrSoldOut
		}
		if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock - 1 WHERE sku = ?`, sku); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO orders (sku, user_id, created_at) VALUES (?, ?, ?)`, sku, userID, s.now().UnixMilli())
		return err
	})
}

// Restock adds n units.
func (s *Store) Restock(ctx context.Context, sku string, n int) error {
	if n <= 0 || n > MaxRestock {
		return fmt.Errorf("%w: restock by %d: must be 1 to %d", ErrBadRestock, n, MaxRestock)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock + ? WHERE sku = ?`, n, sku)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// Orders counts the orders of sku.
func (s *Store) Orders(ctx context.Context, sku string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE sku = ?`, sku).Scan(&n)
	return n, err
}
