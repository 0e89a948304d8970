// Package party is Pointing Party, the ticket-estimation app of the
// Phoenix channels workshop, in Go: users in a room see each other live
// (presence), the driver deals cards from a deck, everybody votes, and the
// room sees the winner, or a tie. Votes live in presence metadata; finished
// cards and their points are saved in SQLite.
//
// Wire protocol on topic "room:<name>" (connect param "username"):
//   - client "start_pointing" → reply ok; the pusher becomes the driver;
//     broadcast "new_card" {card: {id, title, description}};
//   - client "user_estimated" {points, card?} → the user's presence meta
//     gets points (a user may change their vote until the round closes;
//     a vote for another card than the current one, or after the round
//     closed, gets an error reply and changes nothing); once every
//     present user voted, the round closes: broadcast "winner" {points,
//     votes} or "tie" {points: [every value sharing the most votes,
//     ascending], votes}, where votes maps every voter to their points;
//   - a user who leaves without voting no longer holds the round up: the
//     remaining users' votes are tallied when the last of them has voted,
//     or at once when they all had; a driver who leaves hands the role to
//     the first remaining user by name: broadcast "driver" {driver};
//   - client "next_card" {points} (driver only) → the card is saved with its
//     points; broadcast "new_card" with the next card, or "cards_done";
//   - "new_card" is intercepted by every channel, which clears its user's
//     points in presence before pushing it on.
//
// Entry points: [New] opens the app; [App.Register] routes its channel;
// [Page] serves /party.
package party

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/internal/sqlitedb"
	"github.com/parley-go/parley/presence"
)

// Card is one ticket to estimate.
type Card struct {
	ID          int    `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

//go:embed deck.json
var deckJSON []byte

// Deck returns the built-in deck.
func Deck() []Card {
	var deck []Card
	if err := json.Unmarshal(deckJSON, &deck); err != nil {
		panic(fmt.Sprintf("party: bad built-in deck: %v", err))
	}
	return deck
}

const schema = `
CREATE TABLE IF NOT EXISTS rooms (
	name    TEXT PRIMARY KEY,
	driver  TEXT NOT NULL,
	card_id INTEGER
);
CREATE TABLE IF NOT EXISTS estimates (
	room     TEXT NOT NULL,
	card_id  INTEGER NOT NULL,
	points   INTEGER NOT NULL,
	saved_at INTEGER NOT NULL,
	PRIMARY KEY (room, card_id)
);
`

// Config configures the app.
type Config struct {
	DataDir string
	// Tracker keeps who is in each room; required.
	Tracker *presence.Tracker
	Logger  *slog.Logger
}

// App is Pointing Party.
type App struct {
	db      *sql.DB
	tracker *presence.Tracker
	deck    []Card
	log     *slog.Logger

	// mu guards closed: per room, the card whose round is over (tallied).
	mu     sync.Mutex
	closed map[string]int
}

// New opens party.db under cfg.DataDir.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Tracker == nil {
		return nil, errors.New("party: a presence Tracker is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	db, err := sqlitedb.Open(ctx, cfg.DataDir, "party.db", schema)
	if err != nil {
		return nil, err
	}
	return &App{db: db, tracker: cfg.Tracker, deck: Deck(), log: cfg.Logger, closed: map[string]int{}}, nil
}

// Close closes the database.
func (a *App) Close() error { return a.db.Close() }

// Register routes "room:*" to the party channel.
func (a *App) Register(r *channel.Router) {
	r.Handle("room:*", func() channel.Channel { return &room{app: a} })
}

// Estimate is a saved card.
type Estimate struct {
	CardID, Points int
}

// Estimates returns the saved estimates of a room, by card.
func (a *App) Estimates(ctx context.Context, roomName string) ([]Estimate, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT card_id, points FROM estimates WHERE room = ? ORDER BY card_id`, roomName)
	if err != nil {
		return nil, fmt.Errorf("party: estimates: %w", err)
	}
	defer rows.Close()
	var out []Estimate
	for rows.Next() {
		var e Estimate
		if err := rows.Scan(&e.CardID, &e.Points); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// roomState is the room's driver and current card.
type roomState struct {
	driver string
	card   *Card
}

func (a *App) state(ctx context.Context, roomName string) (roomState, error) {
	var st roomState
	var cardID sql.NullInt64
	err := a.db.QueryRowContext(ctx, `SELECT driver, card_id FROM rooms WHERE name = ?`, roomName).Scan(&st.driver, &cardID)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("party: room state: %w", err)
	}
	if cardID.Valid {
		st.card = a.card(int(cardID.Int64))
	}
	return st, nil
}

