package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

// An entity's deduplication marks: for each sender, the last sequence number applied.
// docs/ARCHITECTURE.md ("Entity deduplication marks") explains the design; in short,
// every mark is a row of its own in the entity's partition, written in the same
// transaction as the operation it records, and retired once its sender can no longer
// redeliver. The checkpoint row keeps only a bounded cache of the most recent senders,
// so its size does not depend on how many senders the entity has ever had.

const (
	// Mark rows sort after payload rows ("p"): loadPartition (RowKey lt "p") never
	// reads them, so an episode reads marks only for the senders it is applying.
	markPfx = "s"
	markEnd = "t"

	// maxRecentMarks and maxRecentBytes bound the checkpoint's cache of recent senders.
	maxRecentMarks = 64
	maxRecentBytes = 12 << 10

	// markSweepEvery is how often an active entity walks its mark rows to retire the
	// expired ones; markSweepPage is how many rows one episode looks at (so that no
	// single operation pays for a whole walk).
	markSweepEvery = time.Hour
	markSweepPage  = 500

	// maxMarkReads is how many mark rows one query asks for: Azure allows 15
	// comparisons in a filter, and one is the partition key.
	maxMarkReads = 14

	// maxMarkMigrations bounds how many marks of the old format one commit moves to rows.
	maxMarkMigrations = 50
)

// seqMark is the last sequence number applied for one sender, and when.
type seqMark struct {
	Seq int64     `json:"s"`
	At  time.Time `json:"t"`
}

// seqRetention is how long a sequence mark is kept after its sender's last message was
// applied. A duplicate can come only from a sender's outbox delivered again; leftover
// outboxes are delivered within minutes (the next episode of the sender, or the sweep
// every 5 minutes), so a day is a wide margin.
const seqRetention = 24 * time.Hour

// markRetention is how long sender's mark must be kept.
func markRetention(sender string) time.Duration {
	if strings.HasPrefix(sender, idemSenderPrefix) {
		return IdempotencyRetention
	}
	return seqRetention
}

// expires is when the mark may be retired.
func (m seqMark) expires(sender string) time.Time { return m.At.Add(markRetention(sender)) }

func markRK(sender string) string { return markPfx + storage.EscapeKey(sender) }

func markRow(pk, sender string, m seqMark) *storage.Row {
	return &storage.Row{PartitionKey: pk, RowKey: markRK(sender), Props: map[string]any{
		"Seq": m.Seq, "At": m.At, "Expires": m.expires(sender),
	}}
}

// retirable reports whether a mark row has expired at now.
func retirable(r *storage.Row, now time.Time) bool {
	exp := r.Time("Expires")
	if exp.IsZero() {
		return false // not a mark row we wrote: leave it
	}
	return !now.Before(exp)
}

// markWrite is a mark an episode commits.
type markWrite struct {
	mark seqMark
	// insert: the episode did not know whether the sender has a mark row. The write is
	// an insert, which fails the commit if a row exists; the episode is then redone
	// with the marks read (see Hub.entityEpisode). A sender new to the entity (the
	// common case: a new orchestration per update) so costs no read at all.
	insert bool
}

// markBook is one episode's view of an entity's marks: the checkpoint's cache of recent
// senders, marks of the old format still to be migrated, and mark rows read this
// episode. It decides duplicates and collects the writes of the commit.
type markBook struct {
	recent map[string]seqMark  // write-through copy of the newest rows (the checkpoint's "Marks")
	legacy map[string]seqMark  // the old in-row "Seqs" map: no row exists for these senders
	read   map[string]*seqMark // rows read this episode; nil: the sender has no row
	writes map[string]*markWrite
	order  []string
}

func newMarkBook(recent, legacy map[string]seqMark, read map[string]*seqMark) *markBook {
	if recent == nil {
		recent = map[string]seqMark{}
	}
	if legacy == nil {
		legacy = map[string]seqMark{}
	}
	return &markBook{recent: recent, legacy: legacy, read: read, writes: map[string]*markWrite{}}
}

