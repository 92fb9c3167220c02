package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
)

// entityState is an entity's checkpoint row, decoded.
type entityState struct {
	ID       durable.EntityID
	State    json.RawMessage
	HasState bool
	// Seqs holds, per sender, the last sequence number applied: redelivered
	// messages at or below it are duplicates.
	Seqs    map[string]seqMark
	Lock    *lockHolder
	NextSeq int64
	// Attempt marks an operation being applied carefully (after a worker died during
	// an episode): if the worker dies again, the next episode finds the mark.
	Attempt  *opAttempt
	Created  time.Time
	Modified time.Time
	etag     string
	exists   bool
}

// opAttempt counts careful attempts to apply the operation in inbox row Row.
type opAttempt struct {
	Row string `json:"row"`
	N   int    `json:"n"`
}

type seqMark struct {
	Seq int64     `json:"s"`
	At  time.Time `json:"t"`
}

// lockHolder is the critical section that owns an entity.
type lockHolder struct {
	Origin string `json:"origin"`
	TaskID int    `json:"taskId"`
}

// maxIdempotencyKeys bounds the idempotency keys an entity remembers, so that its
// checkpoint row stays small whatever the traffic.
const maxIdempotencyKeys = 2000

// pruneSeqs forgets per-sender marks nobody can still need: senders silent for longer
// than seqRetention, idempotency keys older than IdempotencyRetention, and the oldest
// keys beyond maxIdempotencyKeys.
func pruneSeqs(seqs map[string]seqMark, now time.Time) {
	if len(seqs) <= 256 {
		return
	}
	var idem []string
	for k, m := range seqs {
		isIdem := strings.HasPrefix(k, idemSenderPrefix)
		switch {
		case isIdem && now.Sub(m.At) > IdempotencyRetention, !isIdem && now.Sub(m.At) > seqRetention:
			delete(seqs, k)
		case isIdem:
			idem = append(idem, k)
		}
	}
	if len(idem) > maxIdempotencyKeys {
		sort.Slice(idem, func(i, j int) bool { return seqs[idem[i]].At.Before(seqs[idem[j]].At) })
		for _, k := range idem[:len(idem)-maxIdempotencyKeys] {
			delete(seqs, k)
		}
	}
}

// maxEntityBatch keeps an entity commit (checkpoint + consumed rows + a few outbox
// rows) within the 100-operation batch limit.
const maxEntityBatch = 90

// seqRetention bounds how long per-sender marks are kept once there are many: a
// sender's outbox is redelivered within minutes of a crash, never days later.
const seqRetention = 24 * time.Hour

func decodeEntity(id durable.EntityID, row *storage.Row) (*entityState, error) {
	st := &entityState{ID: id, Seqs: map[string]seqMark{}}
	if row == nil {
		return st, nil
	}
	st.exists = true
	st.etag = row.ETag
	st.HasState = row.Bool("HasState")
	if st.HasState {
		st.State = json.RawMessage(storage.GetChunked(row, "State"))
	}
	if b := storage.GetChunked(row, "Seqs"); len(b) > 0 {
		if err := json.Unmarshal(b, &st.Seqs); err != nil {
			return nil, fmt.Errorf("entity %s: corrupt sequence marks: %w", id, err)
		}
	}
	if b := row.String("Lock"); b != "" {
		st.Lock = &lockHolder{}
		if err := json.Unmarshal([]byte(b), st.Lock); err != nil {
			return nil, fmt.Errorf("entity %s: corrupt lock: %w", id, err)
		}
	}
	if b := row.String("Attempt"); b != "" {
		st.Attempt = &opAttempt{}
		if err := json.Unmarshal([]byte(b), st.Attempt); err != nil {
			return nil, fmt.Errorf("entity %s: corrupt attempt mark: %w", id, err)
		}
	}
	st.NextSeq = row.Int("NextSeq")
	st.Created = row.Time("Created")
	st.Modified = row.Time("Modified")
	return st, nil
}

func (st *entityState) row(pk string, now time.Time) (*storage.Row, error) {
	r := &storage.Row{PartitionKey: pk, RowKey: checkpointRK, Props: map[string]any{
		"Kind":     "entity",
		"Name":     st.ID.Name,
		"Key":      st.ID.Key,
		"HasState": st.HasState,
		"NextSeq":  st.NextSeq,
		"Created":  st.Created,
		"Modified": now,
	}}
	if st.HasState {
		if err := storage.SetChunked(r.Props, "State", st.State); err != nil {
			return nil, fmt.Errorf("entity %s state: %w", st.ID, err)
		}
	}
	pruneSeqs(st.Seqs, now)
	if len(st.Seqs) > 0 {
		b, _ := json.Marshal(st.Seqs)
		if err := storage.SetChunked(r.Props, "Seqs", b); err != nil {
			return nil, fmt.Errorf("entity %s: %w", st.ID, err)
		}
	}
	if st.Lock != nil {
		b, _ := json.Marshal(st.Lock)
		r.Props["Lock"] = string(b)
	}
	if st.Attempt != nil {
		b, _ := json.Marshal(st.Attempt)
		r.Props["Attempt"] = string(b)
	}
	return r, nil
}

