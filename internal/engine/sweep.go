package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
	"github.com/durablego/durablefunctions/internal/storage"
)

// DefaultRedriveAfter is how long an orchestration may wait on outstanding activity
// work without any progress before the sweep sends that work again. Long enough
// for activities that legitimately run for a while (a re-drive runs them twice; the
// second result is dropped), short enough that lost work is noticed the same hour.
const DefaultRedriveAfter = 30 * time.Minute

// maxRedriveBackoff caps the doubling wait between re-drives of one instance.
const maxRedriveBackoff = 24 * time.Hour

// SweepOptions tunes Sweep.
type SweepOptions struct {
	// MinAge: rows younger than this are left to their own wake-ups (default 2 minutes).
	MinAge time.Duration
	// Before, if set, replaces MinAge: rows written before then are woken. A process
	// sweeps with its start time and Recover when it starts, for the work a process
	// before it may have died in the middle of (handed off, so no queue message would
	// bring it back).
	Before time.Time
	// Recover wakes entities in careful mode (see HandleWakeUp): their last attempt
	// may be what killed the process.
	Recover bool
}

// Sweep finds stranded work. It re-wakes instances whose inbox or outbox rows have
// waited longer than MinAge: work stranded when a sender died between writing a row
// and enqueueing its wake-up, or whose wake-up was lost or poisoned. And it re-drives
// orchestrations that wait on activity work no queue may hold any more: activity work
// is the only work that lives in a queue message alone (everything else is an inbox
// row, found by the first rule), so a lost or poisoned activity message whose failure
// report did not get through would leave its orchestration Running forever. Every
// episode stamps the checkpoint of an orchestration with outstanding activities with
// RedriveAt (now + Config.RedriveAfter); when that passes with no episode in between,
// the sweep sends the outstanding work again under the same task ids (a real result
// that turns up after all is dropped as a duplicate) and pushes RedriveAt out,
// doubling the wait each time. Both rules are one table scan that returns only row
// keys and timestamps, with no queue reads. It returns the number of instances woken
// or re-driven.
func (h *Hub) Sweep(ctx context.Context, opts *SweepOptions) (int, error) {
	minAge := 2 * time.Minute
	if opts != nil && opts.MinAge > 0 {
		minAge = opts.MinAge
	}
	now := h.now()
	cutoff, recover := now.Add(-minAge), false // rows written from cutoff on are left alone
	if opts != nil {
		if !opts.Before.IsZero() {
			cutoff = opts.Before
		}
		recover = opts.Recover
	}
	q := &storage.QueryOptions{
		Filter: fmt.Sprintf("(RowKey ge %s and RowKey lt %s) or (RowKey eq %s and RedriveAt le %s)",
			storage.Quote(inboxPfx), storage.Quote("p"), storage.Quote(checkpointRK), odataTime(now)),
		Select: []string{"PartitionKey", "RowKey", "Timestamp", "Due", "RedriveAt"},
		Top:    1000,
	}
	woken := map[string]bool{}
	hasRows := map[string]bool{}
	var redrive []string
	for {
		rows, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return len(woken), err
		}
		for _, r := range rows {
			if r.RowKey == checkpointRK {
				if at := r.Time("RedriveAt"); !at.IsZero() && !at.After(now) {
					redrive = append(redrive, r.PartitionKey)
				}
				continue
			}
			hasRows[r.PartitionKey] = true
			if woken[r.PartitionKey] || !r.Timestamp.Before(cutoff) {
				continue
			}
			if due := r.Time("Due"); !due.IsZero() && due.After(now) {
				continue // a timer still waiting for its delayed wake-up
			}
			id, err := storage.UnescapeKey(r.PartitionKey)
			if err != nil {
				continue
			}
			if recover {
				err = h.wakeRecover(ctx, id)
			} else {
				err = h.wake(ctx, id, time.Time{})
			}
			if err != nil {
				h.log.Warn("sweep could not wake instance", "instance", id, "err", err)
				continue
			}
			woken[r.PartitionKey] = true
		}
		if next == "" {
			break
		}
		q.Continuation = next
	}
	redriven := 0
	for _, pk := range redrive {
		if hasRows[pk] {
			continue // it has messages to apply: the episode they cause stamps it anew
		}
		id, err := storage.UnescapeKey(pk)
		if err != nil {
			continue
		}
		ok, err := h.redrive(ctx, id)
		if err != nil {
			h.log.Warn("sweep could not re-drive instance", "instance", id, "err", err)
			continue
		}
		if ok {
			redriven++
		}
	}
	if len(woken) > 0 || redriven > 0 {
		h.log.Info("sweep re-woke instances with waiting messages and re-drove instances waiting on lost activity work", "woken", len(woken), "redriven", redriven)
	}
	return len(woken) + redriven, nil
}

