package chat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parley-go/parley/internal/sqlitedb"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("chat: no such room or message")
	ErrNotYours = errors.New("chat: only its sender may change a message")
	ErrEmpty    = errors.New("chat: empty message")
	ErrTooLong  = errors.New("chat: message too long")
)

// MaxBody bounds a message, in characters.
const MaxBody = 2000

func checkBody(body string) error {
	switch {
	case body == "":
		return ErrEmpty
	case utf8.RuneCountInString(body) > MaxBody:
		return ErrTooLong
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS rooms (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS messages (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	room_id     INTEGER NOT NULL REFERENCES rooms(id),
	sender      TEXT NOT NULL,
	body        TEXT NOT NULL,
	inserted_at INTEGER NOT NULL,
	edited      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_room ON messages(room_id, id);
CREATE TABLE IF NOT EXISTS reads (
	user    TEXT NOT NULL,
	room_id INTEGER NOT NULL,
	last_id INTEGER NOT NULL,
	PRIMARY KEY (user, room_id)
);
`

// Room is a chat room.
type Room struct {
	ID   int64
	Name string
}

// Message is one chat message.
type Message struct {
	ID     int64  `json:"id"`
	RoomID int64  `json:"room_id"`
	Sender string `json:"sender"`
	Body   string `json:"body"`
	At     int64  `json:"at"` // unix milliseconds
	Edited bool   `json:"edited"`
}

// Time formats the message's time.
func (m Message) Time() string { return time.UnixMilli(m.At).UTC().Format("2006-01-02 15:04:05") }

// Store keeps rooms and messages in SQLite. It is safe for concurrent use.
type Store struct{ db *sql.DB }

// OpenStore opens chat.db in dir, creating and seeding it when new.
func OpenStore(ctx context.Context, dir string) (*Store, error) {
	db, err := sqlitedb.Open(ctx, dir, "chat.db", schema)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db}
	if err := s.seed(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

var seedRooms = []struct {
	name     string
	messages int
}{{"weekend-plans", 45}, {"sre-team", 12}, {"general", 3}}

var seedSenders = []string{"antonia@streamchat.io", "virgil@streamchat.io", "delpha@streamchat.io", "general@streamchat.io"}

var seedLines = []string{
	"Anyone up for a hike on Saturday?",
	"The pager went off again at 3am.",
	"Who broke the build this time?",
	"Let's meet at the usual place.",
	"Coffee first, then the incident review.",
	"I can bring sandwiches.",
	"Rolled back; graphs look calm now.",
	"Rain is forecast, bring a jacket.",
	"Postmortem draft is in the doc.",
	"See you all there!",
}

// seed fills an empty database with rooms and numbered messages.
func (s *Store) seed(ctx context.Context) error {
	return sqlitedb.Tx(ctx, s.db, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rooms`).Scan(&n); err != nil || n > 0 {
			return err
		}
		base := time.Date(2023, 3, 2, 1, 27, 10, 0, time.UTC)
		for i, r := range seedRooms {
			id := int64(i + 1)
			if _, err := tx.ExecContext(ctx, `INSERT INTO rooms(id, name) VALUES (?, ?)`, id, r.name); err != nil {
				return err
			}
			for k := 1; k <= r.messages; k++ {
				body := fmt.Sprintf("%s (#%d)", seedLines[k%len(seedLines)], k)
				at := base.Add(time.Duration(k) * time.Minute).UnixMilli()
				if _, err := tx.ExecContext(ctx, `INSERT INTO messages(room_id, sender, body, inserted_at) VALUES (?, ?, ?, ?)`,
					id, seedSenders[k%len(seedSenders)], body, at); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Rooms lists the rooms.
func (s *Store) Rooms(ctx context.Context) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM rooms ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		if err := rows.Scan(&r.ID, &r.Name); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Room returns one room.
func (s *Store) Room(ctx context.Context, id int64) (Room, error) {
	r := Room{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT name FROM rooms WHERE id = ?`, id).Scan(&r.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

const msgCols = `id, room_id, sender, body, inserted_at, edited`

func scanMessages(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		if err := rows.Scan(&m.ID, &m.RoomID, &m.Sender, &m.Body, &m.At, &m.Edited); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Before returns up to n messages of room older than message id (all
// rooms' ids are one sequence; 0 means from the newest), oldest first.
func (s *Store) Before(ctx context.Context, room, id int64, n int) ([]Message, error) {
	if id <= 0 {
		id = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+msgCols+` FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, room, id, n)
	if err != nil {
		return nil, err
	}
	ms, err := scanMessages(rows)
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms, err
}

// After returns up to n messages of room newer than message id, oldest
// first.
func (s *Store) After(ctx context.Context, room, id int64, n int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+msgCols+` FROM messages WHERE room_id = ? AND id > ? ORDER BY id LIMIT ?`, room, id, n)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows)
}

// HasAfter reports whether room has messages newer than id.
func (s *Store) HasAfter(ctx context.Context, room, id int64) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE room_id = ? AND id > ? LIMIT 1`, room, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// HasBefore reports whether room has messages older than id.
func (s *Store) HasBefore(ctx context.Context, room, id int64) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE room_id = ? AND id < ? LIMIT 1`, room, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Message returns one message.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+msgCols+` FROM messages WHERE id = ?`, id)
	if err != nil {
		return Message{}, err
	}
	ms, err := scanMessages(rows)
	if err != nil {
		return Message{}, err
	}
	if len(ms) == 0 {
		return Message{}, ErrNotFound
	}
	return ms[0], nil
}

// Create adds a message to room.
func (s *Store) Create(ctx context.Context, room int64, sender, body string) (Message, error) {
	if err := checkBody(body); err != nil {
		return Message{}, err
	}
	if _, err := s.Room(ctx, room); err != nil {
		return Message{}, err
	}
	m := Message{RoomID: room, Sender: sender, Body: body, At: time.Now().UnixMilli()}
	res, err := s.db.ExecContext(ctx, `INSERT INTO messages(room_id, sender, body, inserted_at) VALUES (?, ?, ?, ?)`, room, sender, body, m.At)
	if err != nil {
		return Message{}, err
	}
	m.ID, err = res.LastInsertId()
	return m, err
}

// Update changes the body of a message of sender.
func (s *Store) Update(ctx context.Context, id int64, sender, body string) (Message, error) {
	if err := checkBody(body); err != nil {
		return Message{}, err
	}
	var m Message
	err := sqlitedb.Tx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE messages SET body = ?, edited = 1 WHERE id = ? AND sender = ?`, body, id, sender)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotYours
		}
		return tx.QueryRowContext(ctx, `SELECT `+msgCols+` FROM messages WHERE id = ?`, id).
			Scan(&m.ID, &m.RoomID, &m.Sender, &m.Body, &m.At, &m.Edited)
	})
	return m, err
}

// Delete removes a message of sender.
func (s *Store) Delete(ctx context.Context, id int64, sender string) (Message, error) {
	m, err := s.Message(ctx, id)
	if err != nil {
		return m, err
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM messages WHERE id = ? AND sender = ?`, id, sender)
	if err != nil {
		return m, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return m, ErrNotYours
	}
	return m, nil
}

// StartReading gives a user seen for the first time a read mark at the
// newest message of every room, so only what comes later is unread.
func (s *Store) StartReading(ctx context.Context, user string) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO reads(user, room_id, last_id)
		SELECT ?, r.id, coalesce((SELECT max(id) FROM messages WHERE room_id = r.id), 0) FROM rooms r`, user)
	return err
}

// MarkRead records that user has read room up to message id (marks only
// move forward) and reports whether the mark moved.
func (s *Store) MarkRead(ctx context.Context, user string, room, id int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO reads(user, room_id, last_id) VALUES (?, ?, ?)
		ON CONFLICT(user, room_id) DO UPDATE SET last_id = excluded.last_id WHERE excluded.last_id > reads.last_id`, user, room, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Unread counts, per room, the messages of others after user's read mark.
func (s *Store) Unread(ctx context.Context, user string) (map[int64]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.room_id, count(*) FROM messages m
		JOIN reads r ON r.user = ? AND r.room_id = m.room_id
		WHERE m.id > r.last_id AND m.sender != ? GROUP BY m.room_id`, user, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var room int64
		var n int
		if err := rows.Scan(&room, &n); err != nil {
			return nil, err
		}
		out[room] = n
	}
	return out, rows.Err()
}
