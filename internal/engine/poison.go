package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
)

// PoisonErrorType is the ErrorType of the failure an orchestration sees for work that
// was given up on (its queue message was poisoned, or an entity operation kept killing
// the worker): a retry policy applies to it as to any other failure.
const PoisonErrorType = "PoisonMessage"

type dequeueKey struct{}

// WithDequeueCount tells the engine that the work done under ctx is the n-th delivery
// of its queue message (1 = first). A redelivered entity wake-up means an earlier
// attempt did not finish, so the entity applies its operations one at a time and
// counts the attempts (see entityEpisode).
func WithDequeueCount(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, dequeueKey{}, n)
}

func dequeueCount(ctx context.Context) int64 {
	n, _ := ctx.Value(dequeueKey{}).(int64)
	return n
}

// HandlePoison is called when a queue message is given up on. It records why
// (RecordPoison) and, for a message of the activity queue, completes every task the
// message holds as failed (ErrorType PoisonMessage, the reason in the message), through
// the normal completion path: inbox rows with deterministic ids plus a wake-up, so a
// repeated report is a duplicate and a late real result is dropped by task id. A
// batch of results whose report kept failing is delivered as it is (the activities
// did run). An error means some report was not delivered; the sweep re-drives such
// instances later (Sweep).
func (h *Hub) HandlePoison(ctx context.Context, rec PoisonRecord) error {
	err := h.RecordPoison(ctx, rec)
	if h.cfg.ActivityQueue != "" && rec.Queue == h.cfg.ActivityQueue {
		if rerr := h.reportPoisonedBatch(ctx, rec); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// decodeMessageText reads a poisoned message's JSON body, whether the caller passed
// the queue text (base64 under the default encoding) or the decoded body.
func decodeMessageText(text string) []byte {
	b := []byte(strings.TrimPrefix(text, "\ufeff"))
	if json.Valid(b) {
		return b
	}
	if d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text)); err == nil && json.Valid(d) {
		return d
	}
	return nil
}

func (h *Hub) reportPoisonedBatch(ctx context.Context, rec PoisonRecord) error {
	var b ActivityBatch
	body := decodeMessageText(rec.Text)
	if body == nil || json.Unmarshal(body, &b) != nil {
		return nil // malformed: it names no task to report
	}
	if len(b.Results) > 0 {
		return h.deliver(ctx, b.Results)
	}
	type key struct{ inst, exec string }
	groups := map[key][]history.Event{}
	firstTask := map[key]int{}
	var order []key
	now := h.now()
	for _, w := range b.Work {
		if w == nil || w.Instance == "" {
			continue
		}
		k := key{w.Instance, w.Execution}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			firstTask[k] = w.TaskID
		}
		groups[k] = append(groups[k], history.Event{Type: history.TaskFailed, ID: -1, Timestamp: now, TaskID: w.TaskID,
			Failure: &durable.FailureDetails{ErrorType: PoisonErrorType, ErrorMessage: fmt.Sprintf(
				"activity %s (task %d) was given up on (message %s on queue %s): %s", w.Name, w.TaskID, rec.MessageID, rec.Queue, rec.Reason)}})
	}
	var errs []error
	for _, k := range order {
		env := &Envelope{
			// Deterministic: a second report of the same poisoned batch is a duplicate.
			ID:         fmt.Sprintf("~poison|%s|%d|%d", k.exec, firstTask[k], len(groups[k])),
			TargetExec: k.exec,
			Events:     groups[k],
		}
		if err := h.sendEnvelopes(ctx, k.inst, []*Envelope{env}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		h.log.Error("could not report poisoned activities; the sweep will re-drive them", "message", rec.MessageID, "err", errors.Join(errs...))
	}
	return errors.Join(errs...)
}

// PoisonTableName is the table where the reasons for poisoned messages are kept, next
// to the messages themselves in <queue>-poison, so a user can find out why.
func PoisonTableName(hub string) string { return hub + "Poison" }

// PoisonRecord is one message that was given up on.
type PoisonRecord struct {
	Queue     string    `json:"queue"`
	MessageID string    `json:"messageId"`
	Reason    string    `json:"reason"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
}

// RecordPoison stores why a message was moved to a poison queue.
func (h *Hub) RecordPoison(ctx context.Context, rec PoisonRecord) error {
	t, err := h.acct.Table(ctx, PoisonTableName(h.cfg.TaskHub))
	if err != nil {
		return err
	}
	if rec.At.IsZero() {
		rec.At = h.now()
	}
	text := rec.Text
	if len(text) > 30000 {
		text = text[:30000] + "…"
	}
	row := &storage.Row{PartitionKey: storage.EscapeKey(rec.Queue), RowKey: storage.EscapeKey(rec.MessageID), Props: map[string]any{
		"Reason": truncate(rec.Reason, 30000), "Text": text, "At": rec.At,
	}}
	return t.Upsert(ctx, row)
}

// ListPoison returns the recorded poison messages, oldest first per queue.
func (h *Hub) ListPoison(ctx context.Context) ([]PoisonRecord, error) {
	t, err := h.acct.Table(ctx, PoisonTableName(h.cfg.TaskHub))
	if err != nil {
		return nil, err
	}
	var out []PoisonRecord
	opts := &storage.QueryOptions{}
	for {
		rows, next, err := t.Query(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			q, _ := storage.UnescapeKey(r.PartitionKey)
			id, _ := storage.UnescapeKey(r.RowKey)
			out = append(out, PoisonRecord{Queue: q, MessageID: id, Reason: r.String("Reason"), Text: r.String("Text"), At: r.Time("At")})
		}
		if next == "" {
			return out, nil
		}
		opts.Continuation = next
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:n], len(s))
}
