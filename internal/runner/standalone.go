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

// PollerOptions tunes the standalone queue listeners.
type PollerOptions struct {
	// Lease is how long a received message stays invisible while it is processed; it
	// is renewed at half-time, and after a crash the message reappears this soon.
	Lease time.Duration
	// MinPollingInterval is the first back-off step on an empty queue.
	MinPollingInterval time.Duration
	// Concurrency is the most messages processed at once per queue (default: batch size).
	Concurrency int
	// OnPoison, if set, records why a message was moved to its poison queue.
	OnPoison PoisonFunc
}

// PoisonFunc records a poisoned message: queue, message id, text and reason.
type PoisonFunc func(ctx context.Context, queue, messageID, text, reason string)

// Poller listens to every queue-triggered function's queue, with the host's retry
// and poison semantics.
type Poller struct {
	app  *funcmeta.App
	fs   Functions
	acct *storage.Account
	log  *slog.Logger
	opts PollerOptions
	errs lastErrors
}

// NewPoller prepares queue listeners; Run starts them.
func NewPoller(app *funcmeta.App, fs Functions, acct *storage.Account, log *slog.Logger, opts *PollerOptions) *Poller {
	p := &Poller{app: app, fs: fs, acct: acct, log: log}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.Lease <= 0 {
		p.opts.Lease = 30 * time.Second
	}
	if p.opts.MinPollingInterval <= 0 {
		p.opts.MinPollingInterval = 50 * time.Millisecond
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
	wg.Wait()
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
	sem := make(chan struct{}, conc)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	backoff := p.opts.MinPollingInterval
	for ctx.Err() == nil {
		free := conc - len(sem)
		if free <= 0 {
			// Wait for a slot rather than fetching messages we cannot start.
			select {
			case sem <- struct{}{}:
				<-sem
			case <-ctx.Done():
				return
			}
			continue
		}
		msgs, err := q.Receive(ctx, min(batch, free), p.opts.Lease)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("queue receive failed; backing off", "queue", q.Name(), "err", err)
			}
			backoff = sleepBackoff(ctx, backoff, maxPoll, nil)
			continue
		}
		if len(msgs) == 0 {
			backoff = sleepBackoff(ctx, backoff, maxPoll, nudge)
			if backoff == 0 {
				backoff = p.opts.MinPollingInterval
			}
			continue
		}
		backoff = p.opts.MinPollingInterval
		for _, m := range msgs {
			sem <- struct{}{}
			inflight.Add(1)
			go func() {
				defer func() { <-sem; inflight.Done() }()
				p.handle(context.WithoutCancel(ctx), f, q, m)
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
// started finishes cleanly.
func (p *Poller) handle(work context.Context, f *funcmeta.Function, q storage.Queue, m *storage.Message) {
	maxDequeue := int64(p.app.Host.Queues.MaxDequeueCount)
	if maxDequeue <= 0 {
		maxDequeue = funcmeta.DefaultMaxDequeueCount
	}
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
	var mu sync.Mutex // Extend updates the pop receipt that Delete needs
	go func() {
		t := time.NewTicker(p.opts.Lease / 2)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				mu.Lock()
				err := q.Extend(renewCtx, m, p.opts.Lease)
				mu.Unlock()
				if err != nil && renewCtx.Err() == nil {
					p.log.Warn("could not renew message lease", "queue", q.Name(), "message", m.ID, "err", err)
				}
			}
		}
	}()
	err := invokeQueue(work, p.app, f, p.fs, m.Text, Delivery{Queue: q.Name(), MessageID: m.ID, DequeueCount: m.DequeueCount,
		MaxDequeueCount: maxDequeue, LastError: p.errs.get(m.ID)})
	stopRenew()
	p.errs.set(m.ID, err)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err == nil:
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
