package replay

import (
	"fmt"
	"slices"
	"strings"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// sameAction reports whether the action c the code issued on replay is the one the
// history recorded as h. Like Durable Functions it compares kind and name/target, not
// inputs or times: those may legitimately be computed differently by a new build,
// while a different kind or target means the code took another path.
func sameAction(h, c *history.Event) bool {
	if h.Type != c.Type {
		return false
	}
	switch c.Type {
	case history.TaskScheduled, history.SubOrchestrationCreated:
		return strings.EqualFold(h.Name, c.Name)
	case history.EventSent:
		return h.InstanceID == c.InstanceID && strings.EqualFold(h.Name, c.Name)
	case history.EntitySignaled, history.EntityCalled:
		return sameEntity(h.Entity, c.Entity) && strings.EqualFold(h.Name, c.Name)
	case history.EntityUnlockSent:
		return sameEntity(h.Entity, c.Entity)
	case history.EntityLockRequested:
		return slices.EqualFunc(h.LockSet, c.LockSet, func(a, b durable.EntityID) bool { return sameEntity(&a, &b) })
	}
	return true // TimerCreated: nothing more to compare
}

func sameEntity(a, b *durable.EntityID) bool {
	if a == nil || b == nil {
		return a == b
	}
	return strings.EqualFold(a.Name, b.Name) && a.Key == b.Key
}

// describe renders a scheduling event for a non-determinism message, e.g.
// `TaskScheduled "F1"`.
func describe(e *history.Event) string {
	switch e.Type {
	case history.TaskScheduled, history.SubOrchestrationCreated, history.PatchMarker:
		return fmt.Sprintf("%s %q", e.Type, e.Name)
	case history.EventSent:
		return fmt.Sprintf("%s %q to %q", e.Type, e.Name, e.InstanceID)
	case history.EntitySignaled, history.EntityCalled:
		return fmt.Sprintf("%s %q on %s", e.Type, e.Name, entityString(e.Entity))
	case history.EntityUnlockSent:
		return fmt.Sprintf("%s %s", e.Type, entityString(e.Entity))
	case history.EntityLockRequested:
		return fmt.Sprintf("%s %s", e.Type, lockSetString(e.LockSet))
	}
	return string(e.Type)
}

func entityString(id *durable.EntityID) string {
	if id == nil {
		return "<no entity>"
	}
	return id.String()
}