// outgoing collects an episode's messages per target, in send order.
type outgoing struct {
	order   []string
	byTgt   map[string][]*Envelope
	work    []*ActivityWork
	pending int
}

func (o *outgoing) add(target string, env *Envelope) {
	if o.byTgt == nil {
		o.byTgt = map[string][]*Envelope{}
	}
	if _, ok := o.byTgt[target]; !ok {
		o.order = append(o.order, target)
	}
	o.byTgt[target] = append(o.byTgt[target], env)
	o.pending++
}

func (o *outgoing) deliveries() []*Delivery {
	var out []*Delivery
	for _, t := range o.order {
		out = append(out, &Delivery{Target: t, Envelopes: o.byTgt[t]})
	}
	// Work goes in slices so that no single delivery outgrows an outbox row (a
	// fan-out of thousands of activities would); each item is at most inlineLimit.
	for i := 0; i < len(o.work); i += workPerDelivery {
		out = append(out, &Delivery{Work: o.work[i:min(i+workPerDelivery, len(o.work))]})
	}
	return out
}

// workPerDelivery bounds the activity work items one outbox delivery holds.
const workPerDelivery = 256

func (o *outgoing) empty() bool { return len(o.order) == 0 && len(o.work) == 0 }

func (h *Hub) entityEpisode(ctx context.Context, id string) (bool, error) {
	eid, err := durable.ParseEntityID(id)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	p, due, now, err := h.beginEpisode(ctx, id)
	if err != nil || len(due) == 0 {
		return false, err
	}
	st, err := decodeEntity(eid, p.checkpoint)
	if err != nil {
		return false, err
	}
	if !st.exists {
		st.Created = now
	}
	storedState := st.State
	if st.HasState {
		if st.State, err = h.internalize(ctx, st.State); err != nil {
			return false, err
		}
	}
	for _, r := range due {
		if r.env.Op != nil {
			if r.env.Op.Input, err = h.internalize(ctx, r.env.Op.Input); err != nil {
				return false, err
			}
		}
	}
	fn, known := h.cfg.Registry.Entity(eid.Name)

	var out outgoing
	var consumed []string
	done := make([]bool, len(due))
	limit := h.cfg.MaxInboxPerEpisode
	if limit > maxEntityBatch {
		limit = maxEntityBatch
	}
	// Careful mode, after a worker died in the middle of an episode of this entity (the
	// wake-up is a redelivery, or an attempt mark is left): apply one operation per
	// episode and mark it durably before running it, so an operation that kills the
	// worker every time is recognised and poisoned instead of blocking the entity.
	var poisoned *durable.FailureDetails
	poisonedRow := ""
	budget, _ := ctx.Value(carefulKey{}).(*carefulBudget)
	if st.Attempt != nil || budget != nil && budget.left > 0 {
		limit = 1
		if budget != nil && budget.left > 0 {
			budget.left--
		}
		if r := firstEligible(st, due); r != nil && runsUserCode(st, r.env) {
			n := 1
			if st.Attempt != nil && st.Attempt.Row == r.rk {
				n = st.Attempt.N + 1
			}
			if n > h.carefulAttempts() {
				poisonedRow = r.rk
				poisoned = &durable.FailureDetails{ErrorType: PoisonErrorType, ErrorMessage: fmt.Sprintf(
					"entity %s operation %q was given up on: the worker stopped (crash, kill or timeout) each of the %d times it was applied (maxDequeueCount %d); the entity skipped it and serves later operations",
					id, r.env.Op.Operation, n, h.cfg.MaxDequeueCount)}
			} else if err := h.markAttempt(ctx, p, st, r.rk, n, now); err != nil {
				return false, err
			}
		}
	}
	more := false
	for i := 0; i < len(due); i++ {
		if done[i] {
			continue
		}
		if len(consumed) >= limit || out.pending > 500 {
			more = true
			break
		}
		env := due[i].env
		if st.Lock != nil && env.Origin != st.Lock.Origin {
			continue // held back until the critical section ends
		}
		done[i] = true
		consumed = append(consumed, due[i].rk)
		if env.Seq > 0 && env.Sender != "" {
			if m, ok := st.Seqs[env.Sender]; ok && env.Seq <= m.Seq {
				continue // duplicate delivery
			}
			st.Seqs[env.Sender] = seqMark{Seq: env.Seq, At: now}
		}
		if env.Op == nil {
			h.log.Warn("entity message without operation dropped", "entity", id, "message", env.ID)
			continue
		}
		var poison *durable.FailureDetails
		if due[i].rk == poisonedRow {
			poison = poisoned
		}
		unlocked := h.applyEntityOp(st, env, fn, known, poison, &out, now)
		if unlocked {
			i = -1 // an unlock lets held-back messages in: rescan in arrival order
		}
	}
	if len(due) > len(consumed) && st.Lock == nil {
		more = true
	}

	if st.HasState {
		if st.State, err = h.externalize(ctx, p.pk, st.State); err != nil {
			return false, err
		}
	}
	for _, tgt := range out.order {
		for _, e := range out.byTgt[tgt] {
			if e.Op != nil {
				if e.Op.Input, err = h.externalize(ctx, p.pk, e.Op.Input); err != nil {
					return false, err
				}
			}
			if err := h.externalizeEvents(ctx, p.pk, e.Events); err != nil {
				return false, err
			}
		}
	}
	st.Attempt = nil // whatever was attempted finished (or was poisoned) in this episode
	ops := make([]storage.Op, 0, len(consumed)+4)
	cp, err := st.row(p.pk, now)
	if err != nil {
		return false, err
	}
	if st.exists {
		ops = append(ops, storage.Op{Kind: storage.OpReplace, Row: cp, ETag: st.etag})
	} else {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: cp})
	}
	for _, rk := range consumed {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: rk}})
	}
	var obRows []*storage.Row
	if !out.empty() {
		obRows, err = outboxRows(p.pk, MessageID(id, st.NextSeq), out.deliveries())
		if err != nil {
			return false, err
		}
		for _, r := range obRows {
			ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
		}
	}
	if err := h.commitBatch(ctx, p.pk, ops); err != nil {
		return false, err
	}
	crashPoint(FaultAfterCommit)
	if isRef(storedState) && !bytes.Equal(storedState, st.State) {
		h.deletePayload(ctx, storedState) // the old state's rows are garbage now
	}
	if poisoned != nil {
		h.recordPoisonedOp(ctx, id, due, poisonedRow, poisoned)
	}
	if err := h.deliverOutbox(ctx, p.pk, obRows); err != nil {
		// Committed: the outbox is delivered by whoever loads the instance next.
		return false, err
	}
	// Several rows at once means a burst: look again at once instead of waiting for a
	// (coalesced, possibly delayed) wake-up.
	return more || len(consumed) > 1, nil
}

