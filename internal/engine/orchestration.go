package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
	"github.com/durablego/durablefunctions/internal/storage"
)

// orchState is an orchestration's checkpoint row, decoded.
type orchState struct {
	Name         string
	InstanceID   string
	ExecutionID  string
	Status       durable.RuntimeStatus
	Created      time.Time
	Updated      time.Time
	Input        json.RawMessage
	Output       json.RawMessage
	CustomStatus json.RawMessage
	Failure      *durable.FailureDetails
	Parent       *history.ParentInfo
	Version      string
	HistRows     int64
	Seqs         map[string]seqMark
	// RedriveAt is when the sweep sends the instance's outstanding activity work again
	// if nothing has happened by then (zero: no activity outstanding); Redrives counts
	// the re-drives since the last episode, for back-off.
	RedriveAt time.Time
	Redrives  int64
	etag      string
	exists    bool
}

func decodeOrch(id string, row *storage.Row) (*orchState, error) {
	st := &orchState{InstanceID: id, Seqs: map[string]seqMark{}}
	if row == nil {
		return st, nil
	}
	st.exists = true
	st.etag = row.ETag
	st.Name = row.String("Name")
	st.ExecutionID = row.String("ExecutionID")
	st.Status = durable.RuntimeStatus(row.String("Status"))
	st.Created = row.Time("Created")
	st.Updated = row.Time("Updated")
	st.Input = nilIfEmpty(storage.GetChunked(row, "Input"))
	st.Output = nilIfEmpty(storage.GetChunked(row, "Output"))
	st.CustomStatus = nilIfEmpty(storage.GetChunked(row, "CustomStatus"))
	st.HistRows = row.Int("HistRows")
	st.RedriveAt = row.Time("RedriveAt")
	st.Redrives = row.Int("Redrives")
	st.Version = row.String("Version")
	if s := row.String("Failure"); s != "" {
		st.Failure = &durable.FailureDetails{}
		if err := json.Unmarshal([]byte(s), st.Failure); err != nil {
			return nil, fmt.Errorf("instance %s: corrupt failure: %w", id, err)
		}
	}
	if s := row.String("Parent"); s != "" {
		st.Parent = &history.ParentInfo{}
		if err := json.Unmarshal([]byte(s), st.Parent); err != nil {
			return nil, fmt.Errorf("instance %s: corrupt parent: %w", id, err)
		}
	}
	if b := storage.GetChunked(row, "Seqs"); len(b) > 0 {
		if err := json.Unmarshal(b, &st.Seqs); err != nil {
			return nil, fmt.Errorf("instance %s: corrupt sequence marks: %w", id, err)
		}
	}
	return st, nil
}

