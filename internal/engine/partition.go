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

// partition is an instance's rows as read in one query.
type partition struct {
	pk         string
	checkpoint *storage.Row
	history    []*storage.Row
	inbox      []*inboxRow
	outbox     []*storage.Row
}

type inboxRow struct {
	rk  string
	ts  time.Time
	env *Envelope
	// unstored: handed over in memory and not in storage (see applyDirect); the
	// episode's commit stores it unless it consumes it.
	unstored bool
}

// addInbox adds rows this process handed over to the inbox as read, those it does not
// hold yet at the end (they arrived last).
func (p *partition) addInbox(rows []*inboxRow) {
	if len(rows) == 0 {
		return
	}
	seen := make(map[string]bool, len(p.inbox))
	for _, r := range p.inbox {
		seen[r.rk] = true
	}
	for _, r := range rows {
		if !seen[r.rk] {
			p.inbox = append(p.inbox, r)
		}
	}
}

// inboxOps is the part of a commit that settles the inbox: deletes of the consumed
// rows that are in storage, and inserts of the rows that live only in memory and
// were not consumed.
func (p *partition) inboxOps(consumed []string) ([]storage.Op, error) {
	taken := make(map[string]bool, len(consumed))
	for _, rk := range consumed {
		taken[rk] = true
	}
	ops := make([]storage.Op, 0, len(consumed))
	for _, r := range p.inbox {
		switch {
		case r.unstored && !taken[r.rk]:
			row, err := envelopeRow(p.pk, r.env)
			if err != nil {
				return nil, err
			}
			ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: row})
		case !r.unstored && taken[r.rk]:
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.rk}})
		}
	}
	return ops, nil
}

// loadPartition reads all rows of instance id in one partition query.
func (h *Hub) loadPartition(ctx context.Context, id string) (*partition, error) {
	pk := storage.EscapeKey(id)
	var rows []*storage.Row
	// Payload rows ("p...") sort last and are read only when referenced.
	q := &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and RowKey lt %s", storage.Quote(pk), storage.Quote(payloadPfx))}
	for {
		page, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", id, err)
		}
		rows = append(rows, page...)
		if next == "" {
			break
		}
		q.Continuation = next
	}
	p := &partition{pk: pk}
	for _, r := range rows {
		switch {
		case r.RowKey == checkpointRK:
			p.checkpoint = r
		case strings.HasPrefix(r.RowKey, historyPfx):
			p.history = append(p.history, r)
		case strings.HasPrefix(r.RowKey, inboxPfx):
			var env Envelope
			if err := json.Unmarshal(storage.GetChunked(r, "Body"), &env); err != nil {
				// A row we cannot read would block the instance forever: drop it loudly.
				h.log.Error("dropping unreadable inbox row", "instance", id, "row", r.RowKey, "err", err)
				_ = h.instances.Delete(ctx, pk, r.RowKey, "")
				continue
			}
			p.inbox = append(p.inbox, &inboxRow{rk: r.RowKey, ts: r.Timestamp, env: &env})
		case strings.HasPrefix(r.RowKey, outboxPfx):
			p.outbox = append(p.outbox, r)
		}
	}
	crashPoint(FaultAfterLoad)
	// Arrival order (server timestamp) first, row key second: rows of one sender are
	// inserted one after another, so this keeps per-sender order and is FIFO across senders.
	sort.SliceStable(p.inbox, func(i, j int) bool {
		if !p.inbox[i].ts.Equal(p.inbox[j].ts) {
			return p.inbox[i].ts.Before(p.inbox[j].ts)
		}
		return p.inbox[i].rk < p.inbox[j].rk
	})
	return p, nil
}

// beginEpisode reads an instance's partition, first delivers what a previous episode
// left in its outbox, and returns the inbox rows due now (re-arming the wake-up of
// rows due soon).
func (h *Hub) beginEpisode(ctx context.Context, id string) (*partition, []*inboxRow, time.Time, error) {
	p := h.sessionPartition(ctx, id)
	if p != nil {
		crashPoint(FaultAfterLoad)
	} else {
		h.sessions.drop(id) // this episode's commit leaves a newer one
		var err error
		if p, err = h.loadPartition(ctx, id); err != nil {
			return nil, nil, time.Time{}, err
		}
		p.addInbox(directRows(ctx, id))
	}
	if err := h.deliverOutbox(ctx, p.pk, p.outbox); err != nil {
		return nil, nil, time.Time{}, err
	}
	now := h.now()
	due, next := p.dueInbox(now)
	h.rearm(ctx, id, next, now)
	return p, due, now, nil
}

