package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

// An entity operation that kills the worker (out of memory, os.Exit, a panic in a
// goroutine of its own, a host timeout) never returns an error the engine could
// record: the episode just vanishes, its wake-up comes back, and every later wake-up
// of the entity would replay the same batch and die again. What gets poisoned on the
// queue is only a wake-up, which names the entity, not the operation. So the engine
// finds the operation itself: once a wake-up is a redelivery, the entity is processed
// in careful mode — one operation per episode, with a durable attempt mark on the
// checkpoint written before the operation runs. A mark found on load means that
// attempt died; after maxDequeueCount-1 careful attempts (plus the first, normal one)
// the operation is poisoned: it is consumed without running, a caller gets
// EntityFailed with ErrorType PoisonMessage, the reason is recorded in <hub>Poison,
// and the entity goes on with the next operation. Careful mode costs one extra
// write per operation and only runs after a worker died.

type carefulKey struct{}

// carefulBudget is how many episodes of one Process call stay careful: as many as a
// normal episode could have applied when the worker died.
type carefulBudget struct{ left int }

// withCareful marks the work under ctx as a redelivery: entity episodes run carefully.
func withCareful(ctx context.Context) context.Context {
	return context.WithValue(ctx, carefulKey{}, &carefulBudget{left: maxEntityBatch})
}

// carefulAttempts is how many careful attempts an operation gets before it is poisoned.
func (h *Hub) carefulAttempts() int {
	return max(h.cfg.MaxDequeueCount-1, 1)
}

// firstEligible is the row the episode loop applies first.
func firstEligible(st *entityState, due []*inboxRow) *inboxRow {
	for _, r := range due {
		if st.Lock == nil || r.env.Origin == st.Lock.Origin {
			return r
		}
	}
	return nil
}

// runsUserCode reports whether applying env runs the entity function (and so could
// kill the worker): signals and calls that are not duplicates.
func runsUserCode(book *markBook, env *Envelope) bool {
	if env.Op == nil || env.Op.Kind != OpSignal && env.Op.Kind != OpCall {
		return false
	}
	if env.Seq > 0 && env.Sender != "" {
		if m, found, _ := book.lookup(env.Sender); found && env.Seq <= m.Seq {
			return false
		}
	}
	return true
}

// markAttempt durably records attempt n at the operation in row rk before it runs.
// It writes the checkpoint as loaded (plus the mark) under its ETag, so nothing of the
// episode is committed early; a conflict means someone else moved the entity on.
func (h *Hub) markAttempt(ctx context.Context, p *partition, st *entityState, rk string, n int, now time.Time) error {
	a := &opAttempt{Row: rk, N: n}
	b, _ := json.Marshal(a)
	var row *storage.Row
	var err error
	if p.checkpoint != nil {
		row = &storage.Row{PartitionKey: p.pk, RowKey: checkpointRK, Props: maps.Clone(p.checkpoint.Props)}
		row.Props["Attempt"] = string(b)
		err = h.instances.Replace(ctx, row, p.checkpoint.ETag)
	} else {
		if row, err = st.row(p.pk, now); err == nil {
			row.Props["Attempt"] = string(b)
			err = h.instances.Insert(ctx, row)
		}
	}
	if err != nil {
		return err
	}
	st.etag, st.exists, st.Attempt = row.ETag, true, a
	h.log.Warn("applying entity operation carefully after a worker died", "entity", st.ID.String(), "row", rk, "attempt", n)
	return nil
}

// recordPoisonedOp keeps the reason for a poisoned operation in the poison table.
func (h *Hub) recordPoisonedOp(ctx context.Context, id string, due []*inboxRow, rk string, f *durable.FailureDetails) {
	for _, r := range due {
		if r.rk != rk {
			continue
		}
		body, _ := json.Marshal(r.env)
		queue, _ := h.queueFor(id)
		h.log.Error("entity operation poisoned", "entity", id, "message", r.env.ID, "reason", f.ErrorMessage)
		if err := h.RecordPoison(ctx, PoisonRecord{Queue: queue, MessageID: r.env.ID, Reason: f.ErrorMessage, Text: string(body)}); err != nil {
			h.log.Warn("could not record poisoned entity operation", "entity", id, "err", err)
		}
		return
	}
}

// enterCareful switches the episode to careful mode when a worker died during an
// earlier one (the wake-up is a redelivery, or an attempt mark was left): one
// operation per episode, marked durably before it runs, so an operation that kills
// the worker every time is recognised and poisoned instead of blocking the entity.
func (h *Hub) enterCareful(ctx context.Context, e *entityRun) error {
	st := e.st
	budget, _ := ctx.Value(carefulKey{}).(*carefulBudget)
	if st.Attempt == nil && (budget == nil || budget.left <= 0) {
		return nil
	}
	e.limit = 1
	if budget != nil && budget.left > 0 {
		budget.left--
	}
	r := firstEligible(st, e.due)
	if r == nil || !runsUserCode(e.book, r.env) {
		return nil
	}
	n := 1
	if st.Attempt != nil && st.Attempt.Row == r.rk {
		n = st.Attempt.N + 1
	}
	if n <= h.carefulAttempts() {
		return h.markAttempt(ctx, e.p, st, r.rk, n, e.now)
	}
	e.poisonedRow = r.rk
	e.poisoned = &durable.FailureDetails{ErrorType: PoisonErrorType, ErrorMessage: fmt.Sprintf(
		"entity %s operation %q was given up on: the worker stopped (crash, kill or timeout) each of the %d times it was applied (maxDequeueCount %d); the entity skipped it and serves later operations",
		e.id, r.env.Op.Operation, n, h.cfg.MaxDequeueCount)}
	return nil
}
