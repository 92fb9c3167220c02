package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

// rawBaseline is what Azurite does with the storage package alone, in the same run as
// the engine figures: the engine's figures are judged against it, not against numbers
// from another day or another machine. Rates are operations per second.
type rawBaseline struct {
	InsertSeq, InsertConc     float64
	Batch100Seq, Batch100Conc float64
	Batch5Seq                 float64
	GetSeq                    float64
	QuerySmall, QueryLarge    float64 // partition queries on a small and on a large table
	LargeRows                 int
	EnqSeq, EnqConc           float64
	DeqSeq, DeqConc           float64
	RecvSeqMs                 float64 // one receive of a 1-client dequeue, without the delete
}

// rawSizes are the operation counts of the baseline; each measurement also stops at
// maxDur so a loaded machine lengthens the run only a little.
type rawSizes struct {
	inserts, batches, reads, queries, sends, deqRounds int
	maxDur                                             time.Duration
}

// Payloads are the size of typical engine rows and messages (an envelope or a wake-up),
// so that the baseline moves about as many bytes per operation as the engine does.
var (
	rawBody = strings.Repeat("x", 300)
	rawMsg  = `{"instance":"@counter_entity@bench-key-000"}`
)

// The preload of a dequeue round stays in the low hundreds: Azurite's dequeue slows
// down with every message held in the account, and the baseline must show the shallow
// queue the engine works with, not a backlog.
const (
	seqPreload  = 200
	concPreload = 256
	concReaders = 4
)

