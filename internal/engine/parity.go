package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
	"github.com/google/uuid"
)

// This file holds the Durable Functions operations beyond the basic lifecycle: rewind,
// recursive terminate and purge, and orchestration versioning.

// ErrInstanceNotFailed refuses to rewind an instance that has not failed (DF: 412).
var ErrInstanceNotFailed = durable.ErrInstanceNotFailed

// --- rewind ---

// Rewind reopens a Failed instance, as DF's RewindAsync does: its failed activities and
// sub-orchestrations run again from the point of failure and the instance carries on.
// A failed sub-orchestration is rewound in turn (recursively). The rewind is a message
// to the instance, applied by its own episode under the usual conditional commit; the
// work to redo is sent from that episode's outbox, so a crash loses none of it.
func (h *Hub) Rewind(ctx context.Context, instanceID, reason string) error {
	s, err := h.GetStatus(ctx, instanceID, &StatusOptions{ShowHistory: true})
	if err != nil {
		return err
	}
	if s.RuntimeStatus != durable.StatusFailed {
		return fmt.Errorf("%w: %s is %s; only Failed instances can be rewound", ErrInstanceNotFailed, instanceID, s.RuntimeStatus)
	}
	if len(s.History) > 0 {
		if err := replay.CheckRewindable(s.History); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInstanceNotFailed, instanceID, err)
		}
	}
	return h.sendRewind(ctx, instanceID, reason)
}

func (h *Hub) sendRewind(ctx context.Context, instanceID, reason string) error {
	r, _ := json.Marshal(reason)
	u, err := uuid.NewV7()
	if err != nil {
		return err
	}
	ev := history.Event{Type: history.ExecutionRewound, ID: -1, Timestamp: h.now(), Input: r}
	return h.sendEnvelopes(ctx, instanceID, []*Envelope{{ID: clientSender + "|rewind|" + u.String(), Events: []history.Event{ev}}})
}

// rewinds reports whether the episode's events reopen the failed instance st.
func rewinds(st *orchState, events []history.Event) bool {
	if st.Status != durable.StatusFailed {
		return false
	}
	for _, e := range events {
		if e.Type == history.ExecutionRewound {
			return true
		}
	}
	return false
}

// rewindCount is how many times the execution has been rewound.
func rewindCount(lists ...[]history.Event) int64 {
	var n int64
	for _, l := range lists {
		for _, e := range l {
			if e.Type == history.ExecutionRewound {
				n++
			}
		}
	}
	return n
}

// rewound is the history past+newEvents as replay sees it: without what rewinds took
// out (the failures of rewound tasks), so that their work counts as outstanding.
func rewound(past, newEvents []history.Event) [][]history.Event {
	if rewindCount(past, newEvents) == 0 {
		return [][]history.Event{past, newEvents}
	}
	all := append(append(make([]history.Event, 0, len(past)+len(newEvents)), past...), newEvents...)
	return [][]history.Event{replay.RewindHistory(all)}
}

