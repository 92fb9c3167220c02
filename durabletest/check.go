package durabletest

import (
	"bytes"
	"fmt"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/replay"
)

// selfCheck replays the history an episode just persisted, with nothing new: it must
// end where the episode did, with no action and the same outcome. Code that decides
// differently on replay (reads the wall clock, iterates a map, branches on
// IsReplaying) fails here, in the unit test, rather than in production at its next
// episode.
func selfCheck(fn durable.Orchestrator, hist []history.Event, got *replay.Result) error {
	past, end := splitEnd(hist)
	if got.Status == durable.StatusFailed && got.Failure != nil && got.Failure.ErrorType == "NonDeterminismError" {
		return nil
	}
	return checkReplay(fn, past, end, true)
}

// splitEnd separates ExecutionCompleted (always last) from the rest of a history.
func splitEnd(hist []history.Event) ([]history.Event, *history.Event) {
	if n := len(hist); n > 0 && hist[n-1].Type == history.ExecutionCompleted {
		end := hist[n-1]
		return hist[:n-1], &end
	}
	return hist, nil
}

// checkReplay replays past (an execution's history without its ExecutionCompleted)
// and compares the outcome with end (nil: the execution is still running). With
// sameOutput the output must match too. A mismatch is a *durable.NonDeterminismError.
func checkReplay(fn durable.Orchestrator, past []history.Event, end *history.Event, sameOutput bool) error {
	first := replayOnce(fn, past, end, sameOutput)
	if first == nil || end == nil {
		return first
	}
	// The releases of locks an instance still held when it ended are written by the
	// engine, not issued by the code, so a replay of them fails; but the code may also
	// have released them itself just before returning. One of the two readings fits.
	n := len(past)
	for n > 0 && past[n-1].Type == history.EntityUnlockSent {
		n--
	}
	if n < len(past) && replayOnce(fn, past[:n], end, sameOutput) == nil {
		return nil
	}
	return first
}

func replayOnce(fn durable.Orchestrator, past []history.Event, end *history.Event, sameOutput bool) error {
	r := replay.Execute(fn, past, nil, replay.Options{})
	if r.Nondeterminism != nil {
		return r.Nondeterminism
	}
	mismatch := func(expected string) error {
		actual := fmt.Sprintf("status %s", r.Status)
		switch {
		case r.Failure != nil:
			actual += fmt.Sprintf(" (%s: %s)", r.Failure.ErrorType, r.Failure.ErrorMessage)
		case r.Status == durable.StatusRunning && len(r.Actions) > 0:
			actual += fmt.Sprintf(" with a new action %s %q", r.Actions[0].Type, r.Actions[0].Name)
		case r.Status == durable.StatusRunning:
			actual += " (orchestrator is waiting)"
		case len(r.Output) > 0:
			actual += " with output " + string(r.Output)
		}
		return &durable.NonDeterminismError{EventID: -1, Expected: expected, Actual: actual}
	}
	if end == nil {
		if r.Status != durable.StatusRunning || len(r.Actions) > 0 {
			return mismatch("the instance running, waiting for more events")
		}
		return nil
	}
	if r.Status != end.Status {
		return mismatch(fmt.Sprintf("the execution ending %s", end.Status))
	}
	if sameOutput {
		out := r.Output
		if r.Status == durable.StatusContinuedAsNew {
			out = r.ContinueAsNewInput
		}
		if !bytes.Equal(out, end.Result) {
			return mismatch(fmt.Sprintf("the execution ending %s with output %s", end.Status, end.Result))
		}
	}
	return nil
}