// dueInbox splits the inbox into rows due now and the earliest future due time.
func (p *partition) dueInbox(now time.Time) (due []*inboxRow, next time.Time) {
	for _, r := range p.inbox {
		if r.env.DueAt.After(now) {
			if next.IsZero() || r.env.DueAt.Before(next) {
				next = r.env.DueAt
			}
			continue
		}
		due = append(due, r)
	}
	return due, next
}

func envelopeRow(pk string, env *Envelope) (*storage.Row, error) {
	body, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	row := &storage.Row{PartitionKey: pk, RowKey: inboxRK(env.ID), Props: map[string]any{}}
	if err := storage.SetChunked(row.Props, "Body", body); err != nil {
		return nil, fmt.Errorf("message %s: %w", env.ID, err)
	}
	if !env.DueAt.IsZero() {
		row.Props["Due"] = env.DueAt
	}
	return row, nil
}

// outboxRows packs deliveries into as few outbox rows as their size allows.
func outboxRows(pk, idPrefix string, deliveries []*Delivery) ([]*storage.Row, error) {
	var rows []*storage.Row
	var cur []*Delivery
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		body, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		row := &storage.Row{PartitionKey: pk, RowKey: outboxRK(fmt.Sprintf("%s|%04d", idPrefix, len(rows))), Props: map[string]any{}}
		if err := storage.SetChunked(row.Props, "Body", body); err != nil {
			return err
		}
		rows = append(rows, row)
		cur, size = nil, 0
		return nil
	}
	for _, d := range deliveries {
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		if len(b) > storage.MaxChunkedBytes {
			return nil, fmt.Errorf("a message to %s is %d bytes, more than the %d supported", d.Target, len(b), storage.MaxChunkedBytes)
		}
		if size+len(b) > storage.MaxChunkedBytes-1024 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, d)
		size += len(b) + 1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return rows, nil
}

// commitBatch submits ops in the instance's partition. A conflict on the checkpoint
// (someone else committed) surfaces as storage.ErrConflict.
func (h *Hub) commitBatch(ctx context.Context, pk string, ops []storage.Op) error {
	_, err := h.commitBatchETag(ctx, pk, ops)
	return err
}

// commitBatchETag is commitBatch that also returns the ETag the commit gave the row of
// its first operation (the checkpoint), or "" if the response did not say.
func (h *Hub) commitBatchETag(ctx context.Context, pk string, ops []storage.Op) (string, error) {
	if len(ops) > storage.MaxBatchOps {
		return "", fmt.Errorf("internal: episode commit of %d operations exceeds the batch limit", len(ops))
	}
	etags, err := storage.BatchETags(ctx, h.instances, pk, ops)
	if errors.Is(err, storage.ErrNotFound) {
		// A row this episode read is gone (the checkpoint of an entity removed by a
		// delete or clean-up, an inbox row another worker consumed): someone else
		// changed the instance, so reload as after a lost conditional write.
		return "", fmt.Errorf("%w: %w", storage.ErrConflict, err)
	}
	if err != nil || len(etags) == 0 {
		return "", err
	}
	return etags[0], nil
}

// deliverOutbox sends what committed outbox rows hold, then deletes the rows. It is
// safe to run twice or concurrently: receivers drop duplicates.
func (h *Hub) deliverOutbox(ctx context.Context, pk string, rows []*storage.Row) error {
	if len(rows) == 0 {
		return nil
	}
	var deliveries []*Delivery
	for _, r := range rows {
		var ds []*Delivery
		if err := json.Unmarshal(storage.GetChunked(r, "Body"), &ds); err != nil {
			h.log.Error("dropping unreadable outbox row", "partition", pk, "row", r.RowKey, "err", err)
			continue
		}
		deliveries = append(deliveries, ds...)
	}
	if err := h.deliver(ctx, deliveries); err != nil {
		return err
	}
	ops := make([]storage.Op, 0, len(rows))
	for _, r := range rows {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: pk, RowKey: r.RowKey}})
	}
	return h.deleteRows(ctx, pk, ops)
}

