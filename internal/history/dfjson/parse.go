package dfjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// Execution is one execution's history rebuilt from DF JSON.
type Execution struct {
	// Name is the orchestrator's name and InstanceID the instance's id, from the
	// status body or the ExecutionStarted entry ("" when neither has it).
	Name       string
	InstanceID string
	// Events is the event stream as the replay core persisted it, minus
	// ExecutionCompleted: scheduling events re-inserted, episode markers rebuilt.
	Events []history.Event
	// End is the ExecutionCompleted event, nil while the execution runs.
	End *history.Event
}

// entry is one DF history entry; encoding/json matches field names case-insensitively,
// so DF's own spellings decode too.
type entry struct {
	EventType           string
	Timestamp           string
	EventID             *int `json:"EventId"`
	TaskScheduledID     *int `json:"TaskScheduledId"`
	TimerID             *int `json:"TimerId"`
	FunctionName        string
	ScheduledTime       string
	InstanceID          string `json:"InstanceId"`
	Input               json.RawMessage
	Result              json.RawMessage
	Name                string
	Operation           string
	EntityID            string `json:"EntityId"`
	LockSet             []string
	FireAt              string
	OrchestrationStatus string
	Reason              string
	FailureDetails      *durable.FailureDetails
}

// statusBody is the part of a management API status answer Parse uses.
type statusBody struct {
	Name          string          `json:"name"`
	InstanceID    string          `json:"instanceId"`
	Input         json.RawMessage `json:"input"`
	HistoryEvents json.RawMessage `json:"historyEvents"`
}

// item is an event of the rebuilt stream, with what placing it needs.
type item struct {
	ev     history.Event
	folded bool // a scheduling event rebuilt from its completion's entry
	noID   bool // a scheduling entry without EventId; its id is inferred
	entry  int  // index of the entry it came from (for a folded one, its completion's)
}

// Parse rebuilds an execution from the JSON of GET .../instances/{id}?showHistory=true
// (the whole status body, or its historyEvents array alone). Inputs and results are
// only there when the query had showInput=true and showHistoryOutput=true; the code
// replayed from a history without them sees empty inputs.
//
// DF's JSON folds each TaskScheduled and sub-orchestration creation into its
// completion and omits episode markers. Parse puts each folded scheduling event back
// as late as the history allows: before its completion, before the next scheduling
// event (ids are issued in order), and before any completion stamped after its
// scheduling time (the episode's time: such a completion arrived in a later episode).
// This is never before the point where the code issued it, and with the engine's
// timestamps it is exactly where the engine wrote it, so a replay of the stream flags
// a scheduling mismatch where the original would have. (Where times coincide, as on
// durabletest's clock, which stands still between timers, a folded event may land
// later, just before its own completion: mismatches of kind and name are still found,
// but a task the code now issues only later may go unnoticed.) Episode markers (which set CurrentUTCDateTime) are rebuilt
// from the scheduling events' timestamps, which are the episode's time: each episode
// is taken to start right after the previous episode's last scheduling event.
func Parse(data []byte) (*Execution, error) {
	data = bytes.TrimSpace(data)
	x := &Execution{}
	var body statusBody
	switch {
	case len(data) > 0 && data[0] == '{':
		if err := json.Unmarshal(data, &body); err != nil {
			return nil, fmt.Errorf("history: status body is not valid JSON: %w", err)
		}
		if len(body.HistoryEvents) == 0 {
			return nil, errors.New("history: the status body has no historyEvents (query with showHistory=true&showHistoryOutput=true&showInput=true)")
		}
		x.Name, x.InstanceID = body.Name, body.InstanceID
		data = body.HistoryEvents
	case len(data) > 0 && data[0] == '[':
	default:
		return nil, errors.New("history: want a status body or a JSON array of history events")
	}
	var entries []entry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("history: historyEvents is not an array of events: %w", err)
	}

	var items []item
	for i := range entries {
		its, err := decode(&entries[i], i)
		if err != nil {
			return nil, fmt.Errorf("history entry %d (%s): %w", i, entries[i].EventType, err)
		}
		items = append(items, its...)
	}
	var start *history.Event
	for i := range items {
		if items[i].ev.Type == history.ExecutionStarted {
			start = &items[i].ev
			break
		}
	}
	if start == nil {
		return nil, errors.New("history: no ExecutionStarted entry")
	}
	if x.Name == "" {
		x.Name = start.Name
	}
	if start.InstanceID == "" {
		start.InstanceID = x.InstanceID
	}
	if x.InstanceID == "" {
		x.InstanceID = start.InstanceID
	}
	if start.Input == nil && !isNull(body.Input) {
		start.Input = body.Input
	}
	start.ExecutionID = "replay"

	if err := inferIDs(items); err != nil {
		return nil, err
	}
	stream, err := place(items)
	if err != nil {
		return nil, err
	}
	for i := range stream {
		if stream[i].Type == history.ExecutionCompleted {
			end := stream[i]
			x.End = &end
			stream = slices.Delete(stream, i, i+1)
			break
		}
	}
	x.Events = episodes(stream)
	return x, nil
}

