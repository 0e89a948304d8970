// Package sqlitedb opens the demo apps' SQLite databases (pure Go driver,
// modernc.org/sqlite) with the settings they all need: WAL journal, a busy
// timeout, foreign keys, and one connection so that transactions in one
// process are serialised. Tx runs a function in a transaction and retries,
// a bounded number of times, when another process holds the database.
//
// Transactions begin IMMEDIATE: the write lock is taken at BEGIN, where the
// busy timeout waits for another process to finish. A deferred transaction
// that reads and then writes would instead fail with SQLITE_BUSY at once
// when another process wrote in between (in WAL mode SQLite cannot wait for
// a read-to-write upgrade), which two processes sharing a database hit
// within a second (examples/commerce TestKillMidTraffic).
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the database file name in dir and runs
// schema, which must be idempotent (CREATE TABLE IF NOT EXISTS ...).
func Open(ctx context.Context, dir, name, schema string) (*sql.DB, error) {
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite", dsn(path, busyTimeout))
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

// busyTimeout is how long SQLite waits for another connection's lock
// before an attempt fails busy.
const busyTimeout = 5 * time.Second

func dsn(path string, busy time.Duration) string {
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) +
		")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
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
		if attemptHook != nil {
			attemptHook(attempt)
		}
		err = try(ctx, db, f)
		if err == nil || !isBusy(err) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrBusy, err)
}

// attemptHook, set by tests only, is called before every attempt.
var attemptHook func(attempt int)

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
