package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/entityexec"
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

// entityEpisode runs one load-apply-commit-deliver cycle of an entity. The first try
// guesses that senders it has no mark for are new (which costs no read); a conflict
// after such a guess redoes the episode with the marks read.
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
	h.proven.set(id, err == nil || errors.Is(err, storage.ErrConflict))
	return more, err
}

// entityRun is one entity episode in progress: what was loaded, the marks it decides
// duplicates with, and what its commit will hold. The episode's steps (load, careful
// mode, apply operations, build the commit, commit, deliver) all work on this value.
type entityRun struct {
	id  string
	p   *partition
	due []*inboxRow
	now time.Time
	st  *entityState
	// storedState is the state as the checkpoint holds it (perhaps a reference to
	// payload rows); loadedState is it read back, to tell whether it changed.
	storedState, loadedState json.RawMessage
	fn                       durable.Entity
	known                    bool
	limit                    int // rows plus mark writes the commit may hold
	readMarks                bool
	book                     *markBook

	consumed []string
	out      outgoing
	more     bool
	// poisoned fails the operation in poisonedRow without running it (careful mode).
	poisoned    *durable.FailureDetails
	poisonedRow string
}

// entityEpisodeOnce runs one entity episode. With readMarks, it reads the mark rows of
// the senders it applies instead of guessing they are new; guessed reports that the
// commit inserted marks for senders it took for new (a conflict may then mean one was
// not).
func (h *Hub) entityEpisodeOnce(ctx context.Context, id string, eid durable.EntityID, readMarks bool) (more, guessed bool, err error) {
	e, err := h.loadEntityRun(ctx, id, eid, readMarks)
	if err != nil || e == nil {
		return false, false, err
	}
	if err := h.enterCareful(ctx, e); err != nil {
		return false, false, err
	}
	h.applyDueOps(e)
	ops, obRows, guessed, err := h.buildEntityCommit(ctx, e)
	if err != nil {
		return false, false, err
	}
	if err := h.commitBatch(ctx, e.p.pk, ops); err != nil {
		var be *storage.BatchError
		if errors.As(err, &be) && be.Index == 0 {
			guessed = false // the checkpoint itself lost: another worker committed
		}
		return false, guessed, err
	}
	crashPoint(FaultAfterCommit)
	if isRef(e.storedState) && !bytes.Equal(e.storedState, e.st.State) {
		h.deletePayload(ctx, e.storedState) // the old state's rows are garbage now
	}
	if e.poisoned != nil {
		h.recordPoisonedOp(ctx, id, e.due, e.poisonedRow, e.poisoned)
	}
	if err := h.deliverOutbox(ctx, e.p.pk, obRows); err != nil {
		// Committed: the outbox is delivered by whoever loads the instance next.
		return false, false, err
	}
	// Several rows at once means a burst: look again at once instead of waiting for a
	// (coalesced, possibly delayed) wake-up.
	return e.more || len(e.consumed) > 1, false, nil
}

// loadEntityRun reads the entity and its due inbox rows, with large values read back
// in, and (with readMarks) the marks of the senders it may apply. It returns nil when
// nothing is due.
func (h *Hub) loadEntityRun(ctx context.Context, id string, eid durable.EntityID, readMarks bool) (*entityRun, error) {
	p, due, now, err := h.beginEpisode(ctx, id)
	if err != nil || len(due) == 0 {
		return nil, err
	}
	st, err := decodeEntity(eid, p.checkpoint)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		st.Created = now
		st.MarksSwept = now // no mark rows to walk yet
	}
	e := &entityRun{id: id, p: p, due: due, now: now, st: st, storedState: st.State, readMarks: readMarks}
	if st.HasState {
		if st.State, err = h.internalize(ctx, st.State); err != nil {
			return nil, err
		}
	}
	e.loadedState = st.State
	for _, r := range due {
		if r.env.Op != nil {
			if r.env.Op.Input, err = h.internalize(ctx, r.env.Op.Input); err != nil {
				return nil, err
			}
		}
	}
	e.fn, e.known = h.cfg.Registry.Entity(eid.Name)
	e.limit = min(h.cfg.MaxInboxPerEpisode, maxEntityBatch)
	e.book = newMarkBook(st.Recent, st.Legacy, nil)
	if readMarks {
		if e.book.read, err = h.readMarks(ctx, p.pk, uncertainSenders(e.book, st, due, e.limit)); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// applyDueOps applies the due rows in arrival order within the commit budget: rows of
// senders other than a lock holder wait, duplicates are consumed without effect, and
// an unlock lets the held-back rows in.
func (h *Hub) applyDueOps(e *entityRun) {
	st, book, due := e.st, e.book, e.due
	done := make([]bool, len(due))
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
		full := len(e.consumed) > 0 && (len(e.consumed)+len(book.order)+cost > e.limit || e.out.pending > 500)
		if full || (e.readMarks && sequenced && book.uncertain(env.Sender)) {
			e.more = true
			break
		}
		done[i] = true
		e.consumed = append(e.consumed, due[i].rk)
		if sequenced && !book.admit(env.Sender, env.Seq, e.now) {
			continue // duplicate delivery
		}
		if env.Op == nil {
			h.log.Warn("entity message without operation dropped", "entity", e.id, "message", env.ID)
			continue
		}
		var poison *durable.FailureDetails
		if due[i].rk == e.poisonedRow {
			poison = e.poisoned
		}
		if h.applyEntityOp(st, env, e.fn, e.known, poison, &e.out, e.now) {
			i = -1 // an unlock lets held-back messages in: rescan in arrival order
		}
	}
	if len(due) > len(e.consumed) && st.Lock == nil {
		e.more = true
	}
}

