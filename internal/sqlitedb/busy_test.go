package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// lockedDB opens t.db in a temporary directory through Open, then a second
// *sql.DB on the same file with Open's settings but a 20 ms busy timeout
// (Open's 5 s would make every attempt wait that long), and a third, the
// holder, whose pinned connection takes the write lock with BEGIN
// IMMEDIATE. release commits the holder's transaction.
func lockedDB(t *testing.T) (db *sql.DB, release func()) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	setup, err := Open(ctx, dir, "t.db", `CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL);`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setup.Close() })
	short := dsn(filepath.Join(dir, "t.db"), 20*time.Millisecond)
	db, err = sql.Open("sqlite", short)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	holderDB, err := sql.Open("sqlite", short)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holderDB.Close() })
	// The holder begins explicitly (database/sql's BeginTx would do the
	// same with _txlock=immediate, but a pinned Conn shows it plainly).
	holder, err := holderDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `INSERT INTO kv VALUES ('holder', 1)`); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		if _, err := holder.ExecContext(ctx, `COMMIT`); err != nil {
			t.Error(err)
		}
		holder.Close()
	}
	t.Cleanup(release)
	return db, release
}

// countAttempts counts Tx's attempts for the rest of the test (tests
// using it must not run in parallel).
func countAttempts(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	attemptHook = func(int) { n.Add(1) }
	t.Cleanup(func() { attemptHook = nil })
	return &n
}

func count(t *testing.T, db *sql.DB, k string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM kv WHERE k = ?`, k).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTxRetriesUntilReleased: another connection holds the write lock;
// Tx's attempts fail busy and are retried, and the one after the release
// commits.
func TestTxRetriesUntilReleased(t *testing.T) {
	db, release := lockedDB(t)
	attempts := countAttempts(t)
	done := make(chan error, 1)
	go func() {
		done <- Tx(context.Background(), db, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO kv VALUES ('mine', 2)`)
			return err
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for attempts.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Tx made %d attempts in 5 s while the database was locked, want a retry", attempts.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Tx after the lock was released: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Tx did not return 10 s after the lock was released")
	}
	if n := attempts.Load(); n < 2 || n > MaxAttempts {
		t.Fatalf("%d attempts, want 2 to %d", n, MaxAttempts)
	}
	if count(t, db, "mine") != 1 || count(t, db, "holder") != 1 {
		t.Fatal("a committed row is missing")
	}
	t.Logf("committed on attempt %d of %d", attempts.Load(), MaxAttempts)
}

// TestTxBusyAfterMaxAttempts: the lock is never released while Tx runs;
// it gives up after MaxAttempts with ErrBusy and writes nothing.
func TestTxBusyAfterMaxAttempts(t *testing.T) {
	db, release := lockedDB(t)
	attempts := countAttempts(t)
	start := time.Now()
	err := Tx(context.Background(), db, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO kv VALUES ('mine', 2)`)
		return err
	})
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Tx on a locked database: %v, want ErrBusy", err)
	}
	if n := attempts.Load(); n != MaxAttempts {
		t.Fatalf("%d attempts, want MaxAttempts = %d", n, MaxAttempts)
	}
	t.Logf("ErrBusy after %d attempts in %v: %v", attempts.Load(), time.Since(start).Round(time.Millisecond), err)
	release()
	if count(t, db, "mine") != 0 {
		t.Fatal("the failed Tx wrote its row")
	}
	// Once released, the same *sql.DB works again.
	if err := Tx(context.Background(), db, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO kv VALUES ('mine', 3)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if count(t, db, "mine") != 1 {
		t.Fatal("row missing after the lock was released")
	}
}