// redispatch carries out again the scheduled work a rewind reopened. Activities and
// timers are sent as when first scheduled (their completions are matched by task id,
// so a late duplicate is harmless). A sub-orchestration depends on how the child
// ended: a failed child is rewound; a child that completed or was terminated after
// the parent failed had its answer dropped, so the answer is sent again from its
// status; a running child answers by itself; a purged one is started afresh.
func (h *Hub) redispatch(ctx context.Context, id, exec, self string, evs []history.Event, out *outgoing) error {
	n := 0
	for _, a := range evs {
		switch a.Type {
		case history.TaskScheduled, history.TimerCreated:
			h.actionDelivery(id, exec, self, a, out)
			continue
		case history.SubOrchestrationCreated:
		default:
			continue
		}
		n++
		// Unique per rewind and task; no sequence deduplication (completions are
		// deduplicated by task id).
		envID := fmt.Sprintf("~rewind|%s|%d|%s", exec, a.ID, uuid.NewString())
		child, err := h.GetStatus(ctx, a.InstanceID, nil)
		switch {
		case errors.Is(err, ErrInstanceNotFound):
			start := history.Event{Type: history.ExecutionStarted, ID: -1, Timestamp: h.now(), Name: a.Name, Input: a.Input, InstanceID: a.InstanceID, Version: a.Version,
				ExecutionID: uuid.NewString(), Parent: &history.ParentInfo{InstanceID: id, ExecutionID: exec, TaskID: a.ID, Name: a.Name}}
			out.add(a.InstanceID, &Envelope{ID: envID, Events: []history.Event{start}})
		case err != nil:
			return err
		case child.RuntimeStatus == durable.StatusFailed:
			r, _ := json.Marshal("parent " + id + " rewound")
			out.add(a.InstanceID, &Envelope{ID: envID, Events: []history.Event{{Type: history.ExecutionRewound, ID: -1, Timestamp: h.now(), Input: r}}})
		case child.RuntimeStatus == durable.StatusCompleted:
			out.add(id, &Envelope{ID: envID, TargetExec: exec, Events: []history.Event{{Type: history.SubOrchestrationDone, ID: -1, Timestamp: h.now(), TaskID: a.ID, Result: child.Output}}})
		case child.RuntimeStatus == durable.StatusTerminated:
			out.add(id, &Envelope{ID: envID, TargetExec: exec, Events: []history.Event{{Type: history.SubOrchestrationFailed, ID: -1, Timestamp: h.now(), TaskID: a.ID,
				Failure: &durable.FailureDetails{ErrorType: string(durable.StatusTerminated), ErrorMessage: "sub-orchestration " + a.InstanceID + " was terminated"}}}})
		}
	}
	if n > 0 {
		h.log.Info("rewound sub-orchestrations", "instance", id, "count", n)
	}
	return nil
}

// --- recursive terminate and purge ---

// children lists the sub-orchestration instance ids of instanceID's current
// execution, from its history, with whether each has answered.
func (h *Hub) children(ctx context.Context, instanceID string) (map[string]bool, error) {
	s, err := h.GetStatus(ctx, instanceID, &StatusOptions{ShowHistory: true})
	if err != nil {
		return nil, err
	}
	answered := map[int]bool{}
	for _, e := range s.History {
		if e.Type == history.SubOrchestrationDone || e.Type == history.SubOrchestrationFailed {
			answered[e.TaskID] = true
		}
	}
	out := map[string]bool{}
	for _, e := range s.History {
		if e.Type == history.SubOrchestrationCreated {
			out[e.InstanceID] = out[e.InstanceID] || answered[e.ID]
		}
	}
	return out, nil
}

// TerminateRecursive terminates instanceID and then every sub-orchestration it still
// waits for, depth first (DF's recursive terminate). The parent goes first so it
// starts no new children; children that finished meanwhile are skipped.
func (h *Hub) TerminateRecursive(ctx context.Context, instanceID, reason string) error {
	kids, err := h.children(ctx, instanceID)
	if err != nil {
		return err
	}
	if err := h.Terminate(ctx, instanceID, reason); err != nil {
		return err
	}
	for kid, answered := range kids {
		if answered {
			continue
		}
		err := h.TerminateRecursive(ctx, kid, reason)
		if err != nil && !errors.Is(err, ErrInstanceFinished) && !errors.Is(err, ErrInstanceNotFound) {
			return fmt.Errorf("terminate sub-orchestration %s of %s: %w", kid, instanceID, err)
		}
	}
	return nil
}

