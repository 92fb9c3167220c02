package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMarkBookAdmit(t *testing.T) {
	type msg struct {
		sender string
		seq    int64
		admit  bool
	}
	cases := []struct {
		name   string
		recent map[string]seqMark
		legacy map[string]seqMark
		read   map[string]*seqMark
		msgs   []msg
		// want: the commit's mark writes, "sender=seq kind"
		want []string
	}{
		{
			name:   "cached sender: at or below the mark is a duplicate",
			recent: map[string]seqMark{"a": {Seq: 5, At: t0}},
			msgs:   []msg{{"a", 5, false}, {"a", 3, false}, {"a", 6, true}},
			want:   []string{"a=6 upsert"},
		},
		{
			name:   "old-format mark is honoured and moved to a row",
			legacy: map[string]seqMark{"b": {Seq: 3, At: t0}},
			msgs:   []msg{{"b", 2, false}, {"b", 4, true}},
			want:   []string{"b=4 upsert"},
		},
		{
			name: "unknown sender is taken for new: its mark is inserted",
			msgs: []msg{{"c", 1, true}, {"c", 1, false}, {"c", 2, true}},
			want: []string{"c=2 insert"},
		},
		{
			name: "read without a row: new for sure",
			read: map[string]*seqMark{"d": nil},
			msgs: []msg{{"d", 1, true}},
			want: []string{"d=1 upsert"},
		},
		{
			name: "read mark is honoured",
			read: map[string]*seqMark{"e": {Seq: 7, At: t0}},
			msgs: []msg{{"e", 7, false}, {"e", 8, true}},
			want: []string{"e=8 upsert"},
		},
		{
			name: "duplicates only: nothing to write",
			read: map[string]*seqMark{"e": {Seq: 7, At: t0}},
			msgs: []msg{{"e", 1, false}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newMarkBook(c.recent, c.legacy, c.read)
			for _, m := range c.msgs {
				if got := b.admit(m.sender, m.seq, t0.Add(time.Minute)); got != m.admit {
					t.Errorf("admit(%s, %d) = %v, want %v", m.sender, m.seq, got, m.admit)
				}
			}
			ops := b.commitOps("pk", t0.Add(time.Minute), 0)
			var got []string
			for _, op := range ops {
				kind := map[storage.OpKind]string{storage.OpInsert: "insert", storage.OpUpsert: "upsert"}[op.Kind]
				sender := strings.TrimPrefix(op.Row.RowKey, markPfx)
				got = append(got, fmt.Sprintf("%s=%d %s", sender, op.Row.Int("Seq"), kind))
				if b.recent[sender].Seq != op.Row.Int("Seq") {
					t.Errorf("cache has %v for %s, the row %d: the cache must be a copy of the rows", b.recent[sender], sender, op.Row.Int("Seq"))
				}
				if _, still := b.legacy[sender]; still {
					t.Errorf("%s is both in a row and in the old map", sender)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("writes %v, want %v", got, c.want)
			}
			wantOptimistic := strings.Contains(fmt.Sprint(c.want), "insert")
			if b.optimistic() != wantOptimistic {
				t.Errorf("optimistic() = %v, want %v", b.optimistic(), wantOptimistic)
			}
		})
	}
}

func TestCommitOpsMigratesOldMarks(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	legacy := map[string]seqMark{}
	for i := 0; i < 7; i++ {
		legacy[fmt.Sprintf("live%d", i)] = seqMark{Seq: int64(i + 1), At: now.Add(-time.Hour)}
	}
	for i := 0; i < 3; i++ {
		legacy[fmt.Sprintf("gone%d", i)] = seqMark{Seq: 1, At: now.Add(-seqRetention - time.Minute)}
	}
	legacy[idemSender("key")] = seqMark{Seq: 1, At: now.Add(-2 * IdempotencyRetention)}

	b := newMarkBook(nil, legacy, nil)
	ops := b.commitOps("pk", now, 4)
	if len(ops) != 4 {
		t.Fatalf("moved %d marks with a budget of 4", len(ops))
	}
	for _, op := range ops {
		if op.Kind != storage.OpUpsert || !strings.HasPrefix(op.Row.RowKey, markPfx+"live") {
			t.Errorf("unexpected migration op %v %s", op.Kind, op.Row.RowKey)
		}
		if exp := op.Row.Time("Expires"); !exp.Equal(now.Add(-time.Hour).Add(seqRetention)) {
			t.Errorf("%s expires %v", op.Row.RowKey, exp)
		}
	}
	if len(legacy) != 3 {
		t.Fatalf("old map keeps %d marks, want the 3 live ones not yet moved (expired ones are dropped): %v", len(legacy), legacy)
	}
	ops = newMarkBook(nil, legacy, nil).commitOps("pk", now, 10)
	if len(ops) != 3 || len(legacy) != 0 {
		t.Fatalf("second commit moved %d, left %d", len(ops), len(legacy))
	}
}

func TestPruneRecent(t *testing.T) {
	now := t0.Add(time.Hour)
	recent := map[string]seqMark{
		"expired":           {Seq: 1, At: now.Add(-seqRetention)},
		idemSender("old"):   {Seq: 1, At: now.Add(-IdempotencyRetention - time.Second)},
		idemSender("fresh"): {Seq: 1, At: now.Add(-time.Minute)},
	}
	for i := 0; i < 100; i++ {
		recent[fmt.Sprintf("s%03d", i)] = seqMark{Seq: 1, At: t0.Add(time.Duration(i) * time.Second)}
	}
	pruneRecent(recent, now)
	if len(recent) != maxRecentMarks {
		t.Fatalf("%d cached marks, want %d", len(recent), maxRecentMarks)
	}
	for _, gone := range []string{"expired", idemSender("old"), "s000", "s036"} {
		if _, ok := recent[gone]; ok {
			t.Errorf("%s still cached", gone)
		}
	}
	for _, kept := range []string{idemSender("fresh"), "s099", "s037"} {
		if _, ok := recent[kept]; !ok {
			t.Errorf("%s evicted, but it is among the newest", kept)
		}
	}

	// Long sender ids: the byte bound applies before the count.
	long := map[string]seqMark{}
	for i := 0; i < maxRecentMarks; i++ {
		long[fmt.Sprintf("%0900d", i)] = seqMark{Seq: 1, At: t0.Add(time.Duration(i) * time.Second)}
	}
	pruneRecent(long, now)
	if len(long) == 0 || len(long)*964 > maxRecentBytes {
		t.Fatalf("%d long-id marks cached", len(long))
	}
}

// TestCheckpointStaysBounded runs the mark bookkeeping of many one-message senders (a
// new orchestration per update) through the checkpoint encoding: the row must not grow.
func TestCheckpointStaysBounded(t *testing.T) {
	st := &entityState{ID: durable.NewEntityID("e", "k"), Recent: map[string]seqMark{}, Legacy: map[string]seqMark{}, HasState: true, State: []byte("1")}
	maxSize := 0
	for i := 0; i < 2000; i++ {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		b := newMarkBook(st.Recent, st.Legacy, nil)
		if !b.admit(fmt.Sprintf("orch-%06d|%032x", i, i), 3, now) {
			t.Fatal("a new sender's message was taken for a duplicate")
		}
		b.commitOps("pk", now, maxMarkMigrations)
		row, err := st.row("pk", now)
		if err != nil {
			t.Fatalf("sender %d: %v", i, err)
		}
		size := 0
		for k, v := range row.Props {
			size += len(k) + len(fmt.Sprint(v))
		}
		maxSize = max(maxSize, size)
	}
	if maxSize > maxRecentBytes+2048 {
		t.Fatalf("checkpoint grew to %d bytes", maxSize)
	}
	// And it decodes back to the same marks.
	row, _ := st.row("pk", t0.Add(2000*time.Second))
	back, err := decodeEntity(st.ID, row)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Recent) != len(st.Recent) || len(back.Recent) == 0 {
		t.Fatalf("decoded %d cached marks, encoded %d", len(back.Recent), len(st.Recent))
	}
}