// decode turns one entry into its event, preceded by the scheduling event folded into
// it, if any.
func decode(en *entry, idx int) ([]item, error) {
	at, err := parseTime(en.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("Timestamp: %w", err)
	}
	e := history.Event{Type: history.EventType(en.EventType), ID: -1, Timestamp: at}
	var out []item
	// sched takes a scheduling entry's id, or reports that it has none to infer.
	sched := func() bool {
		if en.EventID == nil {
			return true
		}
		e.ID = *en.EventID
		return false
	}
	noID := false
	switch e.Type {
	case history.ExecutionStarted:
		e.Name, e.InstanceID, e.Input = en.FunctionName, en.InstanceID, nullToNil(en.Input)
	case history.ExecutionCompleted:
		e.Status = durable.RuntimeStatus(en.OrchestrationStatus)
		e.Result = nullToNil(en.Result)
		e.Failure = failure(en)
	case history.ExecutionTerminated, history.ExecutionSuspended, history.ExecutionResumed:
		if en.Reason != "" {
			e.Input, _ = json.Marshal(en.Reason)
		}
	case history.TaskScheduled, history.SubOrchestrationCreated:
		noID = sched()
		e.Name, e.InstanceID, e.Input = en.FunctionName, en.InstanceID, nullToNil(en.Input)
	case history.TaskCompleted, history.TaskFailed, history.SubOrchestrationDone, history.SubOrchestrationFailed:
		if en.TaskScheduledID == nil {
			return nil, errors.New("no TaskScheduledId")
		}
		e.TaskID = *en.TaskScheduledID
		e.Result, e.Failure = nullToNil(en.Result), failure(en)
		if en.FunctionName != "" && en.ScheduledTime != "" {
			st, err := parseTime(en.ScheduledTime)
			if err != nil {
				return nil, fmt.Errorf("ScheduledTime: %w", err)
			}
			typ := history.TaskScheduled
			if e.Type == history.SubOrchestrationDone || e.Type == history.SubOrchestrationFailed {
				typ = history.SubOrchestrationCreated
			}
			out = append(out, item{folded: true, entry: idx, ev: history.Event{Type: typ, ID: e.TaskID, Timestamp: st, Name: en.FunctionName, InstanceID: en.InstanceID}})
		}
	case history.TimerCreated:
		noID = sched()
		if e.FireAt, err = parseTime(en.FireAt); err != nil {
			return nil, fmt.Errorf("FireAt: %w", err)
		}
	case history.TimerFired:
		if en.TimerID == nil {
			return nil, errors.New("no TimerId")
		}
		e.TaskID = *en.TimerID
		e.FireAt, _ = parseTime(en.FireAt)
	case history.EventRaised:
		e.Name, e.Input = en.Name, nullToNil(en.Input)
	case history.EventSent:
		noID = sched()
		e.Name, e.InstanceID, e.Input = en.Name, en.InstanceID, nullToNil(en.Input)
	case history.EntitySignaled, history.EntityCalled, history.EntityUnlockSent:
		noID = sched()
		id, err := durable.ParseEntityID(en.EntityID)
		if err != nil {
			return nil, fmt.Errorf("EntityId: %w", err)
		}
		e.Entity, e.Name, e.Input = &id, en.Operation, nullToNil(en.Input)
		if en.FireAt != "" {
			e.FireAt, _ = parseTime(en.FireAt)
		}
	case history.EntityCompleted, history.EntityFailed, history.EntityLockGranted:
		if en.TaskScheduledID == nil {
			return nil, errors.New("no TaskScheduledId")
		}
		e.TaskID = *en.TaskScheduledID
		e.Result, e.Failure = nullToNil(en.Result), failure(en)
	case history.EntityLockRequested:
		noID = sched()
		for _, s := range en.LockSet {
			id, err := durable.ParseEntityID(s)
			if err != nil {
				return nil, fmt.Errorf("LockSet: %w", err)
			}
			e.LockSet = append(e.LockSet, id)
		}
	case history.OrchestratorStarted, history.CustomStatusSet:
		return nil, nil // not part of DF's shape; rebuilt from timestamps
	default:
		return nil, fmt.Errorf("unknown event type %q", en.EventType)
	}
	return append(out, item{ev: e, noID: noID, entry: idx}), nil
}

// inferIDs gives scheduling entries without an EventId (DF does not show one for every
// kind) the ids no other scheduling event has, in order: ids are issued in history
// order, so the gaps fall to them in turn.
func inferIDs(items []item) error {
	used := map[int]bool{}
	for i := range items {
		if !isScheduling(items[i].ev.Type) {
			continue
		}
		if !items[i].noID {
			if used[items[i].ev.ID] {
				return fmt.Errorf("history: two scheduling events with id %d", items[i].ev.ID)
			}
			used[items[i].ev.ID] = true
		}
	}
	next := 0
	for i := range items {
		if !items[i].noID {
			continue
		}
		for used[next] {
			next++
		}
		items[i].ev.ID = next
		used[next] = true
	}
	return nil
}

