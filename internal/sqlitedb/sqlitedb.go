// Package sqlitedb opens the demo apps' SQLite databases (pure Go driver,
// modernc.org/sqlite) with the settings they all need: WAL journal, a busy
// timeout, foreign keys, and one connection so that transactions in one
// process are serialised. Tx runs a function in a transaction and retries,
// a bounded number of times, when another process holds the database.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file name in dir and runs
// schema, which must be idempotent (CREATE TABLE IF NOT EXISTS ...).
func Open(ctx context.Context, dir, name, schema string) (*sql.DB, error) {
	path := filepath.Join(dir, name)
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := Tx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, schema)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitedb: schema of %s: %w", path, err)
	}
	return db, nil
}

// MaxAttempts bounds Tx's retries of a busy database.
const MaxAttempts = 5

// ErrBusy is returned when the database stayed locked through every retry.
var ErrBusy = errors.New("sqlitedb: database is busy, try again")

// Tx runs f in a transaction, committing if it returns nil. When the
// database is locked by another process it retries with backoff, up to
// MaxAttempts, then returns ErrBusy.
func Tx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	var err error
	for attempt := range MaxAttempts {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt*attempt) * 20 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		err = try(ctx, db, f)
		if err == nil || !isBusy(err) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrBusy, err)
}

func try(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isBusy(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked") || strings.Contains(s, "(5)") || strings.Contains(s, "(6)")
}
