package runner

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

// lease tracks how long a received message is still ours.
//
// Why renewals must not be late: a message whose lease runs out while it is being
// processed becomes visible again, another worker (or this one) receives it and runs
// it a second time, and the first worker's delete then fails (PopReceiptMismatch), so
// the message runs yet again after the next lease. Harmless for correctness (commits
// are conditional, effects deduplicated) but wasted work and, for a wake-up whose
// second delivery finds nothing to do, a stall. Under saturation a renewal can take
// seconds, and a renewal started at half-time that is retried by the SDK (whose
// back-off reaches a minute) can land after the lease is gone.
//
// Renewing in time is not always possible: a storage account that answers a request
// only after tens of seconds (Azurite with a backlog on a loaded machine does; Azure
// does when throttling) answers the renewal late too, and a receive queued before it
// may take the message the moment its lease ends. So leases adapt to storage: the
// poller keeps a decaying maximum of its storage round trips (rtt), and a lease (the
// receive's visibility and every renewal) is at least 4 of them, so that a renewal
// sent a third into the lease is answered before the lease ends even when storage is
// that slow. The cost is a longer wait before a crashed worker's message reappears,
// only while storage is slow.
type lease struct {
	m        *storage.Message
	d        time.Duration
	until    time.Time     // conservative end: counted from before the request that set it
	slowest  time.Duration // slowest renewal round trip seen
	renewals int
	lost     bool
}

func newLease(m *storage.Message, d time.Duration, asked time.Time) *lease {
	return &lease{m: m, d: d, until: asked.Add(d)}
}

func (l *lease) expired(now time.Time) bool { return l.lost || now.After(l.until) }

// renewAt is when the next renewal should start: once a third of the lease has
// passed (so two more attempts fit before it ends), earlier when renewals are slow
// (three of the slowest round trips seen must still fit), and never later than one
// second before the end.
func (l *lease) renewAt() time.Time {
	margin := max(l.d*2/3, 3*l.slowest)
	margin = min(margin, l.d-time.Second/4)
	return l.until.Add(-max(margin, 0))
}

// keepLease renews l until ctx ends. A renewal already sent is not cancelled: the
// service may apply it, and its answer carries the pop receipt Delete needs.
func (p *Poller) keepLease(ctx context.Context, q storage.Queue, l *lease) {
	for {
		wait := time.Until(l.renewAt())
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		start := time.Now()
		if !start.Before(l.until) {
			return // too late: the message may already be someone else's
		}
		// The renewal is not abandoned at the lease's end: answered late, it still
		// succeeds if nobody received the message meanwhile, and only its answer has
		// the pop receipt that Delete needs.
		l.d = p.leaseFor(l.d)
		err := q.Extend(context.WithoutCancel(ctx), l.m, l.d)
		took := time.Since(start)
		p.observe(took)
		l.slowest = max(l.slowest, took)
		switch {
		case err == nil:
			l.until = start.Add(l.d)
			l.renewals++
			p.stats.renewals.Add(1)
		case storage.IsLeaseLost(err):
			// Someone else holds the message now (or our own retried renewal was
			// applied and its receipt lost): nothing more to renew.
			l.lost = true
			p.stats.renewFailures.Add(1)
			p.log.Warn("message lease lost", "queue", q.Name(), "message", l.m.ID, "err", err)
			return
		default:
			p.stats.renewFailures.Add(1)
			if ctx.Err() == nil {
				p.log.Warn("could not renew message lease; retrying", "queue", q.Name(), "message", l.m.ID, "err", err)
			}
			// Try again soon, while the lease lasts.
			t := time.NewTimer(min(time.Second, max(time.Until(l.until)/4, 10*time.Millisecond)))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// rtt is a decaying maximum of the poller's storage round trips (receives and
// renewals): each observation raises it to the observed time, or lets it decay by
// 1/16 towards it.
type rtt struct{ v atomic.Int64 }

func (r *rtt) observe(d time.Duration) {
	for {
		old := r.v.Load()
		next := max(int64(d), old-old/16)
		if r.v.CompareAndSwap(old, next) {
			return
		}
	}
}

func (p *Poller) observe(d time.Duration) { p.rtt.observe(d) }

// maxAdaptiveLease caps how far slow storage stretches a lease.
const maxAdaptiveLease = 10 * time.Minute

// leaseFor is the lease to ask for: at least base (the configured lease) and four
// recent slow round trips.
func (p *Poller) leaseFor(base time.Duration) time.Duration {
	base = max(base, p.opts.Lease)
	slow := 4 * time.Duration(p.rtt.v.Load())
	if slow <= base {
		return p.opts.Lease
	}
	// whole seconds: queue visibility has no finer resolution
	return min((slow+time.Second-1)/time.Second*time.Second, maxAdaptiveLease)
}

// slots is a counting semaphore; a nil *slots never blocks.
type slots struct{ ch chan struct{} }

func newSlots(n int) *slots {
	if n <= 0 {
		return nil
	}
	return &slots{ch: make(chan struct{}, n)}
}

// take acquires a slot, waiting for one if block (false when ctx ended first).
func (s *slots) take(ctx context.Context, block bool) bool {
	if s == nil {
		return true
	}
	if !block {
		select {
		case s.ch <- struct{}{}:
			return true
		default:
			return false
		}
	}
	select {
	case s.ch <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *slots) give() {
	if s != nil {
		<-s.ch
	}
}

// DefaultStatsInterval is how often a standalone worker logs its counters.
const DefaultStatsInterval = 5 * time.Minute

// PollerStats are a standalone worker's counters since start.
type PollerStats struct {
	Received  int64 `json:"received"`
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	// EmptyPolls are receives that found no message: the cost of idling.
	EmptyPolls int64 `json:"emptyPolls"`
	// Redeliveries are messages received with DequeueCount > 1: an earlier delivery
	// failed, its worker died, or its lease expired.
	Redeliveries  int64 `json:"redeliveries"`
	LeaseRenewals int64 `json:"leaseRenewals"`
	RenewFailures int64 `json:"renewFailures"`
	// LeaseExpiries are messages whose lease ran out (or was lost) before their
	// processing ended: another worker may have run them too. 0 in a healthy run.
	LeaseExpiries int64 `json:"leaseExpiries"`
}

type pollerCounters struct {
	received, completed, failed, emptyPolls, redeliveries, renewals, renewFailures, leaseExpiries atomic.Int64
}

// Stats returns the poller's counters.
func (p *Poller) Stats() PollerStats {
	c := &p.stats
	return PollerStats{Received: c.received.Load(), Completed: c.completed.Load(), Failed: c.failed.Load(), EmptyPolls: c.emptyPolls.Load(),
		Redeliveries: c.redeliveries.Load(), LeaseRenewals: c.renewals.Load(), RenewFailures: c.renewFailures.Load(), LeaseExpiries: c.leaseExpiries.Load()}
}
