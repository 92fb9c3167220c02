package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// dedupSenders is how many distinct senders TestEntityManyDistinctSenders uses:
// enough by default to pass the old breaking point (about 3,700 senders, when the
// per-sender marks outgrew the checkpoint row) several times over; DEDUP_SENDERS=20000
// runs the full-size variant.
func dedupSenders(t *testing.T) int {
	if s := os.Getenv("DEDUP_SENDERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			t.Fatalf("DEDUP_SENDERS=%q: want a number of at least 100", s)
		}
		return n
	}
	return 8000
}

// TestEntityManyDistinctSenders sends one entity operations from thousands of distinct
// orchestration senders (as a scoreboard or a bank account sees: a new orchestration per
// update) through the engine's delivery and commit path, redelivers some of them, and
// checks that every operation is applied exactly once, that the entity keeps taking
// operations, and that its checkpoint row stays small whatever the number of senders.
func TestEntityManyDistinctSenders(t *testing.T) {
	n := dedupSenders(t)
	h := newHarness(t, nil)
	a := h.newApp() // no pollers: the test drives the entity itself
	ctx := testenv.Context(t, 10*time.Minute)
	id := durable.NewEntityID("counter_entity", "many-senders")
	target := id.String()
	// Sender ids shaped like an orchestration's (instance|execution); every tenth sender
	// sends a second operation later, with a higher sequence number.
	sender := func(i int) string { return fmt.Sprintf("score-%06d|%032x", i, i) }
	op := func(i int, seq int64) *engine.Envelope {
		s := sender(i)
		return &engine.Envelope{ID: engine.MessageID(s, seq), Sender: s, Seq: seq, Origin: s,
			Op: &engine.EntityOp{Kind: engine.OpSignal, Operation: "add", Input: json.RawMessage("1")}}
	}
	process := func() {
		t.Helper()
		if err := a.Hub.Process(ctx, target); err != nil {
			t.Fatalf("process: %v", err)
		}
	}
	deliver := func(envs []*engine.Envelope) {
		t.Helper()
		if err := a.Hub.DeliverForTest(ctx, target, envs...); err != nil {
			t.Fatalf("deliver: %v", err)
		}
	}

	start := time.Now()
	const wave = 250
	want, redelivered := int64(0), 0
	for lo := 0; lo < n; lo += wave {
		hi := min(lo+wave, n)
		var envs []*engine.Envelope
		for i := lo; i < hi; i++ {
			envs = append(envs, op(i, 3))
		}
		// Second operations of earlier senders, long out of any recent-sender cache.
		for i := lo / 2; i < hi/2; i++ {
			if i%10 == 0 {
				envs = append(envs, op(i, 9))
			}
		}
		want += int64(len(envs))
		t0 := time.Now()
		r0 := a.Hub.Account().Requests()
		deliver(envs)
		t1 := time.Now()
		process()
		if os.Getenv("DEDUP_DEBUG") != "" {
			t.Logf("wave %d: deliver %s, process %s, %d requests %v", lo, t1.Sub(t0), time.Since(t1), a.Hub.Account().Requests()-r0, a.Hub.Account().RequestsByKind())
		}

		// Redeliveries of applied messages (a sender's outbox delivered again after a
		// crash): the latest senders, some from the first wave, and a superseded
		// sequence number. Each must be dropped.
		var dups []*engine.Envelope
		seen := map[string]bool{}
		for _, e := range []*engine.Envelope{op(hi-1, 3), op(hi-2, 3), op(lo, 3), op(lo/3, 3), op(0, 3), op(10, 9), op(10, 3)} {
			if !seen[e.ID] {
				seen[e.ID] = true
				dups = append(dups, e)
			}
		}
		redelivered += len(dups)
		deliver(dups)
		process()
	}
	applyTime := time.Since(start)

	snap, err := a.Hub.ReadEntity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(snap.State); got != strconv.FormatInt(want, 10) {
		t.Fatalf("counter = %s after %d operations from %d senders and %d redeliveries, want %d", got, want, n, redelivered, want)
	}

	// Still taking operations: new senders, a sender seen long ago with a new sequence,
	// and a client signal.
	var more []*engine.Envelope
	for i := n; i < n+10; i++ {
		more = append(more, op(i, 3))
	}
	more = append(more, op(1, 20))
	deliver(more)
	if err := a.Hub.SignalEntity(ctx, id, "add", json.RawMessage("1"), nil); err != nil {
		t.Fatal(err)
	}
	process()
	want += int64(len(more)) + 1
	snap, err = a.Hub.ReadEntity(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(snap.State); got != strconv.FormatInt(want, 10) {
		t.Fatalf("counter = %s after the later operations, want %d", got, want)
	}

	size, props := checkpointSize(t, ctx, a, target)
	marks := countRows(t, ctx, a, target, "s", "t")
	t.Logf("%d senders, %d operations, %d redeliveries applied in %s; checkpoint row %d bytes (%v); %d mark rows",
		n, want, redelivered, applyTime.Round(time.Millisecond), size, props, marks)
	// The checkpoint holds the state, a bounded cache of recent senders and bookkeeping:
	// it must not grow with the number of senders (the old design needed ~121 bytes each).
	if size > 24<<10 {
		t.Fatalf("checkpoint row is %d bytes after %d senders: the dedup state is not bounded", size, n)
	}
}

// checkpointSize reads an instance's checkpoint row and returns its approximate stored
// size (property names and values) and its property names.
func checkpointSize(t *testing.T, ctx context.Context, a *app.App, instance string) (int, []string) {
	t.Helper()
	row, err := a.Hub.Instances().Get(ctx, storage.EscapeKey(instance), "!")
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	var names []string
	for k, v := range row.Props {
		names = append(names, k)
		size += len(k)
		switch v := v.(type) {
		case string:
			size += len(v)
		default:
			size += 8
		}
	}
	return size, names
}

// countRows counts an instance's rows with row keys in [from, to).
func countRows(t *testing.T, ctx context.Context, a *app.App, instance, from, to string) int {
	t.Helper()
	q := &storage.QueryOptions{
		Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s",
			storage.Quote(storage.EscapeKey(instance)), storage.Quote(from), storage.Quote(to)),
		Select: []string{"RowKey"},
	}
	n := 0
	for {
		rows, next, err := a.Hub.Instances().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(rows)
		if next == "" {
			return n
		}
		q.Continuation = next
	}
}
