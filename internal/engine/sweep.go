package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

// SweepOptions tunes Sweep.
type SweepOptions struct {
	// MinAge: rows younger than this are left to their own wake-ups (default 2 minutes).
	MinAge time.Duration
}

// Sweep re-wakes instances whose inbox or outbox rows have waited longer than MinAge:
// work stranded when a sender died between writing a row and enqueueing its wake-up,
// or whose wake-up was lost. It scans only row keys and timestamps. It returns the
// number of instances woken.
func (h *Hub) Sweep(ctx context.Context, opts *SweepOptions) (int, error) {
	minAge := 2 * time.Minute
	if opts != nil && opts.MinAge > 0 {
		minAge = opts.MinAge
	}
	now := h.now()
	q := &storage.QueryOptions{
		Filter: fmt.Sprintf("RowKey ge %s and RowKey lt %s", storage.Quote(inboxPfx), storage.Quote("p")),
		Select: []string{"PartitionKey", "RowKey", "Timestamp", "Due"},
		Top:    1000,
	}
	woken := map[string]bool{}
	for {
		rows, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return len(woken), err
		}
		for _, r := range rows {
			if woken[r.PartitionKey] || now.Sub(r.Timestamp) < minAge {
				continue
			}
			if due := r.Time("Due"); !due.IsZero() && due.After(now) {
				continue // a timer still waiting for its delayed wake-up
			}
			id, err := storage.UnescapeKey(r.PartitionKey)
			if err != nil {
				continue
			}
			if err := h.wake(ctx, id, time.Time{}); err != nil {
				h.log.Warn("sweep could not wake instance", "instance", id, "err", err)
				continue
			}
			woken[r.PartitionKey] = true
		}
		if next == "" {
			break
		}
		q.Continuation = next
	}
	if len(woken) > 0 {
		h.log.Info("sweep re-woke instances with waiting messages", "count", len(woken))
	}
	return len(woken), nil
}