// measureRaw runs the baseline on its own tables and queues and deletes them afterwards,
// so that none of its rows or messages slow down the engine's figures.
func measureRaw(ctx context.Context, acct *storage.Account, sz rawSizes, report func(name string, v float64, unit, note string), progress func(string)) (*rawBaseline, error) {
	show := func(name string, v float64, unit string) {
		note := ""
		if d := time.Duration(slowest.Swap(0)); d > time.Second {
			note = fmt.Sprintf("(one request took %.1fs: a stall)", d.Seconds())
		}
		report(name, v, unit, note)
	}
	nonce := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	tname := "rawbench" + nonce
	small := "rawsmall" + nonce
	var queues []string
	defer func() {
		cctx := context.WithoutCancel(ctx)
		_ = acct.DeleteTable(cctx, tname)
		_ = acct.DeleteTable(cctx, small)
		for _, q := range queues {
			_ = acct.DeleteQueue(cctx, q)
		}
	}()
	tbl, err := acct.Table(ctx, tname)
	if err != nil {
		return nil, err
	}
	newQueue := func() (storage.Queue, error) {
		name := fmt.Sprintf("rawq-%s-%d", nonce, len(queues))
		queues = append(queues, name)
		return acct.Queue(ctx, name)
	}
	dropQueue := func(q storage.Queue) { _ = acct.DeleteQueue(ctx, q.Name()) }
	row := func(pk string, i int) *storage.Row {
		return &storage.Row{PartitionKey: pk, RowKey: fmt.Sprintf("%08d", i), Props: map[string]any{"Body": rawBody, "N": int64(i)}}
	}
	b := &rawBaseline{}

	// Warm up Azurite's code paths so that the first measurement is not its JIT.
	if _, err := rate(100, 4, sz.maxDur, func(i int) error { return tbl.Insert(ctx, row("warm", i)) }); err != nil {
		return nil, err
	}
	wq, err := newQueue()
	if err != nil {
		return nil, err
	}
	if _, err := rate(100, 4, sz.maxDur, func(int) error { return wq.Send(ctx, rawMsg, 0) }); err != nil {
		return nil, err
	}
	dropQueue(wq)
	slowest.Store(0)

	progress("raw: table inserts")
	if b.InsertSeq, err = measure(sz.inserts, 1, sz.maxDur, func(i int) error { return tbl.Insert(ctx, row("seq", i)) }); err != nil {
		return nil, err
	}
	show("table inserts/s, 1 client", b.InsertSeq, "ops/s")
	if b.InsertConc, err = measure(sz.inserts*2, 16, sz.maxDur, func(i int) error { return tbl.Insert(ctx, row(fmt.Sprintf("c%02d", i%16), i)) }); err != nil {
		return nil, err
	}
	show("table inserts/s, 16 clients", b.InsertConc, "ops/s")

	progress("raw: batch transactions")
	batch := func(pk string, n int) error {
		ops := make([]storage.Op, n)
		for j := range ops {
			ops[j] = storage.Op{Kind: storage.OpInsert, Row: row(pk, j)}
		}
		return tbl.Batch(ctx, pk, ops)
	}
	if b.Batch100Seq, err = measure(sz.batches, 1, sz.maxDur, func(i int) error { return batch(fmt.Sprintf("bs%05d", i), 100) }); err != nil {
		return nil, err
	}
	show("100-row batch commits/s, 1 client", b.Batch100Seq, "batches/s")
	if b.Batch100Conc, err = measure(sz.batches*2, 4, sz.maxDur, func(i int) error { return batch(fmt.Sprintf("bc%05d", i), 100) }); err != nil {
		return nil, err
	}
	show("100-row batch commits/s, 4 clients", b.Batch100Conc, "batches/s")
	if b.Batch5Seq, err = measure(sz.batches*5, 1, sz.maxDur, func(i int) error { return batch(fmt.Sprintf("b5%05d", i), 5) }); err != nil {
		return nil, err
	}
	show("5-row batch commits/s, 1 client", b.Batch5Seq, "batches/s")

	progress("raw: reads and queries")
	if b.GetSeq, err = measure(sz.reads, 1, sz.maxDur, func(i int) error {
		_, err := tbl.Get(ctx, "seq", fmt.Sprintf("%08d", i%sz.inserts))
		if errors.Is(err, storage.ErrNotFound) {
			return nil // the insert run stopped early at its time limit
		}
		return err
	}); err != nil {
		return nil, err
	}
	show("point reads/s, 1 client", b.GetSeq, "ops/s")
	// The engine loads an instance with a partition query; Azurite answers a query by
	// scanning the table, so its cost grows with every row the table holds.
	st, err := acct.Table(ctx, small)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if err := st.Insert(ctx, row(fmt.Sprintf("p%02d", i%10), i)); err != nil {
			return nil, err
		}
	}
	if b.QuerySmall, err = measure(sz.queries, 1, sz.maxDur, func(i int) error {
		_, err := st.QueryPartition(ctx, fmt.Sprintf("p%02d", i%10))
		return err
	}); err != nil {
		return nil, err
	}
	show("partition queries/s, table of 100 rows", b.QuerySmall, "ops/s")
	if b.LargeRows, err = countRows(ctx, tbl); err != nil {
		return nil, err
	}
	if b.QueryLarge, err = measure(sz.queries, 1, sz.maxDur, func(i int) error {
		_, err := tbl.QueryPartition(ctx, fmt.Sprintf("c%02d", i%16))
		return err
	}); err != nil {
		return nil, err
	}
	show(fmt.Sprintf("partition queries/s, table of %d rows", b.LargeRows), b.QueryLarge, "ops/s")

	progress("raw: queue sends")
	enqueue := func(total, conc, round int) (float64, error) {
		var busy time.Duration
		var rates []float64
		for done := 0; done < total && busy < sz.maxDur; done += round {
			q, err := newQueue()
			if err != nil {
				return 0, err
			}
			start := time.Now()
			r, err := rate(min(round, total-done), conc, sz.maxDur, func(int) error { return q.Send(ctx, rawMsg, 0) })
			if err != nil {
				return 0, err
			}
			busy += time.Since(start)
			rates = append(rates, r)
			dropQueue(q) // keep the account's message count in the hundreds
		}
		return median(rates), nil
	}
	if b.EnqSeq, err = enqueue(sz.sends, 1, 300); err != nil {
		return nil, err
	}
	show("queue enqueues/s, 1 client", b.EnqSeq, "msgs/s")
	if b.EnqConc, err = enqueue(sz.sends*2, 16, 320); err != nil {
		return nil, err
	}
	show("queue enqueues/s, 16 clients", b.EnqConc, "msgs/s")

	progress("raw: queue receives")
	var recv time.Duration
	if b.DeqSeq, recv, err = dequeueRounds(ctx, newQueue, dropQueue, sz.deqRounds, seqPreload, 1, 1, sz.maxDur); err != nil {
		return nil, err
	}
	b.RecvSeqMs = ms(recv)
	show("dequeue+delete/s, 1 client", b.DeqSeq, "msgs/s")
	if b.DeqConc, _, err = dequeueRounds(ctx, newQueue, dropQueue, sz.deqRounds+1, concPreload, concReaders, 32, sz.maxDur); err != nil {
		return nil, err
	}
	show("dequeue+delete/s, 4 clients x 32", b.DeqConc, "msgs/s")
	return b, nil
}