func nilIfEmpty(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (st *orchState) row(pk string) (*storage.Row, error) {
	r := &storage.Row{PartitionKey: pk, RowKey: checkpointRK, Props: map[string]any{
		"Kind":        "orchestration",
		"Name":        st.Name,
		"InstanceID":  st.InstanceID,
		"ExecutionID": st.ExecutionID,
		"Status":      string(st.Status),
		"Created":     st.Created,
		"Updated":     st.Updated,
		"HistRows":    st.HistRows,
	}}
	if st.Version != "" {
		r.Props["Version"] = st.Version
	}
	for name, v := range map[string]json.RawMessage{"Input": st.Input, "Output": st.Output, "CustomStatus": st.CustomStatus} {
		if len(v) > 0 {
			if err := storage.SetChunked(r.Props, name, v); err != nil {
				return nil, fmt.Errorf("instance %s %s: %w", st.InstanceID, strings.ToLower(name), err)
			}
		}
	}
	if st.Failure != nil {
		b, _ := json.Marshal(st.Failure)
		r.Props["Failure"] = string(b)
	}
	if st.Parent != nil {
		b, _ := json.Marshal(st.Parent)
		r.Props["Parent"] = string(b)
	}
	if len(st.Seqs) > 0 {
		b, _ := json.Marshal(st.Seqs)
		if err := storage.SetChunked(r.Props, "Seqs", b); err != nil {
			return nil, err
		}
	}
	if !st.RedriveAt.IsZero() && (st.Status == durable.StatusRunning || st.Status == durable.StatusSuspended) {
		r.Props["RedriveAt"] = st.RedriveAt
		if st.Redrives > 0 {
			r.Props["Redrives"] = st.Redrives
		}
	}
	return r, nil
}

// acceptsStart reports whether a new execution may begin: DF lets a start reuse the id
// of an instance that has finished.
func (st *orchState) acceptsStart(exec string) bool {
	if !st.exists {
		return true
	}
	if st.Status == durable.StatusPending {
		return exec == "" || exec == st.ExecutionID
	}
	if exec != "" && exec == st.ExecutionID {
		return false // the same start delivered twice
	}
	return st.Status.IsTerminal() || st.Status == durable.StatusContinuedAsNew
}

// maxOrchestrationBatch bounds the inbox rows of one episode so that its commit
// (checkpoint, history rows, consumed rows, outbox rows, some garbage deletes) stays
// within the 100-operation batch limit.
const maxOrchestrationBatch = 60

func historyRK(exec string, n int64) string { return fmt.Sprintf("%s%s|%06d", historyPfx, exec, n) }

// historyEvents decodes the history rows of execution exec, in order.
func historyEvents(p *partition, exec string) ([]history.Event, []*storage.Row, error) {
	prefix := historyPfx + exec + "|"
	var events []history.Event
	var stale []*storage.Row
	for _, r := range p.history {
		if !strings.HasPrefix(r.RowKey, prefix) {
			stale = append(stale, r)
			continue
		}
		var evs []history.Event
		if err := json.Unmarshal(storage.GetChunked(r, "Events"), &evs); err != nil {
			return nil, nil, fmt.Errorf("history row %s: %w", r.RowKey, err)
		}
		events = append(events, evs...)
	}
	return events, stale, nil
}

// historyRows packs new events into as few rows as their size allows.
func historyRows(pk, exec string, first int64, events []history.Event) ([]*storage.Row, error) {
	var rows []*storage.Row
	var cur []history.Event
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		r := &storage.Row{PartitionKey: pk, RowKey: historyRK(exec, first+int64(len(rows))), Props: map[string]any{}}
		if err := storage.SetChunked(r.Props, "Events", b); err != nil {
			return err
		}
		rows = append(rows, r)
		cur, size = nil, 0
		return nil
	}
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if len(b) > storage.MaxChunkedBytes-16 {
			return nil, fmt.Errorf("history event %s is %d bytes, more than the %d supported", e.Type, len(b), storage.MaxChunkedBytes)
		}
		if size+len(b)+1 > storage.MaxChunkedBytes-16 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, e)
		size += len(b) + 1
	}
	return rows, flush()
}

// orchEpisode is one orchestration episode in progress: what was loaded, the inbox
// rows it chose, the replay's result and what its commit will hold. The episode is
// split into steps (choose rows, prepare the execution, replay, record the result,
// plan deliveries, build the commit) that all work on this one value.
type orchEpisode struct {
	id  string
	p   *partition
	due []*inboxRow
	now time.Time
	st  *orchState

	consumed  []string        // inbox rows the commit deletes
	newEvents []history.Event // what the rows carry, for the replay
	start     *history.Event  // a new execution's start, if one was accepted
	past      []history.Event // the running execution's history
	garbage   []storage.Op    // deletes of stale history rows, within a small budget
	more      bool            // rows were left for another episode
	held      bool            // rows skipped while suspended: look again once resumed
	suspended bool

	res *replay.Result
	out outgoing

	hrows []*storage.Row // the history rows the commit adds
}

