package engine

import (
	"context"
	"sort"
	"sync"
)

// PoisonSuffix is appended to a queue's name to name the queue its poisoned
// messages are moved to (the Functions host's convention).
const PoisonSuffix = "-poison"

// QueueDepth is one queue of the task hub and its approximate message count.
type QueueDepth struct {
	Name string `json:"name"`
	// Kind is what the queue carries: "orchestrator", "activity" or "entity" (a
	// poison queue has its queue's kind).
	Kind string `json:"kind"`
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
	var out []string
	for _, q := range h.queueKinds() {
		out = append(out, q.Name)
	}
	return out
}

// queueKinds is QueueNames with each queue's kind.
func (h *Hub) queueKinds() []QueueDepth {
	var base []QueueDepth
	if h.cfg.OrchestratorQueue != "" {
		base = append(base, QueueDepth{Name: h.cfg.OrchestratorQueue, Kind: "orchestrator"})
	}
	if h.cfg.ActivityQueue != "" {
		base = append(base, QueueDepth{Name: h.cfg.ActivityQueue, Kind: "activity"})
	}
	var ents []string
	for _, q := range h.cfg.EntityQueues {
		ents = append(ents, q)
	}
	sort.Strings(ents)
	for _, q := range ents {
		base = append(base, QueueDepth{Name: q, Kind: "entity"})
	}
	seen := map[string]bool{}
	var out []QueueDepth
	for _, q := range base {
		if seen[q.Name] { // several entities may share one queue
			continue
		}
		seen[q.Name] = true
		out = append(out, q, QueueDepth{Name: q.Name + PoisonSuffix, Kind: q.Kind, Poison: true})
	}
	return out
}

// QueueDepths reads the approximate message count of every queue of QueueNames.
// The reads run in parallel: one storage request per queue, and a dashboard polls
// this.
func (h *Hub) QueueDepths(ctx context.Context) ([]QueueDepth, error) {
	out := h.queueKinds()
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].ApproximateMessageCount, out[i].Exists, errs[i] = h.acct.QueueLength(ctx, out[i].Name)
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