// deleteRows deletes in batches; rows someone else already deleted are fine.
func (h *Hub) deleteRows(ctx context.Context, pk string, ops []storage.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), storage.MaxBatchOps)
		err := h.instances.Batch(ctx, pk, ops[:n])
		if errors.Is(err, storage.ErrNotFound) {
			for _, op := range ops[:n] {
				if err := h.instances.Delete(ctx, pk, op.Row.RowKey, ""); err != nil && !errors.Is(err, storage.ErrNotFound) {
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

// deliver inserts envelopes into their targets' inboxes, wakes the targets, and
// enqueues activity work.
func (h *Hub) deliver(ctx context.Context, deliveries []*Delivery) error {
	byTarget := map[string][]*Envelope{}
	var order []string
	var work []*ActivityWork
	for _, d := range deliveries {
		if len(d.Work) > 0 {
			work = append(work, d.Work...)
		}
		if len(d.Envelopes) > 0 {
			if _, seen := byTarget[d.Target]; !seen {
				order = append(order, d.Target)
			}
			byTarget[d.Target] = append(byTarget[d.Target], d.Envelopes...)
		}
	}
	for _, target := range order {
		if err := h.sendEnvelopes(ctx, target, byTarget[target]); err != nil {
			return err
		}
		crashPoint(FaultAfterDelivery)
	}
	if len(work) > 0 {
		if err := h.enqueueWork(ctx, work); err != nil {
			return err
		}
	}
	return nil
}

// sendEnvelopes inserts envelopes into target's inbox (in order) and wakes it.
func (h *Hub) sendEnvelopes(ctx context.Context, target string, envs []*Envelope) error {
	pk := storage.EscapeKey(target)
	if err := h.rehomeEnvelopes(ctx, pk, envs); err != nil {
		return fmt.Errorf("deliver to %s: %w", target, err)
	}
	if err := h.insertInbox(ctx, pk, envs); err != nil {
		return fmt.Errorf("deliver to %s: %w", target, err)
	}
	now := h.now()
	woken := map[time.Time]bool{}
	immediate := false
	for _, e := range envs {
		if !e.DueAt.After(now) {
			immediate = true
			continue
		}
		if !woken[e.DueAt] {
			woken[e.DueAt] = true
			if err := h.wake(ctx, target, e.DueAt); err != nil {
				return err
			}
		}
	}
	if immediate {
		return h.wakeOrHandOff(ctx, target, envs...)
	}
	return nil
}

// insertInbox inserts rows with plain inserts so a redelivered message keeps its
// original arrival timestamp (and so its place in line); an existing row is a duplicate.
func (h *Hub) insertInbox(ctx context.Context, pk string, envs []*Envelope) error {
	rows := make([]*storage.Row, 0, len(envs))
	for _, e := range envs {
		r, err := envelopeRow(pk, e)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if len(rows) == 1 {
		if err := h.instances.Insert(ctx, rows[0]); err != nil && !errors.Is(err, storage.ErrConflict) {
			return err
		}
		return nil
	}
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < storage.MaxBatchOps {
			sz := rowSize(rows[n])
			if n > 0 && size+sz > 3<<20 {
				break
			}
			size += sz
			n++
		}
		ops := make([]storage.Op, n)
		for i := range ops {
			ops[i] = storage.Op{Kind: storage.OpInsert, Row: rows[i]}
		}
		err := h.instances.Batch(ctx, pk, ops)
		if errors.Is(err, storage.ErrConflict) {
			// Some were delivered before: insert one by one, in order, skipping those.
			for _, r := range rows[:n] {
				if err := h.instances.Insert(ctx, r); err != nil && !errors.Is(err, storage.ErrConflict) {
					return err
				}
			}
		} else if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func rowSize(r *storage.Row) int {
	n := 0
	for _, v := range r.Props {
		if s, ok := v.(string); ok {
			n += 2 * len(s)
		} else {
			n += 16
		}
	}
	return n + 256
}

// maxWorkBytes keeps an activity queue message under the 64 KiB limit after base64.
const maxWorkBytes = 44 * 1024

// enqueueWork sends activity work items, several per message.
func (h *Hub) enqueueWork(ctx context.Context, work []*ActivityWork) error {
	q, err := h.queue(ctx, h.cfg.ActivityQueue)
	if err != nil {
		return err
	}
	var batch []*ActivityWork
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b, err := json.Marshal(ActivityBatch{Work: batch})
		if err != nil {
			return err
		}
		batch, size = nil, 0
		return q.Send(ctx, h.EncodeText(b), 0)
	}
	for _, w := range work {
		b, _ := json.Marshal(w)
		if len(b) > maxWorkBytes {
			return fmt.Errorf("activity %s input is %d bytes; the limit is %d", w.Name, len(b), maxWorkBytes)
		}
		if size+len(b) > maxWorkBytes || len(batch) >= workPerMessage {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, w)
		size += len(b) + 1
	}
	return flush()
}

// workPerMessage bounds how many activities one queue message carries: enough to keep
// queues shallow, few enough that one worker does not hold a fan-out to itself.
const workPerMessage = 16