// orchestrationEpisode runs one load-apply-commit-deliver cycle of an orchestration;
// more reports that it should run again soon (rows were left, or a burst is going on).
func (h *Hub) orchestrationEpisode(ctx context.Context, id string) (bool, error) {
	p, due, now, err := h.beginEpisode(ctx, id)
	if err != nil || len(due) == 0 {
		return false, err
	}
	st, err := decodeOrch(id, p.checkpoint)
	if err != nil {
		return false, err
	}
	e := &orchEpisode{id: id, p: p, due: due, now: now, st: st, suspended: st.Status == durable.StatusSuspended}
	h.chooseOrchRows(e)
	if len(e.consumed) == 0 {
		return e.more, nil
	}
	if done, err := h.prepareExecution(ctx, e); done || err != nil {
		return e.more, err
	}
	if done, err := h.replayOrch(ctx, e); done || err != nil {
		return false, err
	}
	if err := h.externalizeOrchResult(ctx, e); err != nil {
		return false, h.failTooLarge(ctx, p, st, e.consumed, err)
	}
	e.recordResult()
	if err := h.planOrchDeliveries(ctx, e); err != nil {
		return false, err
	}
	ops, obRows, err := h.buildOrchCommit(e)
	if err != nil {
		return false, h.failTooLarge(ctx, p, st, e.consumed, err)
	}
	etag, err := h.commitBatchETag(ctx, p.pk, ops)
	if err != nil {
		return false, err
	}
	settle(ctx)
	h.finishing(id)
	crashPoint(FaultAfterCommit)
	if err := h.deliverOutbox(ctx, p.pk, obRows); err != nil {
		return false, err
	}
	h.keepOrchSession(e, ops[0].Row, etag, e.hrows, e.garbage)
	return e.more || len(e.consumed) > 1 || (e.held && st.Status != durable.StatusSuspended), nil
}

// chooseOrchRows picks the inbox rows of this episode, within the commit budget, and
// turns them into history events. It drops duplicates (per-sender sequence marks),
// events for executions that no longer run, and starts the instance does not accept;
// a suspended instance takes only the rows that could end its suspension, and one
// episode takes at most one execution start.
func (h *Hub) chooseOrchRows(e *orchEpisode) {
	st := e.st
	for _, r := range e.due {
		if len(e.consumed) >= min(h.cfg.MaxInboxPerEpisode, maxOrchestrationBatch) {
			e.more = true
			return
		}
		env := r.env
		if e.suspended && !releasesSuspension(env) {
			e.held = true
			continue // held until resumed
		}
		if e.start != nil && containsStart(env) {
			e.more = true // one execution start per episode
			return
		}
		e.consumed = append(e.consumed, r.rk)
		if env.Seq > 0 && env.Sender != "" {
			if m, ok := st.Seqs[env.Sender]; ok && env.Seq <= m.Seq {
				continue
			}
			st.Seqs[env.Sender] = seqMark{Seq: env.Seq, At: e.now}
		}
		h.takeEvents(e, env)
	}
}

// takeEvents adds the events of one admitted message to the episode.
func (h *Hub) takeEvents(e *orchEpisode, env *Envelope) {
	for i := range env.Events {
		ev := env.Events[i]
		if ev.Type == history.ExecutionStarted {
			if e.st.acceptsStart(ev.ExecutionID) {
				e.start = &ev
			} else {
				h.log.Debug("duplicate or conflicting start dropped", "instance", e.id, "execution", ev.ExecutionID)
			}
			continue
		}
		targetExec := e.st.ExecutionID
		if e.start != nil {
			targetExec = e.start.ExecutionID
		}
		if env.TargetExec != "" && env.TargetExec != targetExec {
			continue // meant for an execution that no longer runs
		}
		e.newEvents = append(e.newEvents, ev)
	}
}

