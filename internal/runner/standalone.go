package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/durablego/durablefunctions/internal/auth"
	"github.com/durablego/durablefunctions/internal/funcmeta"
	"github.com/durablego/durablefunctions/internal/httpx"
	"github.com/durablego/durablefunctions/internal/storage"
)

// StandaloneHandler serves the app's HTTP routes as the host would, enforcing each
// function's authLevel with keys.
func StandaloneHandler(app *funcmeta.App, fs Functions, keys *auth.Keys, log *slog.Logger) (http.Handler, error) {
	if keys == nil {
		return nil, errors.New("standalone mode needs a key set (possibly empty, in dev mode)")
	}
	r, err := appRouter(app, fs, routeOptions{keys: keys, log: log})
	if err != nil {
		return nil, err
	}
	return httpx.Recover(log, r), nil
}

// DefaultLease is how long a standalone worker holds a message it processes unless
// told otherwise: Durable Functions' visibility timeout of control and work-item
// messages (5 minutes). It is also how soon a killed worker's messages reappear, but
// a lease must outlast any pause of storage: Azurite's in-memory queue GC stops every
// request for up to a minute and a half under load (docs/ARCHITECTURE.md), and a 30 s
// lease could not be renewed through it.
const DefaultLease = 5 * time.Minute

// PollerOptions tunes the standalone queue listeners.
type PollerOptions struct {
	// Lease is how long a received message stays invisible while it is processed; it
	// is renewed while a third of it or more is left (sooner when renewals are slow),
	// and after a crash the message reappears this soon (0 = DefaultLease).
	Lease time.Duration
	// MinPollingInterval is the first back-off step on an empty queue.
	MinPollingInterval time.Duration
	// Concurrency is the most messages processed at once per queue (default: batch size).
	Concurrency int
	// Throttle limits how many functions of each kind run at once in this process
	// (host.json extensions.durableTask); nil: no limit beyond Concurrency.
	Throttle *Throttle
	// OnPoison, if set, records why a message was moved to its poison queue.
	OnPoison PoisonFunc
	// StatsInterval is how often the poller logs its counters, empty polls per minute
	// among them (0: every 5 minutes; negative: never).
	StatsInterval time.Duration
	// StatsExtra adds values to the stats lines' JSON (storage error counts,
	// engine counters).
	StatsExtra func() map[string]any
}

// PoisonFunc records a poisoned message: queue, message id, text and reason.
type PoisonFunc func(ctx context.Context, queue, messageID, text, reason string)

// Poller listens to every queue-triggered function's queue, with the host's retry
// and poison semantics.
type Poller struct {
	app   *funcmeta.App
	fs    Functions
	acct  *storage.Account
	log   *slog.Logger
	opts  PollerOptions
	errs  lastErrors
	stats pollerCounters
	rtt   rtt // decaying maximum of storage round trips (lease.go)
}

// NewPoller prepares queue listeners; Run starts them.
func NewPoller(app *funcmeta.App, fs Functions, acct *storage.Account, log *slog.Logger, opts *PollerOptions) *Poller {
	p := &Poller{app: app, fs: fs, acct: acct, log: log}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.Lease <= 0 {
		p.opts.Lease = DefaultLease
	}
	if p.opts.MinPollingInterval <= 0 {
		p.opts.MinPollingInterval = 50 * time.Millisecond
	}
	if p.opts.StatsInterval == 0 {
		p.opts.StatsInterval = DefaultStatsInterval
	}
	return p
}

// Run polls until ctx ends, then waits for messages in progress.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range p.app.Functions {
		if !f.IsQueue() || f.Disabled {
			continue
		}
		q, err := p.acct.Queue(ctx, f.Trigger.QueueName)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.listen(ctx, f, q)
		}()
	}
	if p.opts.StatsInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.logStats(ctx, p.opts.StatsInterval)
		}()
	}
	wg.Wait()
	p.logStatsLine("worker stopped", 0, 0)
	return nil
}