// dequeueRounds preloads a fresh queue (not timed), then times draining it with
// readers that each receive up to per messages and delete them in parallel, as the
// engine's pollers do. It also returns the mean time of one receive.
func dequeueRounds(ctx context.Context, newQueue func() (storage.Queue, error), drop func(storage.Queue), rounds, preload, readers, per int, maxDur time.Duration) (float64, time.Duration, error) {
	var busy time.Duration
	var rates []float64
	var recvTime atomic.Int64
	var recvs atomic.Int64
	for r := 0; r < rounds && busy < maxDur; r++ {
		q, err := newQueue()
		if err != nil {
			return 0, 0, err
		}
		if _, err := rate(preload, 16, maxDur, func(int) error { return q.Send(ctx, rawMsg, 0) }); err != nil {
			return 0, 0, err
		}
		slowest.Store(0) // the preload is not measured
		var consumed atomic.Int64
		var firstErr errOnce
		fail := firstErr.set
		deadline := time.Now().Add(maxDur)
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < readers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for consumed.Load() < int64(preload) && time.Now().Before(deadline) {
					rs := time.Now()
					msgs, err := q.Receive(ctx, per, 30*time.Second)
					recvTime.Add(int64(time.Since(rs)))
					noteSlowest(time.Since(rs))
					recvs.Add(1)
					if err != nil {
						fail(err)
						return
					}
					if len(msgs) == 0 {
						time.Sleep(time.Millisecond) // the rest is held by another reader
						continue
					}
					var dw sync.WaitGroup
					for _, m := range msgs {
						dw.Add(1)
						go func() {
							defer dw.Done()
							if err := q.Delete(ctx, m); err != nil {
								fail(err)
							}
						}()
					}
					dw.Wait()
					consumed.Add(int64(len(msgs)))
				}
			}()
		}
		wg.Wait()
		busy += time.Since(start)
		rates = append(rates, float64(consumed.Load())/time.Since(start).Seconds())
		drop(q)
		if err := firstErr.get(); err != nil {
			return 0, 0, err
		}
	}
	return median(rates), time.Duration(recvTime.Load() / max(1, recvs.Load())), nil
}

// slowest is the longest single call of the measurements since it was last read: a
// stall of Azurite's shows up as one call of seconds, and is worth telling apart from
// a slow machine.
var slowest atomic.Int64