// prepareExecution sets up the execution the events go to: a new one for an accepted
// start, else the running one with its history. done reports that the episode ended
// here: its rows wait for a start still in flight, were dropped (an unknown
// instance), or were consumed without effect (a finished execution).
func (h *Hub) prepareExecution(ctx context.Context, e *orchEpisode) (done bool, err error) {
	st, p := e.st, e.p
	if e.start != nil {
		e.beginExecution()
		return false, nil
	}
	if !st.exists || st.Status == durable.StatusPending {
		e.more = false
		// Messages for an instance that never started (or whose start is still in
		// flight): keep them for the start to find.
		if st.exists || hasStartPending(e.due) {
			return true, nil
		}
		h.log.Warn("messages for unknown instance dropped", "instance", e.id, "count", len(e.consumed))
		// Their large values were copied here on delivery: they go too.
		payloads := map[string]int{}
		for _, r := range e.due[:len(e.consumed)] {
			envelopePayloads(p.pk, []*Envelope{r.env}, payloads)
		}
		ops, err := p.inboxOps(e.consumed)
		if err != nil {
			return true, err
		}
		dels := payloadDeleteOps(p.pk, payloads)
		for _, op := range ops {
			if op.Kind == storage.OpDelete {
				dels = append(dels, op)
			}
		}
		if err := h.deleteRows(ctx, p.pk, dels); err != nil {
			return true, err
		}
		settle(ctx) // rows only in memory are dropped by not storing them
		return true, nil
	}
	var stale []*storage.Row
	if e.past, stale, err = historyEvents(p, st.ExecutionID); err != nil {
		return true, err
	}
	e.collectGarbage(stale)
	if (st.Status.IsTerminal() || st.Status == durable.StatusContinuedAsNew) && !rewinds(st, e.newEvents) {
		// Late messages for a finished execution: consume them, change nothing else.
		return true, h.commitOnlyConsumed(ctx, p, st, e.consumed, e.garbage)
	}
	return false, nil
}

// beginExecution resets the checkpoint for the execution an accepted start begins.
func (e *orchEpisode) beginExecution() {
	st, start := e.st, e.start
	if start.ExecutionID == "" {
		start.ExecutionID = durableUUID(e.id+"|start", e.now.UnixNano())
	}
	start.InstanceID = e.id
	// The previous execution's history is garbage now.
	e.collectGarbage(e.p.history)
	if !st.exists {
		st.Created = e.now
	}
	st.Name = start.Name
	st.ExecutionID = start.ExecutionID
	st.Input = start.Input
	st.Output, st.Failure, st.CustomStatus = nil, nil, nil
	st.Parent = start.Parent
	st.Version = start.Version
	st.HistRows = 0
	st.Status = durable.StatusRunning
	e.newEvents = append([]history.Event{*start}, e.newEvents...)
}

// collectGarbage deletes history rows of old executions as the commit has room: at
// most 10 per episode, the rest go in later episodes.
func (e *orchEpisode) collectGarbage(rows []*storage.Row) {
	for _, r := range rows {
		if len(e.garbage) < 10 {
			e.garbage = append(e.garbage, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: e.p.pk, RowKey: r.RowKey}})
		}
	}
}

// replayOrch runs the orchestrator over its history and the new events (large values
// read back in first); an orchestrator nobody registered, or of a version this worker
// does not run (with the Fail strategy), fails the instance. done reports that the
// episode ended here: the version is rejected and the messages are left for another
// worker.
func (h *Hub) replayOrch(ctx context.Context, e *orchEpisode) (done bool, err error) {
	st := e.st
	e.newEvents = append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: e.now}}, e.newEvents...)
	if err := h.internalizeEvents(ctx, e.past); err != nil {
		return true, err
	}
	if err := h.internalizeEvents(ctx, e.newEvents); err != nil {
		return true, err
	}
	versionErr := h.checkVersion(st)
	if versionErr != nil && h.cfg.Versioning.FailureStrategy != VersionFail {
		// Reject: leave the messages for a worker that runs a matching version.
		return true, h.rejectVersion(ctx, e.id, versionErr)
	}
	if fn, ok := h.cfg.Registry.Orchestrator(st.Name); ok && versionErr == nil {
		e.res = replay.Execute(fn, e.past, e.newEvents, replay.Options{Logger: h.log.With("instance", e.id, "orchestrator", st.Name)})
	} else if versionErr != nil {
		e.res = failedResult(e.newEvents, e.now, &durable.FailureDetails{ErrorType: "VersionMismatch", ErrorMessage: versionErr.Error()})
	} else {
		e.res = failedResult(e.newEvents, e.now, &durable.FailureDetails{ErrorType: "UnknownOrchestrator", ErrorMessage: fmt.Sprintf("no orchestrator named %q is registered", st.Name)})
	}
	return false, nil
}