func (p *Poller) listen(ctx context.Context, f *funcmeta.Function, q storage.Queue) {
	cfg := p.app.Host.Queues
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = funcmeta.DefaultBatchSize
	}
	conc := p.opts.Concurrency
	if conc <= 0 {
		conc = batch
	}
	maxPoll := cfg.MaxPollingInterval
	if maxPoll <= 0 {
		maxPoll = funcmeta.DefaultMaxPollingInterval
	}
	nudge := p.acct.Nudges(q.Name())
	// A slot is taken before a message is received, never after: a message waiting
	// for a slot would hold its lease doing nothing. The queue's own slots bound its
	// concurrency; the throttle's (shared by every queue of one kind) bound the kind's.
	local := newSlots(conc)
	shared := p.opts.Throttle.slotsFor(f.Name)
	take := func(block bool) bool {
		if !local.take(ctx, block) {
			return false
		}
		if !shared.take(ctx, block) {
			local.give()
			return false
		}
		return true
	}
	give := func() { shared.give(); local.give() }
	var inflight sync.WaitGroup
	defer inflight.Wait()
	backoff := p.opts.MinPollingInterval
	for ctx.Err() == nil {
		if !take(true) {
			return
		}
		n := 1
		for n < batch && take(false) {
			n++
		}
		asked := time.Now() // the lease runs from some moment after this
		leaseFor := p.leaseFor(p.opts.Lease)
		msgs, err := q.Receive(ctx, n, leaseFor)
		p.observe(time.Since(asked))
		if err != nil {
			for range n {
				give()
			}
			if ctx.Err() == nil {
				p.log.Warn("queue receive failed; backing off", "queue", q.Name(), "err", err)
			}
			backoff = sleepBackoff(ctx, backoff, maxPoll, nil)
			continue
		}
		for range n - len(msgs) {
			give()
		}
		if len(msgs) == 0 {
			p.stats.emptyPolls.Add(1)
			backoff = sleepBackoff(ctx, backoff, maxPoll, nudge)
			if backoff == 0 {
				backoff = p.opts.MinPollingInterval
			}
			continue
		}
		backoff = p.opts.MinPollingInterval
		p.stats.received.Add(int64(len(msgs)))
		for _, m := range msgs {
			inflight.Add(1)
			go func() {
				defer func() { give(); inflight.Done() }()
				p.handle(context.WithoutCancel(ctx), f, q, m, asked, leaseFor)
			}()
		}
	}
}

// sleepBackoff waits cur (or until nudged: then it returns 0 so the next wait starts
// from the minimum again) and returns the next back-off.
func sleepBackoff(ctx context.Context, cur, max time.Duration, nudge <-chan struct{}) time.Duration {
	t := time.NewTimer(cur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-nudge:
		return 0
	}
	next := cur * 2
	if next > max {
		next = max
	}
	return next
}

