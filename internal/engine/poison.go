package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

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