// place orders the folded scheduling events among the others: as late as possible,
// that is right before the earlier of their completion and the next scheduling event.
func place(items []item) ([]history.Event, error) {
	var kept, folded []item
	keptOf := map[int]int{}  // entry index -> index in kept
	schedAt := map[int]int{} // scheduling id -> index in kept, for kept scheduling events
	for _, it := range items {
		if it.folded {
			folded = append(folded, it)
			continue
		}
		keptOf[it.entry] = len(kept)
		if isScheduling(it.ev.Type) {
			schedAt[it.ev.ID] = len(kept)
		}
		kept = append(kept, it)
	}
	// base is the kept index a scheduling event is placed before (its own, if kept).
	base := map[int]int{}
	for id, i := range schedAt {
		base[id] = i
	}
	for _, f := range folded {
		if _, dup := base[f.ev.ID]; dup {
			return nil, fmt.Errorf("history: task %d is scheduled twice", f.ev.ID)
		}
		base[f.ev.ID] = -1
	}
	// Highest id first: the next one's place bounds this one's.
	sort.Slice(folded, func(a, b int) bool { return folded[a].ev.ID > folded[b].ev.ID })
	byBase := map[int][]history.Event{}
	for _, f := range folded {
		at := keptOf[f.entry]
		if b, ok := base[f.ev.ID+1]; ok && b < at {
			at = b
		}
		// A completion stamped after this scheduling event's episode time arrived in a
		// later episode (events are stamped before the episode that takes them).
		for i := 0; i < at; i++ {
			if c := kept[i].ev; c.IsCompletion() && c.Timestamp.After(f.ev.Timestamp) {
				at = i
				break
			}
		}
		base[f.ev.ID] = at
		byBase[at] = append(byBase[at], f.ev)
	}
	out := make([]history.Event, 0, len(items))
	for i := range kept {
		fs := byBase[i]
		slices.Reverse(fs) // collected highest id first
		out = append(out, fs...)
		out = append(out, kept[i].ev)
	}
	// Every scheduling event must precede its completion, or the replay drops it.
	seen := map[int]bool{}
	for _, e := range out {
		if isScheduling(e.Type) {
			seen[e.ID] = true
		} else if e.IsCompletion() && !seen[e.TaskID] {
			return nil, fmt.Errorf("history: %s of task %d, which the history never schedules", e.Type, e.TaskID)
		}
	}
	return out, nil
}

// episodes inserts the OrchestratorStarted markers: one per distinct time of the
// scheduling events (and of the end), placed right after the last scheduling event of
// the previous episode, and one before ExecutionStarted.
func episodes(stream []history.Event) []history.Event {
	type mark struct {
		at   int // insert before stream[at]
		when time.Time
	}
	var marks []mark
	var cur time.Time
	after := 0 // index right after the last marker seen
	for i, e := range stream {
		if !isScheduling(e.Type) && e.Type != history.ExecutionCompleted {
			continue
		}
		if e.Timestamp.After(cur) {
			marks = append(marks, mark{at: after, when: e.Timestamp})
			cur = e.Timestamp
		}
		after = i + 1
	}
	out := make([]history.Event, 0, len(stream)+len(marks)+1)
	if len(marks) == 0 || marks[0].at != 0 {
		first := time.Time{}
		if len(stream) > 0 {
			first = stream[0].Timestamp
		}
		out = append(out, history.Event{Type: history.OrchestratorStarted, ID: -1, Timestamp: first})
	}
	m := 0
	for i, e := range stream {
		for m < len(marks) && marks[m].at == i {
			out = append(out, history.Event{Type: history.OrchestratorStarted, ID: -1, Timestamp: marks[m].when})
			m++
		}
		out = append(out, e)
	}
	for ; m < len(marks); m++ {
		out = append(out, history.Event{Type: history.OrchestratorStarted, ID: -1, Timestamp: marks[m].when})
	}
	return out
}

func failure(en *entry) *durable.FailureDetails {
	if en.FailureDetails != nil {
		return en.FailureDetails
	}
	if en.Reason != "" && (en.EventType == string(history.TaskFailed) || en.EventType == string(history.SubOrchestrationFailed) ||
		en.EventType == string(history.EntityFailed) || en.OrchestrationStatus == string(durable.StatusFailed)) {
		return &durable.FailureDetails{ErrorMessage: en.Reason}
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

func nullToNil(b json.RawMessage) json.RawMessage {
	if isNull(b) {
		return nil
	}
	return b
}

func isScheduling(t history.EventType) bool {
	switch t {
	case history.TaskScheduled, history.TimerCreated, history.SubOrchestrationCreated, history.EventSent,
		history.EntitySignaled, history.EntityCalled, history.EntityLockRequested, history.EntityUnlockSent:
		return true
	}
	return false
}
