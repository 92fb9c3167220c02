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

func (h *Hub) orchestrationEpisode(ctx context.Context, id string) (bool, error) {
	p, due, now, err := h.beginEpisode(ctx, id)
	if err != nil || len(due) == 0 {
		return false, err
	}
	st, err := decodeOrch(id, p.checkpoint)
	if err != nil {
		return false, err
	}

	// Pick the rows of this episode and turn them into history events.
	var consumed []string
	var newEvents []history.Event
	var start *history.Event
	more := false
	suspended := st.Status == durable.StatusSuspended
	held := false // rows skipped while suspended: look again once resumed
	for _, r := range due {
		if len(consumed) >= min(h.cfg.MaxInboxPerEpisode, maxOrchestrationBatch) {
			more = true
			break
		}
		env := r.env
		if suspended && !releasesSuspension(env) {
			held = true
			continue // held until resumed
		}
		if start != nil && containsStart(env) {
			more = true // one execution start per episode
			break
		}
		consumed = append(consumed, r.rk)
		if env.Seq > 0 && env.Sender != "" {
			if m, ok := st.Seqs[env.Sender]; ok && env.Seq <= m.Seq {
				continue
			}
			st.Seqs[env.Sender] = seqMark{Seq: env.Seq, At: now}
		}
		for i := range env.Events {
			ev := env.Events[i]
			if ev.Type == history.ExecutionStarted {
				if st.acceptsStart(ev.ExecutionID) {
					start = &ev
				} else {
					h.log.Debug("duplicate or conflicting start dropped", "instance", id, "execution", ev.ExecutionID)
				}
				continue
			}
			targetExec := st.ExecutionID
			if start != nil {
				targetExec = start.ExecutionID
			}
			if env.TargetExec != "" && env.TargetExec != targetExec {
				continue // meant for an execution that no longer runs
			}
			newEvents = append(newEvents, ev)
		}
	}
	if len(consumed) == 0 {
		return more, nil
	}

	ops := []storage.Op{}
	var past []history.Event
	if start != nil {
		if start.ExecutionID == "" {
			start.ExecutionID = durableUUID(id+"|start", now.UnixNano())
		}
		start.InstanceID = id
		// The previous execution's history is garbage now; deleted below as space allows.
		for _, r := range p.history {
			if len(ops) < 10 {
				ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.RowKey}})
			}
		}
		if !st.exists {
			st.Created = now
		}
		st.Name = start.Name
		st.ExecutionID = start.ExecutionID
		st.Input = start.Input
		st.Output, st.Failure, st.CustomStatus = nil, nil, nil
		st.Parent = start.Parent
		st.Version = start.Version
		st.HistRows = 0
		st.Status = durable.StatusRunning
		newEvents = append([]history.Event{*start}, newEvents...)
	} else {
		if !st.exists || st.Status == durable.StatusPending {
			// Messages for an instance that never started (or whose start is still
			// in flight): keep them for the start to find.
			if !st.exists && !hasStartPending(due) {
				h.log.Warn("messages for unknown instance dropped", "instance", id, "count", len(consumed))
				// Their large values were copied here on delivery: they go too.
				payloads := map[string]int{}
				for _, r := range due[:len(consumed)] {
					envelopePayloads(p.pk, []*Envelope{r.env}, payloads)
				}
				return false, h.deleteRows(ctx, p.pk, append(deleteOps(p.pk, consumed), payloadDeleteOps(p.pk, payloads)...))
			}
			return false, nil
		}
		var stale []*storage.Row
		past, stale, err = historyEvents(p, st.ExecutionID)
		if err != nil {
			return false, err
		}
		for _, r := range stale {
			if len(ops) < 10 {
				ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.RowKey}})
			}
		}
		if (st.Status.IsTerminal() || st.Status == durable.StatusContinuedAsNew) && !rewinds(st, newEvents) {
			// Late messages for a finished execution: consume them, change nothing else.
			return more, h.commitOnlyConsumed(ctx, p.pk, st, consumed, ops)
		}
	}
	newEvents = append([]history.Event{{Type: history.OrchestratorStarted, ID: -1, Timestamp: now}}, newEvents...)
	if err := h.internalizeEvents(ctx, past); err != nil {
		return false, err
	}
	if err := h.internalizeEvents(ctx, newEvents); err != nil {
		return false, err
	}

	var res *replay.Result
	versionErr := h.checkVersion(st)
	if versionErr != nil && h.cfg.Versioning.FailureStrategy != VersionFail {
		// Reject: leave the messages for a worker that runs a matching version.
		return false, h.rejectVersion(ctx, id, versionErr)
	}
	if fn, ok := h.cfg.Registry.Orchestrator(st.Name); ok && versionErr == nil {
		res = replay.Execute(fn, past, newEvents, replay.Options{Logger: h.log.With("instance", id, "orchestrator", st.Name)})
	} else if versionErr != nil {
		res = failedResult(newEvents, now, &durable.FailureDetails{ErrorType: "VersionMismatch", ErrorMessage: versionErr.Error()})
	} else {
		res = failedResult(newEvents, now, &durable.FailureDetails{ErrorType: "UnknownOrchestrator", ErrorMessage: fmt.Sprintf("no orchestrator named %q is registered", st.Name)})
	}

	// Large values produced this episode go out of line before anything refers to them.
	if err := h.externalizeEvents(ctx, p.pk, res.NewEvents); err != nil {
		return false, h.failTooLarge(ctx, p, st, consumed, err)
	}
	if err := h.externalizeEvents(ctx, p.pk, res.Actions); err != nil {
		return false, h.failTooLarge(ctx, p, st, consumed, err)
	}
	if err := h.externalizeEvents(ctx, p.pk, res.CarryOverEvents); err != nil {
		return false, h.failTooLarge(ctx, p, st, consumed, err)
	}
	for _, f := range []*json.RawMessage{&res.Output, &res.CustomStatus, &res.ContinueAsNewInput} {
		if *f, err = h.externalize(ctx, p.pk, *f); err != nil {
			return false, h.failTooLarge(ctx, p, st, consumed, err)
		}
	}
	st.Updated = now
	st.Status = res.Status
	if res.CustomStatus != nil {
		st.CustomStatus = res.CustomStatus
	}
	if res.Status == durable.StatusRunning {
		for _, ev := range res.NewEvents {
			switch ev.Type {
			case history.ExecutionSuspended:
				suspended = true
			case history.ExecutionResumed:
				suspended = false
			}
		}
		if suspended {
			st.Status = durable.StatusSuspended
		}
	}
	if res.Status.IsTerminal() || res.Status == durable.StatusContinuedAsNew {
		st.Output, st.Failure = res.Output, res.Failure
	} else {
		st.Output, st.Failure = nil, nil // a rewound instance runs again
	}

	exec := st.ExecutionID
	self := id + "|" + exec
	var out outgoing
	for _, a := range res.Actions {
		h.actionDelivery(id, exec, self, a, &out)
	}
	if err := h.redispatch(ctx, id, exec, self, res.Redispatch, &out); err != nil {
		return false, err
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
		seq := int64(1<<40) + rewindCount(past, res.NewEvents)
		out.add(st.Parent.InstanceID, &Envelope{ID: MessageID(self, seq), Sender: self, Seq: seq, TargetExec: st.Parent.ExecutionID, Events: []history.Event{ev}})
	}
	if res.Status == durable.StatusContinuedAsNew {
		nextExec := durableUUID(self+"|continue", 0)
		evs := []history.Event{{Type: history.ExecutionStarted, ID: -1, Timestamp: now, Name: st.Name, Input: res.ContinueAsNewInput, InstanceID: id, ExecutionID: nextExec, Parent: st.Parent, Version: st.Version}}
		evs = append(evs, res.CarryOverEvents...)
		out.add(id, &Envelope{ID: MessageID(self, 1<<41), Events: evs})
		more = true
	}

	// The sweep's cue for work that only a queue held and that was lost (see Sweep).
	st.RedriveAt, st.Redrives = time.Time{}, 0
	if (st.Status == durable.StatusRunning || st.Status == durable.StatusSuspended) && len(pendingActivities(rewound(past, res.NewEvents)...)) > 0 {
		st.RedriveAt = now.Add(h.cfg.RedriveAfter)
	}
	hrows, err := historyRows(p.pk, exec, st.HistRows, res.NewEvents)
	if err != nil {
		return false, h.failTooLarge(ctx, p, st, consumed, err)
	}
	st.HistRows += int64(len(hrows))
	cp, err := st.row(p.pk)
	if err != nil {
		return false, h.failTooLarge(ctx, p, st, consumed, err)
	}
	if st.exists {
		ops = append([]storage.Op{{Kind: storage.OpReplace, Row: cp, ETag: st.etag}}, ops...)
	} else {
		ops = append([]storage.Op{{Kind: storage.OpInsert, Row: cp}}, ops...)
	}
	for _, r := range hrows {
		ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
	}
	ops = append(ops, deleteOps(p.pk, consumed)...)
	var obRows []*storage.Row
	if !out.empty() {
		obRows, err = outboxRows(p.pk, fmt.Sprintf("%s|%06d", exec, st.HistRows), out.deliveries())
		if err != nil {
			return false, h.failTooLarge(ctx, p, st, consumed, err)
		}
		for _, r := range obRows {
			ops = append(ops, storage.Op{Kind: storage.OpInsert, Row: r})
		}
	}
	if err := h.commitBatch(ctx, p.pk, ops); err != nil {
		return false, err
	}
	crashPoint(FaultAfterCommit)
	if err := h.deliverOutbox(ctx, p.pk, obRows); err != nil {
		return false, err
	}
	return more || len(consumed) > 1 || (held && st.Status != durable.StatusSuspended), nil
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
func (h *Hub) commitOnlyConsumed(ctx context.Context, pk string, st *orchState, consumed []string, extra []storage.Op) error {
	cp, err := st.row(pk)
	if err != nil {
		return err
	}
	ops := append([]storage.Op{{Kind: storage.OpReplace, Row: cp, ETag: st.etag}}, extra...)
	ops = append(ops, deleteOps(pk, consumed)...)
	return h.commitBatch(ctx, pk, ops)
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
	ops := append([]storage.Op{{Kind: kind, Row: cp, ETag: st.etag}}, deleteOps(p.pk, consumed)...)
	return h.commitBatch(ctx, p.pk, ops)
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
