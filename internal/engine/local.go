package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"time"
)

// Local hand-off. A wake-up on the queue costs three requests (send, receive, delete)
// and carries no data: the inbox row is the record. When this process polls the
// orchestrator queue itself (standalone mode), a wake-up it would send for an
// orchestration it is about to make progress on would most likely come back to it
// anyway, so it runs the episode itself instead:
//
//   - Activity results: the activity handler runs the orchestration's episode before
//     it returns, so the activity message stays invisible (leased) until the result
//     is applied. If this process dies meanwhile, the message reappears, the
//     activities run again (at least once, as always), their report finds its inbox
//     row already there (same id), and the episode runs then; a result applied
//     twice is dropped by task id.
//   - Starts: the episode of an instance this process just created runs in the
//     background. The inbox row was committed first, so if this process dies before
//     applying it, the maintenance sweep re-wakes the instance (rows older than two
//     minutes); a failed episode is retried through a queue wake-up at once.
//
// Under the Functions host the queue path stays: the host must see the work to scale
// and to invoke the handler, and any instance of the app may be the one invoked.
// Entities are not handed off: careful mode (poisoned operations) relies on the
// queue's dequeue count to notice a worker that died during an episode.

// localDispatch runs handed-off episodes in this process.
type localDispatch struct {
	ctx context.Context
	sem chan struct{}
}

// DefaultLocalEpisodes bounds how many handed-off episodes run at once; past it, the
// queue takes the wake-ups (and the poller's own limits apply).
const DefaultLocalEpisodes = 64

// EnableLocalHandoff makes this hub run the episodes of orchestrations it starts or
// reports activity results to in this process, without a queue round trip, until ctx
// ends. Call it only where this process also polls the orchestrator queue (standalone
// mode); max bounds the episodes running this way at once (0 = DefaultLocalEpisodes).
func (h *Hub) EnableLocalHandoff(ctx context.Context, max int) {
	if max <= 0 {
		max = DefaultLocalEpisodes
	}
	h.local.Store(&localDispatch{ctx: ctx, sem: make(chan struct{}, max)})
}

// handOff runs instance id's episode in this process if local hand-off is on and has
// room (envs are the rows the caller just wrote to its inbox); false means the caller
// must wake the instance through its queue.
func (h *Hub) handOff(id string, envs []*Envelope) bool {
	ld := h.local.Load()
	if ld == nil || ld.ctx.Err() != nil || strings.HasPrefix(id, "@") {
		return false
	}
	select {
	case ld.sem <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() { <-ld.sem }()
		err := h.Process(withHanded(ld.ctx, id, envs, h.now()), id)
		if err == nil {
			return
		}
		// As HandleWakeUp does: retry through a fresh (delayed) queue wake-up rather
		// than leaving the row to the sweep. On shutdown the sweep finds the row.
		h.log.Warn("handed-off episode failed; retrying through the queue", "instance", id, "err", err)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ld.ctx), 10*time.Second)
		defer cancel()
		if werr := h.wakeAfter(ctx, id, retryWakeDelay); werr != nil {
			h.log.Warn("could not re-queue a failed hand-off; the sweep will find it", "instance", id, "err", werr)
		}
	}()
	return true
}

// localHandoff reports whether local hand-off is on.
func (h *Hub) localHandoff() bool {
	ld := h.local.Load()
	return ld != nil && ld.ctx.Err() == nil
}

// processHandedOff runs orchestration id's episode for a caller that wrote its inbox
// row and sent no wake-up. If the episode fails, a queue wake-up retries it (as
// HandleWakeUp does); an error means neither worked, and the caller's own message
// must be retried.
func (h *Hub) processHandedOff(ctx context.Context, id string, envs []*Envelope) error {
	err := h.Process(withHanded(ctx, id, envs, h.now()), id)
	if err == nil {
		return nil
	}
	h.log.Warn("handed-off episode failed; retrying through the queue", "instance", id, "err", err)
	if werr := h.wakeAfter(ctx, id, retryWakeDelay); werr != nil {
		return err
	}
	return nil
}

// wakeOrHandOff wakes orchestration id now: in this process when local hand-off is
// on, else through its queue.
func (h *Hub) wakeOrHandOff(ctx context.Context, id string, envs ...*Envelope) error {
	if h.handOff(id, envs) {
		return nil
	}
	return h.wake(ctx, id, time.Time{})
}

// localState is the Hub's hand-off switch (nil: off).
type localState = atomic.Pointer[localDispatch]
