package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Completion notification. A caller waiting for an instance to finish in the process
// that runs it (WaitForCompletion, the management API's wait-for-completion) is told
// the moment the commit that ends the instance succeeds, instead of re-reading its
// status every few milliseconds: every status read is a storage request, and a
// hundred waiters polling every 10 ms cost more requests than the work they wait
// for. The hook sits where every commit passes, the instances table: a successful
// write of a checkpoint row that leaves the instance in a terminal status (or
// deletes it) wakes that partition's waiters, who then read the status once.
// Waiters on an instance that another process runs are not notified; they fall back
// to reading with a growing interval (see WaitOptions).

// statusWatch is the set of waiters per instance partition.
type statusWatch struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	n       atomic.Int64 // waiters registered; commits skip the lock when 0
}

// subscribe registers a waiter for partition pk; the channel receives a value after
// a terminal commit of pk. cancel must be called when the wait ends.
func (w *statusWatch) subscribe(pk string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.waiters == nil {
		w.waiters = map[string]map[chan struct{}]struct{}{}
	}
	set := w.waiters[pk]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		w.waiters[pk] = set
	}
	set[ch] = struct{}{}
	w.mu.Unlock()
	w.n.Add(1)
	return ch, func() {
		w.mu.Lock()
		if set := w.waiters[pk]; set != nil {
			if _, ok := set[ch]; ok {
				delete(set, ch)
				w.n.Add(-1)
			}
			if len(set) == 0 {
				delete(w.waiters, pk)
			}
		}
		w.mu.Unlock()
	}
}

func (w *statusWatch) notify(pk string) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	for ch := range w.waiters[pk] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
}

// endsInstance reports whether writing r as a checkpoint row leaves an orchestration
// in a terminal status.
func endsInstance(r *storage.Row) bool {
	return r != nil && r.RowKey == checkpointRK && durable.RuntimeStatus(r.String("Status")).IsTerminal()
}

// watchedTable is the instances table with the completion hook on its writes.
type watchedTable struct {
	storage.Table
	w *statusWatch
}

func (t watchedTable) Batch(ctx context.Context, pk string, ops []storage.Op) error {
	err := t.Table.Batch(ctx, pk, ops)
	if err == nil {
		t.committed(pk, ops)
	}
	return err
}

// BatchETags keeps storage.BatchETags (the episode commit) going through the hook.
func (t watchedTable) BatchETags(ctx context.Context, pk string, ops []storage.Op) ([]string, error) {
	etags, err := storage.BatchETags(ctx, t.Table, pk, ops)
	if err == nil {
		t.committed(pk, ops)
	}
	return etags, err
}

func (t watchedTable) committed(pk string, ops []storage.Op) {
	for _, op := range ops {
		if endsInstance(op.Row) || op.Kind == storage.OpDelete && op.Row != nil && op.Row.RowKey == checkpointRK {
			t.w.notify(pk)
			return
		}
	}
}

func (t watchedTable) Insert(ctx context.Context, row *storage.Row) error {
	err := t.Table.Insert(ctx, row)
	if err == nil && endsInstance(row) {
		t.w.notify(row.PartitionKey)
	}
	return err
}

func (t watchedTable) Upsert(ctx context.Context, row *storage.Row) error {
	err := t.Table.Upsert(ctx, row)
	if err == nil && endsInstance(row) {
		t.w.notify(row.PartitionKey)
	}
	return err
}

func (t watchedTable) Replace(ctx context.Context, row *storage.Row, etag string) error {
	err := t.Table.Replace(ctx, row, etag)
	if err == nil && endsInstance(row) {
		t.w.notify(row.PartitionKey)
	}
	return err
}

func (t watchedTable) Delete(ctx context.Context, pk, rk, etag string) error {
	err := t.Table.Delete(ctx, pk, rk, etag)
	if err == nil && rk == checkpointRK {
		t.w.notify(pk)
	}
	return err
}

// WaitOptions tune WaitForStatus.
type WaitOptions struct {
	// Interval is the first pause between status reads when no notification comes
	// (the instance runs in another process); it doubles up to MaxInterval. Default
	// 50 ms.
	Interval time.Duration
	// MaxInterval caps the pause between reads (default 1 s, at least Interval).
	MaxInterval time.Duration
}

// WaitForStatus returns once instanceID is Completed, Failed or Terminated, or ctx
// ends (then with the last status read, possibly nil, and ctx's error). A completion
// committed by this process is seen at once; one committed elsewhere within the
// current read interval, which grows from opts.Interval to opts.MaxInterval.
func (h *Hub) WaitForStatus(ctx context.Context, instanceID string, opts *WaitOptions) (*InstanceStatus, error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return nil, err
	}
	o := WaitOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	if o.MaxInterval <= 0 {
		o.MaxInterval = time.Second
	}
	o.MaxInterval = max(o.MaxInterval, o.Interval)
	// Subscribe before the first read, so a completion between read and wait is not
	// missed.
	done, cancel := h.watch.subscribe(storage.EscapeKey(instanceID))
	defer cancel()
	pause := o.Interval
	for {
		s, err := h.GetStatus(ctx, instanceID, nil)
		if err != nil && !errorsIsNotFound(err) {
			if ctx.Err() != nil {
				return s, ctx.Err()
			}
			return nil, err
		}
		if s != nil && s.RuntimeStatus.IsTerminal() {
			return s, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return s, ctx.Err()
		case <-done:
			t.Stop()
		case <-t.C:
			pause = min(pause*2, o.MaxInterval)
		}
	}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrInstanceNotFound) }
