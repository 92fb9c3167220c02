package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/handler/apps/counter"
	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// dedupSenders is how many distinct senders TestEntityManyDistinctSenders uses: by
// default well past the old breaking point (about 3,700 senders, when the per-sender
// marks outgrew the checkpoint row) and about 20 s; DEDUP_SENDERS=20000 runs the
// full-size variant (about 3 minutes on Azurite, whose queries scan the whole table).
func dedupSenders(t *testing.T) int {
	if s := os.Getenv("DEDUP_SENDERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			t.Fatalf("DEDUP_SENDERS=%q: want a number of at least 100", s)
		}
		return n
	}
	return 6000
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
		deliver(envs)
		process()

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

// TestEntityMarksRetiredAndMigrated moves a hub's clock to check the life of the
// per-sender marks on storage: an entity of the old format (every mark in its
// checkpoint's Seqs property) keeps dropping redeliveries while its marks move to rows
// a few at a time; marks expire after the retention window and the hourly walk deletes
// their rows; a sender active within the window keeps its mark.
func TestEntityMarksRetiredAndMigrated(t *testing.T) {
	az := testenv.Shared(t)
	ctx := testenv.Context(t, 3*time.Minute)
	var clock atomic.Int64
	clock.Store(time.Now().UTC().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	reg := durable.NewRegistry()
	counter.Register(reg)
	name := testenv.HubName("marks")
	hub, err := engine.New(ctx, az.Account(t), engine.Config{
		TaskHub: name, OrchestratorQueue: name + "-orchestrator", ActivityQueue: name + "-activity",
		EntityQueues: map[string]string{counter.EntityName: name + "-counter"},
		Registry:     reg, Logger: quietLogger(), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := durable.NewEntityID(counter.EntityName, "old-format")
	target, pk := id.String(), storage.EscapeKey(id.String())
	op := func(sender string, seq int64) *engine.Envelope {
		return &engine.Envelope{ID: engine.MessageID(sender, seq), Sender: sender, Seq: seq, Origin: sender,
			Op: &engine.EntityOp{Kind: engine.OpSignal, Operation: "add", Input: json.RawMessage("1")}}
	}
	apply := func(envs ...*engine.Envelope) {
		t.Helper()
		if err := hub.DeliverForTest(ctx, target, envs...); err != nil {
			t.Fatal(err)
		}
		if err := hub.Process(ctx, target); err != nil {
			t.Fatal(err)
		}
	}
	value := func() string {
		t.Helper()
		snap, err := hub.ReadEntity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(snap.State)
	}
	legacySender := func(i int) string { return fmt.Sprintf("legacy-%04d|x", i) }

	// The old format: 600 live marks (sequence 4) and 100 expired ones, all in Seqs.
	old := map[string]map[string]any{}
	for i := 0; i < 700; i++ {
		at := now().Add(-time.Hour)
		if i >= 600 {
			at = now().Add(-30 * time.Hour)
		}
		old[legacySender(i)] = map[string]any{"s": 4, "t": at}
	}
	seqs, _ := json.Marshal(old)
	row := &storage.Row{PartitionKey: pk, RowKey: "!", Props: map[string]any{
		"Kind": "entity", "Name": id.Name, "Key": id.Key, "HasState": true, "State": "100", "NextSeq": int64(0),
		"Created": now().Add(-48 * time.Hour), "Modified": now().Add(-time.Hour)}}
	if err := storage.SetChunked(row.Props, "Seqs", seqs); err != nil {
		t.Fatal(err)
	}
	if err := hub.Instances().Insert(ctx, row); err != nil {
		t.Fatal(err)
	}

	// Redeliveries of old-format marks are dropped; a higher sequence applies.
	apply(op(legacySender(0), 4), op(legacySender(599), 3), op(legacySender(1), 5))
	if v := value(); v != "101" {
		t.Fatalf("counter = %s after two redeliveries and one new operation, want 101", v)
	}
	// A few episodes move every live mark to a row and drop the expired ones.
	for i := 0; i < 15; i++ {
		apply(op(fmt.Sprintf("fresh-%d|x", i), 1))
	}
	cp, err := hub.Instances().Get(ctx, pk, "!")
	if err != nil {
		t.Fatal(err)
	}
	if _, left := cp.Props["Seqs"]; left {
		t.Fatalf("old-format marks still in the checkpoint after 16 episodes")
	}
	if n := countMarkRows(t, ctx, hub, pk); n != 600+15 {
		t.Fatalf("%d mark rows, want 615 (600 moved, 15 new senders)", n)
	}
	// Moved marks still drop redeliveries (these senders are not in the recent cache).
	apply(op(legacySender(2), 4), op(legacySender(550), 1), op(legacySender(3), 6))
	if v := value(); v != "117" {
		t.Fatalf("counter = %s, want 117", v)
	}

	// 23½ hours on, the moved marks have expired (they were an hour old) and one old
	// sender is active again. The walk runs once an hour, one page of rows per episode:
	// this episode deletes the expired rows of the first page.
	advance(23*time.Hour + 30*time.Minute)
	apply(op(legacySender(5), 7))
	if n := countMarkRows(t, ctx, hub, pk); n <= 16 || n >= 615 {
		t.Fatalf("%d mark rows after the first page of the walk, want some deleted and some left to the next page", n)
	}
	// The next episode finishes the walk; an hour later, the next walk deletes the marks
	// of the fresh senders, which have expired by then, and keeps the refreshed one.
	apply(op("late-0|x", 1))
	advance(time.Hour)
	apply(op("late-1|x", 1))
	if n := countMarkRows(t, ctx, hub, pk); n != 3 {
		t.Fatalf("%d mark rows after the window, want 3 (the refreshed sender and the 2 late ones)", n)
	}
	apply(op(legacySender(5), 7), op("late-0|x", 1))
	if v := value(); v != "120" {
		t.Fatalf("counter = %s: a redelivery within the window was applied", v)
	}
}

func countMarkRows(t *testing.T, ctx context.Context, hub *engine.Hub, pk string) int {
	t.Helper()
	q := &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge 's' and RowKey lt 't'", storage.Quote(pk))}
	n := 0
	for {
		rows, next, err := hub.Instances().Query(ctx, q)
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