// externalizeOrchResult moves large values the episode produced out of line before
// anything refers to them. An error means the episode cannot be stored.
func (h *Hub) externalizeOrchResult(ctx context.Context, e *orchEpisode) error {
	res, pk := e.res, e.p.pk
	for _, evs := range [][]history.Event{res.NewEvents, res.Actions, res.CarryOverEvents} {
		if err := h.externalizeEvents(ctx, pk, evs); err != nil {
			return err
		}
	}
	var err error
	for _, f := range []*json.RawMessage{&res.Output, &res.CustomStatus, &res.ContinueAsNewInput} {
		if *f, err = h.externalize(ctx, pk, *f); err != nil {
			return err
		}
	}
	return nil
}

// recordResult moves the replay's outcome into the checkpoint: status (Suspended
// while suspended), custom status, and output or failure once the execution ended.
func (e *orchEpisode) recordResult() {
	st, res := e.st, e.res
	st.Updated = e.now
	st.Status = res.Status
	if res.CustomStatus != nil {
		st.CustomStatus = res.CustomStatus
	}
	if res.Status == durable.StatusRunning {
		for _, ev := range res.NewEvents {
			switch ev.Type {
			case history.ExecutionSuspended:
				e.suspended = true
			case history.ExecutionResumed:
				e.suspended = false
			}
		}
		if e.suspended {
			st.Status = durable.StatusSuspended
		}
	}
	if res.Status.IsTerminal() || res.Status == durable.StatusContinuedAsNew {
		st.Output, st.Failure = res.Output, res.Failure
	} else {
		st.Output, st.Failure = nil, nil // a rewound instance runs again
	}
}

// planOrchDeliveries turns the episode's actions into messages: the scheduled work,
// work a rewind sends again, the parent's completion when a sub-orchestration ends,
// and the next execution's start on continue-as-new.
func (h *Hub) planOrchDeliveries(ctx context.Context, e *orchEpisode) error {
	st, res, id, now := e.st, e.res, e.id, e.now
	exec := st.ExecutionID
	self := id + "|" + exec
	for _, a := range res.Actions {
		h.actionDelivery(id, exec, self, a, &e.out)
	}
	if err := h.redispatch(ctx, id, exec, self, res.Redispatch, &e.out); err != nil {
		return err
	}
	if res.Status.IsTerminal() && st.Parent != nil {
		ev := history.Event{ID: -1, Timestamp: now, TaskID: st.Parent.TaskID}
		if res.Status == durable.StatusCompleted {
			ev.Type, ev.Result = history.SubOrchestrationDone, res.Output
		} else {
			ev.Type = history.SubOrchestrationFailed
			ev.Failure = res.Failure
			if ev.Failure == nil {
				ev.Failure = &durable.FailureDetails{ErrorType: string(res.Status), ErrorMessage: "sub-orchestration " + string(res.Status)}
			}
		}
		// Each rewind ends the execution once more: a new sequence number, or the parent
		// would drop the new outcome as a duplicate of the failure.
		seq := int64(1<<40) + rewindCount(e.past, res.NewEvents)
		e.out.add(st.Parent.InstanceID, &Envelope{ID: MessageID(self, seq), Sender: self, Seq: seq, TargetExec: st.Parent.ExecutionID, Events: []history.Event{ev}})
	}
	if res.Status == durable.StatusContinuedAsNew {
		nextExec := durableUUID(self+"|continue", 0)
		evs := []history.Event{{Type: history.ExecutionStarted, ID: -1, Timestamp: now, Name: st.Name, Input: res.ContinueAsNewInput, InstanceID: id, ExecutionID: nextExec, Parent: st.Parent, Version: st.Version}}
		evs = append(evs, res.CarryOverEvents...)
		e.out.add(id, &Envelope{ID: MessageID(self, 1<<41), Events: evs})
		e.more = true
	}
	return nil
}