// handle runs one message. work is not cancelled on shutdown so an episode that has
// started finishes cleanly. asked is when the receive that returned m was sent: its
// lease runs from some moment after that.
func (p *Poller) handle(work context.Context, f *funcmeta.Function, q storage.Queue, m *storage.Message, asked time.Time, leaseFor time.Duration) {
	maxDequeue := int64(p.app.Host.Queues.MaxDequeueCount)
	if maxDequeue <= 0 {
		maxDequeue = funcmeta.DefaultMaxDequeueCount
	}
	if m.DequeueCount > 1 {
		p.stats.redeliveries.Add(1)
	}
	lease := newLease(m, leaseFor, asked)
	if m.DequeueCount > maxDequeue {
		last := p.errs.get(m.ID)
		if last == "" {
			last = "none reported (the worker processing it stopped: crash, kill or timeout)"
		}
		p.errs.set(m.ID, nil)
		p.poison(work, q, m, fmt.Sprintf("delivered %d times without completing (maxDequeueCount %d), last error: %s", m.DequeueCount, maxDequeue, last))
		return
	}
	renewCtx, stopRenew := context.WithCancel(work)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		p.keepLease(renewCtx, q, lease)
	}()
	err := invokeQueue(work, p.app, f, p.fs, m.Text, Delivery{Queue: q.Name(), MessageID: m.ID, DequeueCount: m.DequeueCount,
		MaxDequeueCount: maxDequeue, LastError: p.errs.get(m.ID)})
	stopRenew()
	<-renewed // no renewal in flight: Delete needs the latest pop receipt
	if lease.expired(time.Now()) {
		// Another worker may have received the message meanwhile and run it too. The
		// engine makes that harmless (conditional commits, deduplication), but it is
		// wasted work and, for a wake-up, a stall for whoever waited on it.
		p.stats.leaseExpiries.Add(1)
		p.log.Warn("message lease expired while it was processed", "queue", q.Name(), "message", m.ID,
			"lease", lease.d, "held", time.Since(asked).Round(time.Millisecond), "renewals", lease.renewals)
	}
	p.errs.set(m.ID, err)
	switch {
	case err == nil:
		p.stats.completed.Add(1)
		if err := q.Delete(work, m); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.log.Warn("could not delete processed message; it will be processed again", "queue", q.Name(), "message", m.ID, "err", err)
		}
	case errors.Is(err, ErrPoison):
		p.errs.set(m.ID, nil)
		p.poison(work, q, m, poisonReason(err))
	case m.DequeueCount >= maxDequeue:
		p.errs.set(m.ID, nil)
		p.poison(work, q, m, fmt.Sprintf("failed %d times (maxDequeueCount %d), last error: %v", m.DequeueCount, maxDequeue, err))
	default:
		p.stats.failed.Add(1)
		p.log.Warn("message failed; it will be retried", "function", f.Name, "queue", q.Name(), "message", m.ID, "dequeueCount", m.DequeueCount, "err", err)
		retry := p.app.Host.Queues.VisibilityTimeout
		if err := q.Extend(work, m, retry); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.log.Warn("could not release failed message", "queue", q.Name(), "err", err)
		}
	}
}

// poison moves a message to <queue>-poison, as the host does.
func (p *Poller) poison(ctx context.Context, q storage.Queue, m *storage.Message, reason string) {
	pq, err := p.acct.Queue(ctx, q.Name()+"-poison")
	if err == nil {
		err = pq.Send(ctx, m.Text, 0)
	}
	if err != nil {
		p.log.Error("could not move message to the poison queue; it stays", "queue", q.Name(), "message", m.ID, "err", err)
		return
	}
	p.log.Error("message moved to poison queue", "queue", q.Name(), "poisonQueue", pq.Name(), "message", m.ID, "reason", reason)
	if p.opts.OnPoison != nil {
		p.opts.OnPoison(ctx, q.Name(), m.ID, m.Text, reason)
	}
	if err := q.Delete(ctx, m); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.log.Warn("could not delete poisoned message", "queue", q.Name(), "err", err)
	}
}

// RunTimers runs timer-triggered functions on their schedules until ctx ends.
func RunTimers(ctx context.Context, app *funcmeta.App, fs Functions, log *slog.Logger) {
	var wg sync.WaitGroup
	for _, f := range app.Functions {
		if !f.IsTimer() || f.Disabled || f.Trigger.ParsedSchedule == nil {
			continue
		}
		fn, ok := lookup(fs.Timer, f.Name)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := func() {
				if err := fn(ctx); err != nil && ctx.Err() == nil {
					log.Warn("timer function failed", "function", f.Name, "err", err)
				}
			}
			if f.Trigger.RunOnStartup {
				run()
			}
			for {
				next := f.Trigger.ParsedSchedule.Next(time.Now())
				t := time.NewTimer(time.Until(next))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
					run()
				}
			}
		}()
	}
	wg.Wait()
}
