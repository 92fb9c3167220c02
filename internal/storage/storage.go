package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when a row or queue message does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrConflict is returned (wrapped) when a conditional write lost: the row already
// exists (insert) or its ETag changed (If-Match). The caller must reload, never overwrite.
var ErrConflict = errors.New("storage: conflict")

// Row is one table entity. Props holds string, int64, int32, bool, float64 and
// time.Time values; everything the engine persists is one of those.
type Row struct {
	PartitionKey string
	RowKey       string
	ETag         string
	Timestamp    time.Time
	Props        map[string]any
}

// String returns a string property or "".
func (r *Row) String(name string) string {
	s, _ := r.Props[name].(string)
	return s
}

// Int returns an integer property or 0.
func (r *Row) Int(name string) int64 {
	switch v := r.Props[name].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

// Bool returns a boolean property or false.
func (r *Row) Bool(name string) bool {
	b, _ := r.Props[name].(bool)
	return b
}

// Time returns a time property or the zero time.
func (r *Row) Time(name string) time.Time {
	t, _ := r.Props[name].(time.Time)
	return t
}

// OpKind is the kind of a write inside a batch transaction.
type OpKind int

// Batch operation kinds.
const (
	OpInsert  OpKind = iota // fails with ErrConflict if the row exists
	OpReplace               // If-Match on ETag ("*" for unconditional)
	OpUpsert                // insert or replace, unconditional
	OpDelete                // If-Match on ETag ("*" for unconditional)
)

// Op is one write of a batch transaction.
type Op struct {
	Kind OpKind
	Row  *Row   // for deletes only the keys are used
	ETag string // If-Match for Replace/Delete; "" means "*"
}

// BatchError tells which operation of a failed batch transaction failed. Nothing of
// the batch was written.
type BatchError struct {
	Index int // -1 when the service did not say
	Err   error
}

func (e *BatchError) Error() string { return "storage: batch failed: " + e.Err.Error() }
func (e *BatchError) Unwrap() error { return e.Err }

// QueryOptions narrows a table query.
type QueryOptions struct {
	Filter       string
	Select       []string
	Top          int32
	Continuation string // opaque token from a previous page
}

// Table is the engine's view of one Azure table.
type Table interface {
	Name() string
	Get(ctx context.Context, pk, rk string) (*Row, error)
	// QueryPartition returns every row of the partition, sorted by RowKey.
	QueryPartition(ctx context.Context, pk string) ([]*Row, error)
	// Query returns one page of rows and the continuation token of the next page ("" at the end).
	Query(ctx context.Context, opts *QueryOptions) ([]*Row, string, error)
	// Insert adds row; on success row.ETag is the new row's ETag.
	Insert(ctx context.Context, row *Row) error
	Upsert(ctx context.Context, row *Row) error
	// Replace writes row if its ETag is still etag ("" means unconditional); on
	// success row.ETag is the new ETag.
	Replace(ctx context.Context, row *Row, etag string) error
	Delete(ctx context.Context, pk, rk, etag string) error
	// Batch applies ops atomically; all rows must share partition pk; at most 100 ops.
	Batch(ctx context.Context, pk string, ops []Op) error
}

// Message is one dequeued queue message.
type Message struct {
	ID           string
	PopReceipt   string
	Text         string
	DequeueCount int64
	InsertedAt   time.Time
	NextVisible  time.Time
}

// Queue is the engine's view of one Azure queue.
type Queue interface {
	Name() string
	// Send enqueues text, invisible for delay (at most MaxQueueDelay).
	Send(ctx context.Context, text string, delay time.Duration) error
	Receive(ctx context.Context, max int, visibility time.Duration) ([]*Message, error)
	Delete(ctx context.Context, m *Message) error
	// Extend keeps m invisible for visibility more; m.PopReceipt is updated.
	Extend(ctx context.Context, m *Message, visibility time.Duration) error
	// Length is the approximate number of messages, visible or not.
	Length(ctx context.Context) (int, error)
}

// MaxQueueDelay is the longest visibility delay Azure queues accept; durable timers
// further away hop through several messages.
const MaxQueueDelay = 7*24*time.Hour - time.Minute

// MaxBatchOps is the most operations one entity-group transaction may hold.
const MaxBatchOps = 100