func TestSweepStep(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	row := func(rk, etag string, expires time.Time) *storage.Row {
		r := &storage.Row{PartitionKey: "pk", RowKey: rk, ETag: etag, Props: map[string]any{}}
		if !expires.IsZero() {
			r.Props["Expires"] = expires
		}
		return r
	}
	rows := []*storage.Row{
		row("sa", "e1", now.Add(-time.Second)),    // expired
		row("sb", "e2", now.Add(time.Second)),     // not yet
		row("sc", "e3", time.Time{}),              // not a mark we wrote
		row("sd", "", now.Add(-time.Hour)),        // no ETag: cannot delete safely
		row("se", "e5", now),                      // expires exactly now
		row("xz", "e6", now.Add(-48*time.Hour)),   // not a mark row
		row("sf", "e7", now.Add(-seqRetention*2)), // long expired
	}
	deletes, cursor, done := sweepStep("pk", rows, "pk\nsg", now)
	var got []string
	for _, d := range deletes {
		if d.Kind != storage.OpDelete || d.ETag == "" {
			t.Errorf("delete of %s is %v with ETag %q: must be conditional", d.Row.RowKey, d.Kind, d.ETag)
		}
		got = append(got, d.Row.RowKey)
	}
	if fmt.Sprint(got) != "[sa se sf]" || cursor != "sg" || done {
		t.Fatalf("deletes %v, cursor %q, done %v", got, cursor, done)
	}
	if _, cursor, done := sweepStep("pk", rows, "", now); cursor != "" || !done {
		t.Fatalf("last page: cursor %q, done %v", cursor, done)
	}

	for _, c := range []struct {
		swept  time.Time
		cursor string
		due    bool
	}{
		{now.Add(-markSweepEvery), "", true},
		{now.Add(-markSweepEvery + time.Second), "", false},
		{now, "sx", true}, // a walk under way goes on
		{time.Time{}, "", true},
	} {
		if got := sweepDue(c.swept, c.cursor, now); got != c.due {
			t.Errorf("sweepDue(%v, %q) = %v, want %v", c.swept, c.cursor, got, c.due)
		}
	}
}

func TestMarkRetention(t *testing.T) {
	m := seqMark{Seq: 1, At: t0}
	if got := m.expires(idemSender("k")); !got.Equal(t0.Add(IdempotencyRetention)) {
		t.Errorf("idempotency key mark expires %v", got)
	}
	if got := m.expires("orch|exec"); !got.Equal(t0.Add(seqRetention)) {
		t.Errorf("sequence mark expires %v", got)
	}
	r := markRow("pk", "a/b#c", m)
	if r.RowKey != markPfx+storage.EscapeKey("a/b#c") || r.RowKey >= markEnd || r.RowKey <= payloadPfx {
		t.Errorf("mark row key %q is outside [%s, %s) or sorts before payload rows", r.RowKey, markPfx, markEnd)
	}
}