// rearm re-wakes an instance whose next timed message is due very soon: a delayed
// wake-up may arrive a little before the due time by our clock.
func (h *Hub) rearm(ctx context.Context, id string, next, now time.Time) {
	if next.IsZero() || next.Sub(now) > time.Minute {
		return
	}
	if err := h.wake(ctx, id, next.Add(50*time.Millisecond)); err != nil {
		h.log.Warn("could not re-arm timed message", "instance", id, "err", err)
	}
}

// applyEntityOp applies one message to st; it reports whether a lock was released.
// A non-nil poison fails the operation with that failure without running it.
func (h *Hub) applyEntityOp(st *entityState, env *Envelope, fn durable.Entity, known bool, poison *durable.FailureDetails, out *outgoing, now time.Time) (unlocked bool) {
	op := env.Op
	self := st.ID.String()
	send := func(target string, e *Envelope) {
		st.NextSeq++
		e.ID = MessageID(self, st.NextSeq)
		e.Sender = self
		e.Seq = st.NextSeq
		out.add(target, e)
	}
	switch op.Kind {
	case OpLock:
		st.Lock = &lockHolder{Origin: env.Origin, TaskID: op.TaskID}
		if op.LockIndex+1 < len(op.LockSet) {
			nextOp := *op
			nextOp.LockIndex++
			send(op.LockSet[nextOp.LockIndex].String(), &Envelope{Origin: env.Origin, Op: &nextOp})
		} else {
			send(op.ReplyTo, &Envelope{TargetExec: op.ReplyExec, Events: []history.Event{{
				Type: history.EntityLockGranted, ID: -1, Timestamp: now, TaskID: op.TaskID,
			}}})
		}
		return false
	case OpUnlock:
		if st.Lock != nil && st.Lock.Origin == env.Origin {
			st.Lock = nil
			return true
		}
		return false
	}
	var result json.RawMessage
	var failure *durable.FailureDetails
	switch {
	case poison != nil:
		failure = poison
		st.Modified = now
	case !known:
		failure = &durable.FailureDetails{ErrorType: "UnknownEntity", ErrorMessage: fmt.Sprintf("no entity function named %q", st.ID.Name)}
	default:
		crashOn("operation", op.Operation, 0)
		ec := &entityContext{st: st, op: op, id: st.ID, log: h.log.With("entity", self, "operation", op.Operation), now: now}
		savedState, savedHas := st.State, st.HasState
		err := runEntity(fn, ec)
		if err != nil {
			st.State, st.HasState = savedState, savedHas
			failure = &durable.FailureDetails{ErrorType: fmt.Sprintf("%T", err), ErrorMessage: err.Error()}
			var pe *panicError
			if errors.As(err, &pe) {
				failure.ErrorType, failure.StackTrace = "panic", pe.stack
			}
		} else {
			result = ec.result
			for _, s := range ec.signals {
				send(s.target, s.env)
			}
		}
		st.Modified = now
	}
	if failure != nil && op.Kind == OpSignal {
		h.log.Warn("entity operation failed", "entity", self, "operation", op.Operation, "error", failure.ErrorMessage)
	}
	if op.Kind == OpCall && op.ReplyTo != "" {
		ev := history.Event{ID: -1, Timestamp: now, TaskID: op.TaskID}
		if failure != nil {
			ev.Type, ev.Failure = history.EntityFailed, failure
		} else {
			ev.Type, ev.Result = history.EntityCompleted, result
		}
		send(op.ReplyTo, &Envelope{TargetExec: op.ReplyExec, Events: []history.Event{ev}})
	}
	return false
}

