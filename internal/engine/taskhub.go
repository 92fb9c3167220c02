package engine

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// PoisonSuffix is appended to a queue's name to name the queue its poisoned
// messages are moved to (the Functions host's convention).
const PoisonSuffix = "-poison"

// QueueDepth is one queue of the task hub and its approximate message count.
type QueueDepth struct {
	Name string `json:"name"`
	// ApproximateMessageCount counts visible and invisible messages (delayed timers
	// and messages being processed included), as Azure reports it.
	ApproximateMessageCount int `json:"approximateMessageCount"`
	// Poison is true for a <queue>-poison queue.
	Poison bool `json:"poison"`
	// Exists is false for a queue that has not been created yet (a poison queue no
	// message has been moved to).
	Exists bool `json:"exists"`
}

// TaskHubName is the hub's name (the prefix of its tables and queues).
func (h *Hub) TaskHubName() string { return h.cfg.TaskHub }

// QueueNames lists every queue the hub works on, each followed by its poison queue:
// orchestrator, activity, then the entity queues in name order.
func (h *Hub) QueueNames() []string {
	var base []string
	if h.cfg.OrchestratorQueue != "" {
		base = append(base, h.cfg.OrchestratorQueue)
	}
	if h.cfg.ActivityQueue != "" {
		base = append(base, h.cfg.ActivityQueue)
	}
	var ents []string
	for _, q := range h.cfg.EntityQueues {
		ents = append(ents, q)
	}
	sort.Strings(ents)
	base = append(base, ents...)
	seen := map[string]bool{}
	var out []string
	for _, q := range base {
		if seen[q] { // several entities may share one queue
			continue
		}
		seen[q] = true
		out = append(out, q, q+PoisonSuffix)
	}
	return out
}

// QueueDepths reads the approximate message count of every queue of QueueNames.
// The reads run in parallel: one storage request per queue, and a dashboard polls
// this.
func (h *Hub) QueueDepths(ctx context.Context) ([]QueueDepth, error) {
	names := h.QueueNames()
	out := make([]QueueDepth, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, exists, err := h.acct.QueueLength(ctx, name)
			out[i] = QueueDepth{Name: name, ApproximateMessageCount: n, Exists: exists, Poison: strings.HasSuffix(name, PoisonSuffix)}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListPoisonNewest returns the recorded poison messages, newest first; top > 0 keeps
// only the first top of them.
func (h *Hub) ListPoisonNewest(ctx context.Context, top int) ([]PoisonRecord, error) {
	recs, err := h.ListPoison(ctx)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].At.After(recs[j].At) })
	if top > 0 && len(recs) > top {
		recs = recs[:top]
	}
	return recs, nil
}