// lookup returns sender's mark if known; certain reports whether the book knows if
// the sender has a mark at all (false: a row may exist that was not read).
func (b *markBook) lookup(sender string) (m seqMark, found, certain bool) {
	if w := b.writes[sender]; w != nil {
		return w.mark, true, true
	}
	if m, ok := b.recent[sender]; ok {
		return m, true, true
	}
	if m, ok := b.legacy[sender]; ok {
		return m, true, true
	}
	if r, ok := b.read[sender]; ok {
		if r == nil {
			return seqMark{}, false, true
		}
		return *r, true, true
	}
	return seqMark{}, false, false
}

// uncertain reports whether the book would have to guess about sender.
func (b *markBook) uncertain(sender string) bool {
	_, _, certain := b.lookup(sender)
	return !certain
}

// adds reports whether admitting a message of sender adds a write to the commit.
func (b *markBook) adds(sender string) bool { return b.writes[sender] == nil }

// admit decides a sequenced message: false means it is a duplicate (its sequence is at
// or below the sender's mark); otherwise the sender's mark moves to seq.
func (b *markBook) admit(sender string, seq int64, now time.Time) bool {
	m, found, certain := b.lookup(sender)
	if found && seq <= m.Seq {
		return false
	}
	w := b.writes[sender]
	if w == nil {
		w = &markWrite{insert: !certain}
		b.writes[sender] = w
		b.order = append(b.order, sender)
	}
	w.mark = seqMark{Seq: seq, At: now}
	return true
}

// optimistic reports whether the commit inserts marks it only guessed were new.
func (b *markBook) optimistic() bool {
	for _, w := range b.writes {
		if w.insert {
			return true
		}
	}
	return false
}

// commitOps returns the mark writes of the commit, plus up to migrate marks of the old
// format moved into rows, and updates the cache and the old map the checkpoint will
// hold: written senders join the cache (which keeps the newest), moved or expired old
// marks leave the old map. Each old mark is moved in the same transaction that removes
// it from the checkpoint, so a sender never has both.
func (b *markBook) commitOps(pk string, now time.Time, migrate int) []storage.Op {
	var ops []storage.Op
	for _, s := range b.order {
		w := b.writes[s]
		kind := storage.OpUpsert
		if w.insert {
			kind = storage.OpInsert
		}
		ops = append(ops, storage.Op{Kind: kind, Row: markRow(pk, s, w.mark)})
		b.recent[s] = w.mark
		delete(b.legacy, s)
	}
	if len(b.legacy) > 0 {
		senders := make([]string, 0, len(b.legacy))
		for s := range b.legacy {
			senders = append(senders, s)
		}
		sort.Strings(senders)
		for _, s := range senders {
			m := b.legacy[s]
			switch {
			case !now.Before(m.expires(s)):
				delete(b.legacy, s) // nothing left to protect
			case migrate > 0:
				ops = append(ops, storage.Op{Kind: storage.OpUpsert, Row: markRow(pk, s, m)})
				delete(b.legacy, s)
				migrate--
			}
		}
	}
	pruneRecent(b.recent, now)
	return ops
}

// pruneRecent bounds the cache of recent senders: expired marks go, then the oldest
// beyond maxRecentMarks entries or maxRecentBytes. Evicting is always safe: every
// cached mark is also in its row.
func pruneRecent(recent map[string]seqMark, now time.Time) {
	senders := make([]string, 0, len(recent))
	for s, m := range recent {
		if !now.Before(m.expires(s)) {
			delete(recent, s)
			continue
		}
		senders = append(senders, s)
	}
	sort.Slice(senders, func(i, j int) bool {
		a, b := recent[senders[i]], recent[senders[j]]
		if !a.At.Equal(b.At) {
			return a.At.After(b.At)
		}
		return senders[i] < senders[j]
	})
	size := 0
	for i, s := range senders {
		size += len(s) + 64 // the JSON of one entry: key, sequence, time
		if i >= maxRecentMarks || size > maxRecentBytes {
			delete(recent, s)
		}
	}
}