type panicError struct {
	msg   string
	stack string
}

func (e *panicError) Error() string { return e.msg }

func runEntity(fn durable.Entity, ec *entityContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{msg: fmt.Sprintf("entity operation panicked: %v", r), stack: string(debug.Stack())}
		}
	}()
	return fn(ec)
}

type pendingSignal struct {
	target string
	env    *Envelope
}

// entityContext implements durable.EntityContext over an entityState.
type entityContext struct {
	st      *entityState
	op      *EntityOp
	id      durable.EntityID
	log     *slog.Logger
	now     time.Time
	result  json.RawMessage
	signals []pendingSignal
}

func (c *entityContext) ID() durable.EntityID { return c.id }
func (c *entityContext) Operation() string    { return c.op.Operation }
func (c *entityContext) Logger() *slog.Logger { return c.log }
func (c *entityContext) HasState() bool       { return c.st.HasState }
func (c *entityContext) GetInput(v any) error { return durable.Unmarshal(c.op.Input, v) }
func (c *entityContext) DeleteState()         { c.st.State, c.st.HasState = nil, false }
func (c *entityContext) GetState(v any) error {
	if !c.st.HasState {
		return nil
	}
	return json.Unmarshal(c.st.State, v)
}

func (c *entityContext) SetState(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("entity state is not JSON-serialisable: %w", err)
	}
	c.st.State, c.st.HasState = b, true
	return nil
}

func (c *entityContext) SetResult(v any) error {
	b, err := durable.Marshal(v)
	if err != nil {
		return fmt.Errorf("entity result is not JSON-serialisable: %w", err)
	}
	c.result = b
	return nil
}

func (c *entityContext) SignalEntity(id durable.EntityID, operation string, input any) {
	c.SignalEntityAt(id, operation, input, time.Time{})
}

func (c *entityContext) SignalEntityAt(id durable.EntityID, operation string, input any, at time.Time) {
	in, err := durable.Marshal(input)
	if err != nil {
		c.log.Error("signal input is not JSON-serialisable; signal dropped", "target", id.String(), "err", err)
		return
	}
	id = durable.NewEntityID(id.Name, id.Key)
	c.signals = append(c.signals, pendingSignal{target: id.String(), env: &Envelope{
		Origin: c.id.String(), DueAt: at.UTC(),
		Op: &EntityOp{Kind: OpSignal, Operation: operation, Input: in},
	}})
}

func (c *entityContext) StartNewOrchestration(name string, input any, instanceID string) string {
	if instanceID == "" {
		instanceID = durableUUID(c.id.String(), c.st.NextSeq+int64(len(c.signals))+1)
	}
	in, err := durable.Marshal(input)
	if err != nil {
		c.log.Error("orchestration input is not JSON-serialisable; start dropped", "err", err)
		return instanceID
	}
	c.signals = append(c.signals, pendingSignal{target: instanceID, env: &Envelope{
		Events: []history.Event{{Type: history.ExecutionStarted, ID: -1, Timestamp: c.now, Name: name, Input: in, InstanceID: instanceID}},
	}})
	return instanceID
}