func (a *App) card(id int) *Card {
	for i := range a.deck {
		if a.deck[i].ID == id {
			return &a.deck[i]
		}
	}
	return nil
}

// start makes driver the room's driver and deals the first card not yet
// estimated.
func (a *App) start(ctx context.Context, roomName, driver string) (*Card, error) {
	var dealt *Card
	err := sqlitedb.Tx(ctx, a.db, func(tx *sql.Tx) error {
		done := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT card_id FROM estimates WHERE room = ?`, roomName)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			done[id] = true
		}
		rows.Close()
		for i := range a.deck {
			if !done[a.deck[i].ID] {
				dealt = &a.deck[i]
				break
			}
		}
		var cardID any
		if dealt != nil {
			cardID = dealt.ID
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rooms (name, driver, card_id) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET driver = excluded.driver, card_id = excluded.card_id`, roomName, driver, cardID)
		return err
	})
	return dealt, err
}

var errNotDriver = errors.New("party: only the driver can deal the next card")

// next saves the current card's points and deals the following card (nil
// when the deck is done).
func (a *App) next(ctx context.Context, roomName, user string, points int) (*Card, error) {
	var dealt *Card
	err := sqlitedb.Tx(ctx, a.db, func(tx *sql.Tx) error {
		var driver string
		var cardID sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT driver, card_id FROM rooms WHERE name = ?`, roomName).Scan(&driver, &cardID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && driver != user) {
			return errNotDriver
		}
		if err != nil {
			return err
		}
		if !cardID.Valid {
			return errors.New("party: no card is being estimated")
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO estimates (room, card_id, points, saved_at) VALUES (?, ?, ?, ?)`,
			roomName, cardID.Int64, points, time.Now().UnixMilli()); err != nil {
			return err
		}
		for i := range a.deck {
			if a.deck[i].ID == int(cardID.Int64) && i+1 < len(a.deck) {
				dealt = &a.deck[i+1]
			}
		}
		var next any
		if dealt != nil {
			next = dealt.ID
		}
		_, err = tx.ExecContext(ctx, `UPDATE rooms SET card_id = ? WHERE name = ?`, next, roomName)
		return err
	})
	return dealt, err
}

// Tally decides a finished vote: the value with the most votes wins;
// when several values share the most votes, tie lists every one of them,
// ascending.
func Tally(votes []int) (winner int, tie []int) {
	if len(votes) == 0 {
		return 0, nil
	}
	count := map[int]int{}
	top := 0
	for _, v := range votes {
		count[v]++
		top = max(top, count[v])
	}
	for v, n := range count {
		if n == top {
			tie = append(tie, v)
		}
	}
	if len(tie) == 1 {
		return tie[0], nil
	}
	sort.Ints(tie)
	return 0, tie
}

// closeRound marks the room's round on card closed and reports whether
// this call closed it (so exactly one tally is broadcast per card).
func (a *App) closeRound(roomName string, card int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.closed[roomName]; ok && c == card {
		return false
	}
	a.closed[roomName] = card
	return true
}

// roundClosed reports whether the room's round on card is over.
func (a *App) roundClosed(roomName string, card int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.closed[roomName]
	return ok && c == card
}

// openRound starts voting on a newly dealt card.
func (a *App) openRound(roomName string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.closed, roomName)
}

// setDriver hands the room's driver role to user.
func (a *App) setDriver(ctx context.Context, roomName, user string) error {
	_, err := a.db.ExecContext(ctx, `UPDATE rooms SET driver = ? WHERE name = ?`, user, roomName)
	if err != nil {
		return fmt.Errorf("party: set driver: %w", err)
	}
	return nil
}

//go:embed static
var static embed.FS

// Page serves the Pointing Party page at /party.
func Page() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /party", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/party.html")
	})
	mux.HandleFunc("GET /party/party.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFileFS(w, r, static, "static/party.js")
	})
	return mux
}

func roomName(topic string) string { return strings.TrimPrefix(topic, "room:") }