// PurgeRecursive purges instanceID and every sub-orchestration its history names,
// recursively; it returns the number of instances deleted. Children go first, so an
// interrupted purge can be repeated: the parent still names what is left. Every
// instance of the tree must have finished (ErrInstanceNotFinished otherwise).
func (h *Hub) PurgeRecursive(ctx context.Context, instanceID string) (int, error) {
	kids, err := h.children(ctx, instanceID)
	if errors.Is(err, ErrInstanceNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s, err := h.GetStatus(ctx, instanceID, nil)
	if err != nil {
		return 0, err
	}
	if !s.RuntimeStatus.IsTerminal() {
		return 0, fmt.Errorf("%w: %s is %s; only Completed, Failed or Terminated instances can be purged", ErrInstanceNotFinished, instanceID, s.RuntimeStatus)
	}
	total := 0
	for kid := range kids {
		n, err := h.PurgeRecursive(ctx, kid)
		total += n
		if err != nil {
			return total, fmt.Errorf("purge sub-orchestration %s of %s: %w", kid, instanceID, err)
		}
	}
	n, err := h.Purge(ctx, instanceID)
	return total + n, err
}

// --- versioning ---

// VersionMatch is host.json extensions.durableTask.versionMatchStrategy.
type VersionMatch string

// The match strategies of Durable Functions.
const (
	// VersionMatchNone processes every instance whatever its version.
	VersionMatchNone VersionMatch = "None"
	// VersionMatchStrict processes only instances of exactly the worker's version.
	VersionMatchStrict VersionMatch = "Strict"
	// VersionMatchCurrentOrOlder processes instances of the worker's version or older
	// (the default).
	VersionMatchCurrentOrOlder VersionMatch = "CurrentOrOlder"
)

// VersionFailure is host.json extensions.durableTask.versionFailureStrategy.
type VersionFailure string

// The failure strategies of Durable Functions.
const (
	// VersionReject leaves a mismatching instance's messages for another worker and
	// looks again later (the default).
	VersionReject VersionFailure = "Reject"
	// VersionFail fails a mismatching instance.
	VersionFail VersionFailure = "Fail"
)

// Versioning is the orchestration versioning configuration of a worker.
type Versioning struct {
	// DefaultVersion is given to instances started without a version, and is the
	// worker's own version for matching. Empty turns matching off.
	DefaultVersion  string
	MatchStrategy   VersionMatch   // "" means CurrentOrOlder
	FailureStrategy VersionFailure // "" means Reject
}

// rejectRetry is how long a rejected instance waits before it is looked at again
// (by this worker or, more usefully, one running its version).
const rejectRetry = 30 * time.Second

// checkVersion applies the match strategy to st's version.
func (h *Hub) checkVersion(st *orchState) error {
	v := h.cfg.Versioning
	if v.DefaultVersion == "" || v.MatchStrategy == VersionMatchNone {
		return nil
	}
	c := CompareVersions(st.Version, v.DefaultVersion)
	switch v.MatchStrategy {
	case VersionMatchStrict:
		if c != 0 {
			return fmt.Errorf("orchestration version %q does not match this worker's version %q (versionMatchStrategy Strict)", st.Version, v.DefaultVersion)
		}
	default:
		if c > 0 {
			return fmt.Errorf("orchestration version %q is newer than this worker's version %q (versionMatchStrategy CurrentOrOlder)", st.Version, v.DefaultVersion)
		}
	}
	return nil
}

func (h *Hub) rejectVersion(ctx context.Context, id string, cause error) error {
	h.log.Warn("orchestration rejected by version; retrying later", "instance", id, "err", cause, "retryIn", rejectRetry)
	return h.wakeAfter(ctx, id, rejectRetry)
}

// CompareVersions orders orchestration versions as Durable Functions does: empty
// versions are equal and older than any other; two versions that parse as dotted
// numbers (System.Version: 2 to 4 parts, or a plain number) compare numerically; else
// case-insensitive string order.
func CompareVersions(a, b string) int {
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if oka && okb {
		for i := range max(len(pa), len(pb)) {
			x, y := -1, -1 // a missing component is less than 0, as in System.Version
			if i < len(pa) {
				x = pa[i]
			}
			if i < len(pb) {
				y = pb[i]
			}
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return nil, false
	}
	out := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