// redrive sends the outstanding activity work of orchestration id again, if it is
// still waiting on it and nothing else is pending in its partition.
func (h *Hub) redrive(ctx context.Context, id string) (bool, error) {
	p, err := h.loadPartition(ctx, id)
	if err != nil || p.checkpoint == nil {
		return false, err
	}
	st, err := decodeOrch(id, p.checkpoint)
	if err != nil {
		return false, err
	}
	now := h.now()
	if st.Status != durable.StatusRunning && st.Status != durable.StatusSuspended || st.RedriveAt.IsZero() || st.RedriveAt.After(now) {
		return false, nil
	}
	if len(p.inbox) > 0 || len(p.outbox) > 0 {
		return false, h.wake(ctx, id, time.Time{}) // an episode has work: let it run
	}
	past, _, err := historyEvents(p, st.ExecutionID)
	if err != nil {
		return false, err
	}
	pending := pendingActivities(replay.RewindHistory(past))
	work := make([]*ActivityWork, 0, len(pending))
	for _, e := range pending {
		work = append(work, &ActivityWork{Instance: id, Execution: st.ExecutionID, TaskID: e.ID, Name: e.Name, Input: e.Input})
	}
	if len(work) > 0 {
		if err := h.enqueueWork(ctx, work); err != nil {
			return false, err
		}
		h.log.Warn("re-sent activity work of an orchestration that waited without progress", "instance", id, "tasks", len(work), "since", st.Updated)
	}
	// Push the next re-drive out, doubling the wait, under the checkpoint's ETag: an
	// episode committed in between has stamped it anew and wins.
	row := &storage.Row{PartitionKey: p.pk, RowKey: checkpointRK, Props: maps.Clone(p.checkpoint.Props)}
	if len(work) == 0 {
		delete(row.Props, "RedriveAt")
		delete(row.Props, "Redrives")
	} else {
		wait := h.cfg.RedriveAfter << min(st.Redrives+1, 16)
		if wait <= 0 || wait > maxRedriveBackoff {
			wait = maxRedriveBackoff
		}
		row.Props["RedriveAt"] = now.Add(wait)
		row.Props["Redrives"] = st.Redrives + 1
	}
	if err := h.instances.Replace(ctx, row, p.checkpoint.ETag); err != nil && !errors.Is(err, storage.ErrConflict) {
		return len(work) > 0, err
	}
	return len(work) > 0, nil
}

// pendingActivities returns the activity scheduling events of a history that have no
// result yet, in schedule order.
func pendingActivities(lists ...[]history.Event) []history.Event {
	var scheduled []history.Event
	done := map[int]bool{}
	for _, evs := range lists {
		for _, e := range evs {
			switch e.Type {
			case history.TaskScheduled:
				scheduled = append(scheduled, e)
			case history.TaskCompleted, history.TaskFailed:
				done[e.TaskID] = true
			}
		}
	}
	var out []history.Event
	for _, e := range scheduled {
		if !done[e.ID] {
			out = append(out, e)
		}
	}
	return out
}