func noteSlowest(d time.Duration) {
	for {
		cur := slowest.Load()
		if int64(d) <= cur || slowest.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// measure is rate over three windows of n/3 calls each (and maxDur/3), and returns
// the median: a stall of Azurite's spoils one window, not the figure.
func measure(n, conc int, maxDur time.Duration, fn func(i int) error) (float64, error) {
	const windows = 3
	per := max(1, n/windows)
	var rates []float64
	for w, off := 0, 0; w < windows && off < n; w, off = w+1, off+per {
		cnt := per
		if w == windows-1 {
			cnt = n - off
		}
		base := off
		r, err := rate(cnt, conc, maxDur/windows, func(i int) error { return fn(base + i) })
		if err != nil {
			return 0, err
		}
		rates = append(rates, r)
	}
	return median(rates), nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rate runs fn for 0..n-1 from conc goroutines and returns completed calls per second.
// It stops starting calls after maxDur.
func rate(n, conc int, maxDur time.Duration, fn func(i int) error) (float64, error) {
	var next, done atomic.Int64
	var firstErr errOnce
	deadline := time.Now().Add(maxDur)
	start := time.Now()
	var wg sync.WaitGroup
	for p := 0; p < conc; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				cs := time.Now()
				if err := fn(i); err != nil {
					firstErr.set(err)
					return
				}
				noteSlowest(time.Since(cs))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := firstErr.get(); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func countRows(ctx context.Context, t storage.Table) (int, error) {
	n := 0
	opts := &storage.QueryOptions{Select: []string{"RowKey"}}
	for {
		rows, next, err := t.Query(ctx, opts)
		if err != nil {
			return 0, err
		}
		n += len(rows)
		if next == "" {
			return n, nil
		}
		opts.Continuation = next
	}
}

// rawFields lists the baseline's figures once, for merging passes and for the table.
var rawFields = []struct {
	name, unit, note string
	get              func(*rawBaseline) *float64
}{
	{"table inserts/s, 1 client", "ops/s", "300-byte rows", func(r *rawBaseline) *float64 { return &r.InsertSeq }},
	{"table inserts/s, 16 clients", "ops/s", "", func(r *rawBaseline) *float64 { return &r.InsertConc }},
	{"100-row batch commits/s, 1 client", "batches/s", "", func(r *rawBaseline) *float64 { return &r.Batch100Seq }},
	{"100-row batch commits/s, 4 clients", "batches/s", "", func(r *rawBaseline) *float64 { return &r.Batch100Conc }},
	{"5-row batch commits/s, 1 client", "batches/s", "the size of an engine episode's commit", func(r *rawBaseline) *float64 { return &r.Batch5Seq }},
	{"point reads/s, 1 client", "ops/s", "", func(r *rawBaseline) *float64 { return &r.GetSeq }},
	{"partition queries/s, table of 100 rows", "ops/s", "10-row partitions", func(r *rawBaseline) *float64 { return &r.QuerySmall }},
	{"partition queries/s, large table", "ops/s", "Azurite scans the whole table per query", func(r *rawBaseline) *float64 { return &r.QueryLarge }},
	{"queue enqueues/s, 1 client", "msgs/s", "rounds of 300 into a fresh queue", func(r *rawBaseline) *float64 { return &r.EnqSeq }},
	{"queue enqueues/s, 16 clients", "msgs/s", "", func(r *rawBaseline) *float64 { return &r.EnqConc }},
	{"queue receive, 1 client, 1 message", "ms", "without the delete", func(r *rawBaseline) *float64 { return &r.RecvSeqMs }},
	{"dequeue+delete/s, 1 client, 1 message per receive", "msgs/s", fmt.Sprintf("queue preloaded with %d and drained", seqPreload),
		func(r *rawBaseline) *float64 { return &r.DeqSeq }},
	{fmt.Sprintf("dequeue+delete/s, %d clients, 32 per receive", concReaders), "msgs/s",
		fmt.Sprintf("queue preloaded with %d and drained; deletes in parallel", concPreload), func(r *rawBaseline) *float64 { return &r.DeqConc }},
}

// meanRaw averages the passes field by field (nil without any). Each pass's figures
// are already medians of short windows, which is what keeps a stall of Azurite's
// out of them; what is left between passes is the machine's load drifting.
func meanRaw(ps []*rawBaseline) *rawBaseline {
	if len(ps) == 0 {
		return nil
	}
	m := &rawBaseline{}
	for _, f := range rawFields {
		for _, p := range ps {
			*f.get(m) += *f.get(p) / float64(len(ps))
		}
	}
	for _, p := range ps {
		m.LargeRows += p.LargeRows / len(ps)
	}
	return m
}

// rawFigures is the baseline's part of the table: the merged passes, with every
// pass's value in the note so that the machine's drift during the run is visible.
func rawFigures(m *rawBaseline, passes []*rawBaseline) []Figure {
	if m == nil {
		return nil
	}
	var out []Figure
	for _, f := range rawFields {
		note := f.note
		if f.get(m) == &m.QueryLarge {
			note = fmt.Sprintf("%d rows; %s", m.LargeRows, note)
		}
		if len(passes) > 1 {
			var strs []string
			for _, p := range passes {
				strs = append(strs, formatValue(*f.get(p)))
			}
			pn := "passes " + strings.Join(strs, " / ")
			if note == "" {
				note = pn
			} else {
				note = pn + "; " + note
			}
		}
		out = append(out, Figure{Group: "raw Azurite", Name: f.name, Value: *f.get(m), Unit: f.unit, Note: note})
	}
	return out
}
