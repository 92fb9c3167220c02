package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
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
	// Recent caches the marks of the most recent senders (a bounded, write-through
	// copy of their mark rows; see marks.go). Legacy holds marks of the old format (all
	// senders in the checkpoint) until they are moved to rows.
	Recent map[string]seqMark
	Legacy map[string]seqMark
	// MarksSwept is when the last walk over the mark rows finished; MarksCursor is
	// where an unfinished walk goes on.
	MarksSwept  time.Time
	MarksCursor string
	Lock        *lockHolder
	NextSeq     int64
	// Attempt marks an operation being applied carefully (after a worker died during
	// an episode): if the worker dies again, the next episode finds the mark.
	Attempt  *opAttempt
	Created  time.Time
	Modified time.Time
	etag     string
	exists   bool
}

// lockHolder is the critical section that owns an entity.
type lockHolder struct {
	Origin string `json:"origin"`
	TaskID int    `json:"taskId"`
}

// opAttempt counts careful attempts to apply the operation in inbox row Row.
type opAttempt struct {
	Row string `json:"row"`
	N   int    `json:"n"`
}

// maxEntityBatch keeps an entity commit (checkpoint + consumed rows + a few outbox
// rows) within the 100-operation batch limit.
const maxEntityBatch = 90

func decodeEntity(id durable.EntityID, row *storage.Row) (*entityState, error) {
	st := &entityState{ID: id, Recent: map[string]seqMark{}, Legacy: map[string]seqMark{}}
	if row == nil {
		return st, nil
	}
	st.exists = true
	st.etag = row.ETag
	st.HasState = row.Bool("HasState")
	if st.HasState {
		st.State = json.RawMessage(storage.GetChunked(row, "State"))
	}
	var err error
	if st.Recent, err = decodeMarks(row, "Marks"); err != nil {
		return nil, fmt.Errorf("entity %s: corrupt sequence marks: %w", id, err)
	}
	if st.Legacy, err = decodeMarks(row, "Seqs"); err != nil {
		return nil, fmt.Errorf("entity %s: corrupt sequence marks: %w", id, err)
	}
	st.MarksSwept = row.Time("MarksSwept")
	st.MarksCursor = row.String("MarksCursor")
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
	pruneRecent(st.Recent, now)
	for name, marks := range map[string]map[string]seqMark{"Marks": st.Recent, "Seqs": st.Legacy} {
		if len(marks) > 0 {
			b, _ := json.Marshal(marks)
			if err := storage.SetChunked(r.Props, name, b); err != nil {
				return nil, fmt.Errorf("entity %s: %w", st.ID, err)
			}
		}
	}
	if !st.MarksSwept.IsZero() {
		r.Props["MarksSwept"] = st.MarksSwept
	}
	if st.MarksCursor != "" {
		r.Props["MarksCursor"] = st.MarksCursor
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
	more, guessed, err := h.entityEpisodeOnce(ctx, id, eid, false)
	if guessed && errors.Is(err, storage.ErrConflict) {
		// A sender taken for new may have a mark row after all (or another worker
		// committed first): go again, reading the marks instead of guessing.
		more, _, err = h.entityEpisodeOnce(ctx, id, eid, true)
	}
	return more, err
}

// entityEpisodeOnce runs one entity episode. With readMarks, it reads the mark rows of
// the senders it applies instead of guessing they are new; guessed reports that the
// commit inserted marks for senders it took for new (a conflict may then mean one was
// not).
func (h *Hub) entityEpisodeOnce(ctx context.Context, id string, eid durable.EntityID, readMarks bool) (more, guessed bool, err error) {
	p, due, now, err := h.beginEpisode(ctx, id)
	if err != nil || len(due) == 0 {
		return false, false, err
	}
	st, err := decodeEntity(eid, p.checkpoint)
	if err != nil {
		return false, false, err
	}
	if !st.exists {
		st.Created = now
		st.MarksSwept = now // no mark rows to walk yet
	}
	storedState := st.State
	if st.HasState {
		if st.State, err = h.internalize(ctx, st.State); err != nil {
			return false, false, err
		}
	}
	loadedState := st.State
	for _, r := range due {
		if r.env.Op != nil {
			if r.env.Op.Input, err = h.internalize(ctx, r.env.Op.Input); err != nil {
				return false, false, err
			}
		}
	}
	fn, known := h.cfg.Registry.Entity(eid.Name)
	limit := min(h.cfg.MaxInboxPerEpisode, maxEntityBatch)
	book := newMarkBook(st.Recent, st.Legacy, nil)
	if readMarks {
		if book.read, err = h.readMarks(ctx, p.pk, uncertainSenders(book, st, due, limit)); err != nil {
			return false, false, err
		}
	}

	var out outgoing
	var consumed []string
	done := make([]bool, len(due))
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
		if r := firstEligible(st, due); r != nil && runsUserCode(book, r.env) {
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
				return false, false, err
			}
		}
	}
	for i := 0; i < len(due); i++ {
		if done[i] {
			continue
		}
		env := due[i].env
		if st.Lock != nil && env.Origin != st.Lock.Origin {
			continue // held back until the critical section ends
		}
		sequenced := env.Seq > 0 && env.Sender != ""
		// Each row costs its delete in the commit, and a sender's first row its mark
		// (the first row of an episode always fits, whatever MaxInboxPerEpisode says).
		cost := 1
		if sequenced && book.adds(env.Sender) {
			cost = 2
		}
		full := len(consumed) > 0 && (len(consumed)+len(book.order)+cost > limit || out.pending > 500)
		if full || (readMarks && sequenced && book.uncertain(env.Sender)) {
			more = true
			break
		}
		done[i] = true
		consumed = append(consumed, due[i].rk)
		if sequenced && !book.admit(env.Sender, env.Seq, now) {
			continue // duplicate delivery
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

	if st.HasState && isRef(storedState) && bytes.Equal(st.State, loadedState) {
		st.State = storedState // unchanged: its rows are there, nothing to write or check
	} else if st.HasState {
		if st.State, err = h.externalize(ctx, p.pk, st.State); err != nil {
			return false, false, err
		}
	}
	for _, tgt := range out.order {
		for _, e := range out.byTgt[tgt] {
			if e.Op != nil {
				if e.Op.Input, err = h.externalize(ctx, p.pk, e.Op.Input); err != nil {
					return false, false, err
				}
			}
			if err := h.externalizeEvents(ctx, p.pk, e.Events); err != nil {
				return false, false, err
			}
		}
	}
	var obRows []*storage.Row
	if !out.empty() {
		obRows, err = outboxRows(p.pk, MessageID(id, st.NextSeq), out.deliveries())
		if err != nil {
			return false, false, err
		}
	}
	if !readMarks {
		h.retireMarks(ctx, p.pk, st, now)
	}
	migrate := min(maxMarkMigrations, storage.MaxBatchOps-1-len(consumed)-len(book.order)-len(obRows))
	markOps := book.commitOps(p.pk, now, max(migrate, 0))
	guessed = book.optimistic()

	st.Attempt = nil // whatever was attempted finished (or was poisoned) in this episode
	ops := make([]storage.Op, 0, 1+len(consumed)+len(markOps)+len(obRows))
	cp, err := st.row(p.pk, now)
	if err != nil {
		return false, false, err
	}
	if st.exists {
		ops = append(ops, storage.Op{Kind: storage.OpReplace, Row: cp, ETag: st.etag})
	} else {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: cp})
	}
	for _, rk := range consumed {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: rk}})
	}
	ops = append(ops, markOps...)
	for _, r := range obRows {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
	}
	if err := h.commitBatch(ctx, p.pk, ops); err != nil {
		var be *storage.BatchError
		if errors.As(err, &be) && be.Index == 0 {
			guessed = false // the checkpoint itself lost: another worker committed
		}
		return false, guessed, err
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
		return false, false, err
	}
	// Several rows at once means a burst: look again at once instead of waiting for a
	// (coalesced, possibly delayed) wake-up.
	return more || len(consumed) > 1, false, nil
}

// uncertainSenders lists the senders of the first rows an episode may apply whose
// marks the book does not know for sure.
func uncertainSenders(book *markBook, st *entityState, due []*inboxRow, limit int) []string {
	var senders []string
	seen := map[string]bool{}
	for _, r := range due {
		if len(senders) >= limit {
			break
		}
		env := r.env
		if env.Seq <= 0 || env.Sender == "" || seen[env.Sender] || (st.Lock != nil && env.Origin != st.Lock.Origin) {
			continue
		}
		seen[env.Sender] = true
		if book.uncertain(env.Sender) {
			senders = append(senders, env.Sender)
		}
	}
	return senders
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
			failure = &durable.FailureDetails{ErrorType: durable.ErrorType(err), ErrorMessage: err.Error()}
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