// buildOrchCommit assembles the episode's one transaction: the checkpoint under its
// ETag (or an insert for a new instance), garbage deletes, the new history rows, the
// consumed inbox rows' deletes and the outbox. It returns the outbox rows to deliver
// after the commit; an error means the episode cannot be stored.
func (h *Hub) buildOrchCommit(e *orchEpisode) ([]storage.Op, []*storage.Row, error) {
	st, pk := e.st, e.p.pk
	exec := st.ExecutionID
	// The sweep's cue for work that only a queue held and that was lost (see Sweep).
	st.RedriveAt, st.Redrives = time.Time{}, 0
	if (st.Status == durable.StatusRunning || st.Status == durable.StatusSuspended) && len(pendingActivities(rewound(e.past, e.res.NewEvents)...)) > 0 {
		st.RedriveAt = e.now.Add(h.cfg.RedriveAfter)
	}
	hrows, err := historyRows(pk, exec, st.HistRows, e.res.NewEvents)
	if err != nil {
		return nil, nil, err
	}
	st.HistRows += int64(len(hrows))
	e.hrows = hrows
	cp, err := st.row(pk)
	if err != nil {
		return nil, nil, err
	}
	ops := []storage.Op{{Kind: storage.OpInsert, Row: cp}}
	if st.exists {
		ops[0] = storage.Op{Kind: storage.OpReplace, Row: cp, ETag: st.etag}
	}
	ops = append(ops, e.garbage...)
	for _, r := range hrows {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
	}
	inbox, err := e.p.inboxOps(e.consumed)
	if err != nil {
		return nil, nil, err
	}
	ops = append(ops, inbox...)
	var obRows []*storage.Row
	if !e.out.empty() {
		if obRows, err = outboxRows(pk, fmt.Sprintf("%s|%06d", exec, st.HistRows), e.out.deliveries()); err != nil {
			return nil, nil, err
		}
		for _, r := range obRows {
			ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
		}
	}
	return ops, obRows, nil
}

func deleteOps(pk string, rks []string) []storage.Op {
	ops := make([]storage.Op, 0, len(rks))
	for _, rk := range rks {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: pk, RowKey: rk}})
	}
	return ops
}

func releasesSuspension(env *Envelope) bool {
	for _, e := range env.Events {
		if e.Type == history.ExecutionResumed || e.Type == history.ExecutionTerminated || e.Type == history.ExecutionSuspended {
			return true
		}
	}
	return false
}

func containsStart(env *Envelope) bool {
	for _, e := range env.Events {
		if e.Type == history.ExecutionStarted {
			return true
		}
	}
	return false
}

func hasStartPending(rows []*inboxRow) bool {
	for _, r := range rows {
		if containsStart(r.env) {
			return true
		}
	}
	return false
}

// commitOnlyConsumed removes late messages of a finished instance under the checkpoint's ETag.
func (h *Hub) commitOnlyConsumed(ctx context.Context, p *partition, st *orchState, consumed []string, extra []storage.Op) error {
	cp, err := st.row(p.pk)
	if err != nil {
		return err
	}
	inbox, err := p.inboxOps(consumed)
	if err != nil {
		return err
	}
	ops := append([]storage.Op{{Kind: storage.OpReplace, Row: cp, ETag: st.etag}}, extra...)
	if err := h.commitBatch(ctx, p.pk, append(ops, inbox...)); err != nil {
		return err
	}
	settle(ctx)
	return nil
}

