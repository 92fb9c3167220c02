package engine

import "sync/atomic"

// HubStats are this process's counters of contention between workers, for logs and
// the benchmark.
type HubStats struct {
	// CommitConflicts counts episodes abandoned because another worker committed the
	// instance first (a 409/412 on the checkpoint): each one is redone from a fresh read.
	CommitConflicts int64 `json:"commitConflicts"`
	// GaveUp counts instances whose processing was given up after conflicting for
	// too long; they are retried through a fresh wake-up.
	GaveUp int64 `json:"gaveUp"`
}

type hubCounters struct {
	conflicts atomic.Int64
	gaveUp    atomic.Int64
}

// Stats returns the process's counters since start.
func (h *Hub) Stats() HubStats {
	return HubStats{CommitConflicts: h.counters.conflicts.Load(), GaveUp: h.counters.gaveUp.Load()}
}