// readMarks reads the mark rows of senders: nil for a sender without one.
func (h *Hub) readMarks(ctx context.Context, pk string, senders []string) (map[string]*seqMark, error) {
	out := make(map[string]*seqMark, len(senders))
	bySender := map[string]string{}
	for _, s := range senders {
		out[s] = nil
		bySender[markRK(s)] = s
	}
	for i := 0; i < len(senders); i += maxMarkReads {
		group := senders[i:min(i+maxMarkReads, len(senders))]
		conds := make([]string, len(group))
		for j, s := range group {
			conds[j] = "RowKey eq " + storage.Quote(markRK(s))
		}
		q := &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and (%s)", storage.Quote(pk), strings.Join(conds, " or "))}
		for {
			rows, next, err := h.instances.Query(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("read sequence marks: %w", err)
			}
			for _, r := range rows {
				if s, ok := bySender[r.RowKey]; ok {
					out[s] = &seqMark{Seq: r.Int("Seq"), At: r.Time("At")}
				}
			}
			if next == "" {
				break
			}
			q.Continuation = next
		}
	}
	return out, nil
}

// sweepDue reports whether an episode at now should take a step of the mark walk.
func sweepDue(swept time.Time, cursor string, now time.Time) bool {
	return cursor != "" || now.Sub(swept) >= markSweepEvery
}

// sweepStep decides one step of the mark walk from a page of mark rows: the expired
// rows to delete (conditionally: a mark refreshed since the read stays), and where
// the walk goes on ("" with done when the page was the last).
func sweepStep(pk string, rows []*storage.Row, next string, now time.Time) (deletes []storage.Op, cursor string, done bool) {
	for _, r := range rows {
		if strings.HasPrefix(r.RowKey, markPfx) && r.ETag != "" && retirable(r, now) {
			deletes = append(deletes, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: pk, RowKey: r.RowKey}, ETag: r.ETag})
		}
	}
	if next == "" {
		return deletes, "", true
	}
	_, nrk, _ := strings.Cut(next, "\n")
	if nrk == "" {
		return deletes, "", true
	}
	return deletes, nrk, false
}

// retireMarks takes one step of the walk over the entity's mark rows when one is due:
// it reads a page of mark rows from st's cursor, deletes the expired ones and moves the
// cursor (committed with the episode). A failure only postpones retirement.
func (h *Hub) retireMarks(ctx context.Context, pk string, st *entityState, now time.Time) {
	if !sweepDue(st.MarksSwept, st.MarksCursor, now) {
		return
	}
	from := st.MarksCursor
	if from == "" {
		from = markPfx
	}
	rows, next, err := h.instances.Query(ctx, &storage.QueryOptions{
		Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", storage.Quote(pk), storage.Quote(from), storage.Quote(markEnd)),
		Top:    markSweepPage,
	})
	if err != nil {
		h.log.Warn("could not read sequence marks to retire", "entity", st.ID.String(), "err", err)
		return
	}
	deletes, cursor, done := sweepStep(pk, rows, next, now)
	if err := h.deleteMarks(ctx, pk, deletes); err != nil {
		h.log.Warn("could not retire sequence marks", "entity", st.ID.String(), "err", err)
		return
	}
	st.MarksCursor = cursor
	if done {
		st.MarksSwept = now
	}
}

// deleteMarks deletes mark rows conditionally on the ETags read: a mark refreshed (or
// already deleted) since then is left alone.
func (h *Hub) deleteMarks(ctx context.Context, pk string, ops []storage.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), storage.MaxBatchOps)
		err := h.instances.Batch(ctx, pk, ops[:n])
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			for _, op := range ops[:n] {
				err := h.instances.Delete(ctx, pk, op.Row.RowKey, op.ETag)
				if err != nil && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
			}
		} else if err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// decodeMarks reads a JSON mark map property of the checkpoint.
func decodeMarks(row *storage.Row, name string) (map[string]seqMark, error) {
	m := map[string]seqMark{}
	if b := storage.GetChunked(row, name); len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
	}
	return m, nil
}
