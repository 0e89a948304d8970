package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"testing"
)

func TestOpenAndTx(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	schema := `CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0));`
	db, err := Open(ctx, dir, "t.db", schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := Tx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES ('a', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A failing function rolls back.
	boom := errors.New("boom")
	if err := Tx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE kv SET v = 99`); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	// A constraint violation is an error, not a retry.
	if err := Tx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE kv SET v = v - 5`)
		return err
	}); err == nil || errors.Is(err, ErrBusy) {
		t.Fatalf("check constraint: err = %v", err)
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = 'a'`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("v = %d, %v", v, err)
	}
	// Reopening runs the idempotent schema again and keeps the data.
	db2, err := Open(ctx, dir, "t.db", schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if err := db2.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = 'a'`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("after reopen v = %d, %v", v, err)
	}
}
