package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// TestBatchETags checks that BatchETags returns the ETags a batch gave its rows: a
// conditional write with the ETag returned for the checkpoint succeeds without a read,
// and one with an older ETag is refused.
func TestBatchETags(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	acct := testenv.Shared(t).Account(t)
	tbl, err := acct.Table(ctx, testenv.HubName("et")+"Rows")
	if err != nil {
		t.Fatal(err)
	}
	row := func(rk string, n int64) *storage.Row {
		return &storage.Row{PartitionKey: "p", RowKey: rk, Props: map[string]any{"N": n, "S": "x\r\nHTTP/1.1 200 OK\r\nETag: bogus"}}
	}
	if err := tbl.Insert(ctx, row("gone", 0)); err != nil {
		t.Fatal(err)
	}
	ops := []storage.Op{{Kind: storage.OpInsert, Row: row("!", 1)}, {Kind: storage.OpInsert, Row: row("a", 1)}, {Kind: storage.OpDelete, Row: row("gone", 0)}}
	etags, err := storage.BatchETags(ctx, tbl, "p", ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(etags) != 3 || etags[0] == "" || etags[1] == "" || etags[2] != "" {
		t.Fatalf("etags %q; want two and an empty one for the delete", etags)
	}
	got, err := tbl.Get(ctx, "p", "!")
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != etags[0] {
		t.Fatalf("checkpoint ETag %q, batch said %q", got.ETag, etags[0])
	}
	next, err := storage.BatchETags(ctx, tbl, "p", []storage.Op{{Kind: storage.OpReplace, Row: row("!", 2), ETag: etags[0]}})
	if err != nil || len(next) != 1 || next[0] == etags[0] {
		t.Fatalf("replace with the returned ETag: %v, etags %q", err, next)
	}
	// A failed batch is still classified (the policy must leave the body readable
	// for the SDK's error): a conflict at the operation that lost.
	_, err = storage.BatchETags(ctx, tbl, "p", []storage.Op{{Kind: storage.OpInsert, Row: row("b", 1)}, {Kind: storage.OpReplace, Row: row("!", 3), ETag: etags[0]}})
	var be *storage.BatchError
	if !errors.Is(err, storage.ErrConflict) || !errors.As(err, &be) || be.Index != 1 {
		t.Fatalf("replace with a stale ETag: %v; want a conflict at operation 1", err)
	}
}