// failTooLarge fails an instance whose episode cannot be stored (a payload over the
// row limits) rather than retrying it forever.
func (h *Hub) failTooLarge(ctx context.Context, p *partition, st *orchState, consumed []string, cause error) error {
	h.log.Error("orchestration failed: episode too large to store", "instance", st.InstanceID, "err", cause)
	st.Status = durable.StatusFailed
	st.Failure = &durable.FailureDetails{ErrorType: "PayloadTooLarge", ErrorMessage: cause.Error()}
	st.Output = nil
	st.Updated = h.now()
	cp, err := st.row(p.pk)
	if err != nil {
		return err
	}
	kind := storage.OpReplace
	if !st.exists {
		kind = storage.OpInsert
	}
	inbox, err := p.inboxOps(consumed)
	if err != nil {
		return err
	}
	if err := h.commitBatch(ctx, p.pk, append([]storage.Op{{Kind: kind, Row: cp, ETag: st.etag}}, inbox...)); err != nil {
		return err
	}
	settle(ctx)
	return nil
}

func failedResult(newEvents []history.Event, now time.Time, f *durable.FailureDetails) *replay.Result {
	evs := append([]history.Event{}, newEvents...)
	evs = append(evs, history.Event{Type: history.ExecutionCompleted, ID: -1, Timestamp: now, Status: durable.StatusFailed, Failure: f})
	return &replay.Result{NewEvents: evs, Status: durable.StatusFailed, Failure: f}
}

// actionDelivery turns a scheduling event into the message that carries it out.
func (h *Hub) actionDelivery(id, exec, self string, a history.Event, out *outgoing) {
	seq := int64(a.ID) + 1
	env := &Envelope{ID: MessageID(self, seq), Sender: self, Seq: seq, Origin: self}
	switch a.Type {
	case history.TaskScheduled:
		out.work = append(out.work, &ActivityWork{Instance: id, Execution: exec, TaskID: a.ID, Name: a.Name, Input: a.Input})
	case history.TimerCreated:
		env.DueAt = a.FireAt
		env.TargetExec = exec
		env.Sender, env.Seq = "", 0 // dedup by task id, not sequence: timers are self-addressed
		env.Events = []history.Event{{Type: history.TimerFired, ID: -1, Timestamp: a.FireAt, TaskID: a.ID, FireAt: a.FireAt}}
		out.add(id, env)
	case history.SubOrchestrationCreated:
		env.Sender, env.Seq = "", 0 // the child dedups starts by execution
		env.Events = []history.Event{{Type: history.ExecutionStarted, ID: -1, Timestamp: a.Timestamp, Name: a.Name, Input: a.Input, InstanceID: a.InstanceID, Version: a.Version,
			ExecutionID: durableUUID(self+"|child", seq),
			Parent:      &history.ParentInfo{InstanceID: id, ExecutionID: exec, TaskID: a.ID, Name: a.Name}}}
		out.add(a.InstanceID, env)
	case history.EventSent:
		env.Events = []history.Event{{Type: history.EventRaised, ID: -1, Timestamp: a.Timestamp, Name: a.Name, Input: a.Input}}
		out.add(a.InstanceID, env)
	case history.EntitySignaled, history.EntityCalled, history.EntityLockRequested, history.EntityUnlockSent:
		op := &EntityOp{Operation: a.Name, Input: a.Input}
		target := ""
		if a.Entity != nil {
			target = durable.NewEntityID(a.Entity.Name, a.Entity.Key).String()
		}
		switch a.Type {
		case history.EntitySignaled:
			op.Kind = OpSignal
			env.DueAt = a.FireAt
		case history.EntityCalled:
			op.Kind, op.ReplyTo, op.ReplyExec, op.TaskID = OpCall, id, exec, a.ID
		case history.EntityLockRequested:
			op.Kind, op.ReplyTo, op.ReplyExec, op.TaskID = OpLock, id, exec, a.ID
			op.LockSet = a.LockSet
			if len(a.LockSet) == 0 {
				return
			}
			target = a.LockSet[0].String()
		case history.EntityUnlockSent:
			op.Kind = OpUnlock
		}
		env.Op = op
		out.add(target, env)
	}
}
