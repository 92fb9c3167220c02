package engine

import (
	"context"
	"sync"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Sessions (what Durable Functions calls extended sessions). After this process
// commits an orchestration episode it keeps the partition as it left it: the
// checkpoint with the ETag the commit gave it (read from the batch response), the
// history rows, the inbox rows it did not consume. When it then reports activity
// results to that orchestration itself (local hand-off, see local.go), the next
// episode starts from that copy plus the rows it just wrote, instead of a query.
//
// Why that is safe: the episode's commit is conditional on the checkpoint's ETag as
// always, so if anyone else committed the instance since, the commit fails and the
// episode is redone from a real read. Rows others insert into the inbox do not change
// the checkpoint, but each comes with its own wake-up, and every wake-up drops the
// session (a wake-up from the queue, and one this process sends or turns into a
// "dirty" mark on an instance it is running), so such rows are read by the episode
// that wake-up starts; a session only ever leaves them for later, never loses them.
// Only an episode whose news is just the rows this process handed over uses the
// session: the first one of a hand-off, or a later one of a running Process loop that
// was handed rows (and was not woken by anyone else) meanwhile.

// maxSessions bounds how many partitions are kept; maxSessionHistory skips instances
// whose history is too large to be worth holding.
const (
	maxSessions       = 1024
	maxSessionHistory = 64
)

type sessionCache struct {
	mu sync.Mutex
	m  map[string]*partition
}

// keep stores p, the partition of instance id as the last commit left it.
func (c *sessionCache) keep(id string, p *partition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxSessions {
		c.m = map[string]*partition{} // forgetting costs a read each
	}
	c.m[id] = p
}

// take removes and returns id's session (nil: none).
func (c *sessionCache) take(id string) *partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.m[id]
	delete(c.m, id)
	return p
}

// drop forgets id's session: someone wrote to the instance.
func (c *sessionCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

type handedKey struct{}

// handed is the inbox rows a caller wrote for a handed-off episode; used says the
// first episode has consumed the hint. With direct, the rows were not written at all:
// the episode's commit must hold them (consumed, or inserted if left), and settled
// says a commit did.
type handed struct {
	id      string
	rows    []*inboxRow
	used    bool
	direct  bool
	settled bool
}

// directRows returns the rows handed to id's episode under ctx that live only in
// memory (see applyDirect).
func directRows(ctx context.Context, id string) []*inboxRow {
	hd, _ := ctx.Value(handedKey{}).(*handed)
	if hd == nil || !hd.direct || hd.id != id {
		return nil
	}
	return hd.rows
}

// settle records that a commit of id's episode under ctx held its direct rows.
func settle(ctx context.Context) {
	if hd, _ := ctx.Value(handedKey{}).(*handed); hd != nil && hd.direct {
		hd.settled = true
	}
}

// withHanded tells the first episode of id under ctx that rows were just written to
// its inbox by this process, so that it may start from the session.
func withHanded(ctx context.Context, id string, envs []*Envelope, now time.Time) context.Context {
	return context.WithValue(ctx, handedKey{}, newHanded(id, envs, now, false))
}

// newHanded is the hint for id's episode that envs arrived at now; with direct they
// are not in storage (see applyDirect).
func newHanded(id string, envs []*Envelope, now time.Time, direct bool) *handed {
	hd := &handed{id: id, direct: direct}
	for _, e := range envs {
		hd.rows = append(hd.rows, &inboxRow{rk: inboxRK(e.ID), ts: now, env: e, unstored: direct})
	}
	return hd
}

// handedRows returns the rows handed to id's first episode under ctx, not yet used.
func handedRows(ctx context.Context, id string) []*inboxRow {
	hd, _ := ctx.Value(handedKey{}).(*handed)
	if hd == nil || hd.used || hd.id != id {
		return nil
	}
	return hd.rows
}

// withoutHanded hides the hint of ctx from later episodes.
func withoutHanded(ctx context.Context) context.Context {
	if ctx.Value(handedKey{}) == nil {
		return ctx
	}
	return context.WithValue(ctx, handedKey{}, (*handed)(nil))
}

// sessionPartition returns the partition of id from its session plus the rows just
// handed to it, or nil when the episode must read storage.
func (h *Hub) sessionPartition(ctx context.Context, id string) *partition {
	hd, _ := ctx.Value(handedKey{}).(*handed)
	if hd == nil || hd.used || hd.id != id {
		return nil
	}
	hd.used = true
	p := h.sessions.take(id)
	if p == nil {
		return nil
	}
	p.addInbox(hd.rows)
	return p
}

// keepOrchSession stores the partition an orchestration episode committed (etag is
// the checkpoint's new ETag; "" when the batch response did not say) if the instance
// still runs and is small enough.
func (h *Hub) keepOrchSession(e *orchEpisode, cp *storage.Row, etag string, hrows []*storage.Row, garbage []storage.Op) {
	if etag == "" || !h.localHandoff() || e.st.Status != durable.StatusRunning || len(e.p.history)+len(hrows) > maxSessionHistory {
		h.sessions.drop(e.id)
		return
	}
	gone := map[string]bool{}
	for _, rk := range e.consumed {
		gone[rk] = true
	}
	for _, op := range garbage {
		gone[op.Row.RowKey] = true
	}
	p := &partition{pk: e.p.pk, checkpoint: &storage.Row{PartitionKey: cp.PartitionKey, RowKey: cp.RowKey, ETag: etag, Props: cp.Props}}
	for _, r := range e.p.history {
		if !gone[r.RowKey] {
			p.history = append(p.history, r)
		}
	}
	p.history = append(p.history, hrows...)
	for _, r := range e.p.inbox {
		if !gone[r.rk] {
			if r.unstored {
				// The commit inserted it.
				r = &inboxRow{rk: r.rk, ts: r.ts, env: r.env}
			}
			p.inbox = append(p.inbox, r)
		}
	}
	h.sessions.keep(e.id, p)
}