// buildEntityCommit assembles the episode's one transaction: the checkpoint under its
// ETag (or an insert), the consumed rows' deletes, the senders' mark writes (and old
// marks migrated, as room allows) and the outbox. Large values go out of line first.
// guessed reports mark inserts for senders taken for new.
func (h *Hub) buildEntityCommit(ctx context.Context, e *entityRun) (ops []storage.Op, obRows []*storage.Row, guessed bool, err error) {
	st, pk := e.st, e.p.pk
	if err := h.externalizeEntity(ctx, e); err != nil {
		return nil, nil, false, err
	}
	if !e.out.empty() {
		if obRows, err = outboxRows(pk, MessageID(e.id, st.NextSeq), e.out.deliveries()); err != nil {
			return nil, nil, false, err
		}
	}
	if !e.readMarks {
		h.retireMarks(ctx, pk, st, e.now)
	}
	migrate := min(maxMarkMigrations, storage.MaxBatchOps-1-len(e.consumed)-len(e.book.order)-len(obRows))
	markOps := e.book.commitOps(pk, e.now, max(migrate, 0))
	guessed = e.book.optimistic()

	st.Attempt = nil // whatever was attempted finished (or was poisoned) in this episode
	cp, err := st.row(pk, e.now)
	if err != nil {
		return nil, nil, false, err
	}
	ops = make([]storage.Op, 0, 1+len(e.consumed)+len(markOps)+len(obRows))
	if st.exists {
		ops = append(ops, storage.Op{Kind: storage.OpReplace, Row: cp, ETag: st.etag})
	} else {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: cp})
	}
	ops = append(ops, deleteOps(pk, e.consumed)...)
	ops = append(ops, markOps...)
	for _, r := range obRows {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
	}
	return ops, obRows, guessed, nil
}

// externalizeEntity moves a large state and large message values out of line. An
// unchanged state that was stored out of line keeps its reference (nothing to write).
func (h *Hub) externalizeEntity(ctx context.Context, e *entityRun) error {
	st, pk := e.st, e.p.pk
	var err error
	if st.HasState && isRef(e.storedState) && bytes.Equal(st.State, e.loadedState) {
		st.State = e.storedState
	} else if st.HasState {
		if st.State, err = h.externalize(ctx, pk, st.State); err != nil {
			return err
		}
	}
	for _, tgt := range e.out.order {
		for _, env := range e.out.byTgt[tgt] {
			if env.Op != nil {
				if env.Op.Input, err = h.externalize(ctx, pk, env.Op.Input); err != nil {
					return err
				}
			}
			if err := h.externalizeEvents(ctx, pk, env.Events); err != nil {
				return err
			}
		}
	}
	return nil
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
		_, failure = h.runEntityOp(st, op, nil, now, send) // fails as an unknown entity
	default:
		crashOn("operation", op.Operation, 0)
		result, failure = h.runEntityOp(st, op, fn, now, send)
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

// runEntityOp runs one signal or call on st with the shared pure executor (package
// entityexec, which durabletest uses too), keeps the state it leaves, and sends the
// messages the operation sent, in order. Ids of orchestrations started without one
// come from the entity's message sequence, so a re-run operation starts the same
// instance.
func (h *Hub) runEntityOp(st *entityState, op *EntityOp, fn durable.Entity, now time.Time, send func(string, *Envelope)) (json.RawMessage, *durable.FailureDetails) {
	self := st.ID.String()
	res := entityexec.Execute(fn, &entityexec.Operation{
		ID: st.ID, Name: op.Operation, Input: op.Input, State: st.State, HasState: st.HasState,
		Logger:        h.log.With("entity", self, "operation", op.Operation),
		NewInstanceID: func(n int) string { return durableUUID(self, st.NextSeq+int64(n)+1) },
	})
	st.State, st.HasState = res.State, res.HasState
	for _, s := range res.Sends {
		switch s.Kind {
		case entityexec.SendSignal:
			send(s.Entity.String(), &Envelope{Origin: self, DueAt: s.At, Op: &EntityOp{Kind: OpSignal, Operation: s.Operation, Input: s.Input}})
		case entityexec.SendStart:
			send(s.InstanceID, &Envelope{Events: []history.Event{{
				Type: history.ExecutionStarted, ID: -1, Timestamp: now, Name: s.Orchestrator, Input: s.Input, InstanceID: s.InstanceID,
			}}})
		}
	}
	return res.Result, res.Failure
}
