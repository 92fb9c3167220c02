package runner

import (
	"context"
	"strings"
)

// Throttle limits how many functions of each kind run at once in this process, as
// host.json's extensions.durableTask maxConcurrentOrchestratorFunctions,
// maxConcurrentEntityFunctions and maxConcurrentActivityFunctions do under the
// Functions host. Functions given one limit share its slots (every entity queue
// counts against the entity limit). The standalone poller takes a slot before it
// receives a message, so a message never waits for a slot while holding its lease;
// the host-mode handler takes one per invocation. A nil *Throttle limits nothing.
type Throttle struct {
	byFunc map[string]*slots // lower-case function name -> shared slots
}

// NewThrottle returns a throttle without limits; Limit adds them.
func NewThrottle() *Throttle { return &Throttle{byFunc: map[string]*slots{}} }

// Limit lets at most n of the named functions run at once, together (n <= 0: no limit).
func (t *Throttle) Limit(n int, functions ...string) {
	s := newSlots(n)
	for _, f := range functions {
		if s == nil {
			delete(t.byFunc, strings.ToLower(f))
			continue
		}
		t.byFunc[strings.ToLower(f)] = s
	}
}

func (t *Throttle) slotsFor(function string) *slots {
	if t == nil {
		return nil
	}
	return t.byFunc[strings.ToLower(function)]
}

// Acquire waits for a slot of function and returns its release (a no-op without a
// limit); it fails only when ctx ends first.
func (t *Throttle) Acquire(ctx context.Context, function string) (release func(), err error) {
	s := t.slotsFor(function)
	if !s.take(ctx, true) {
		return nil, ctx.Err()
	}
	return s.give, nil
}
