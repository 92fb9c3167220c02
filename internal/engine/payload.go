package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Large values (inputs, outputs, results, entity state) do not fit in a queue message
// or comfortably in a history row. Above inlineLimit they are stored out of line, as
// payload rows "p<sha256>|NNNN" in the partition of the instance that produced them,
// and replaced by a reference; readers resolve references before user code sees
// them. Payload rows live and die with their instance's partition (purge deletes
// them), are content-addressed (a retried write rewrites the same rows), and are
// written before the commit that refers to them.
const (
	inlineLimit = 32 << 10
	payloadPfx  = "p"
	// DefaultMaxPayload is the largest value accepted anywhere unless configured.
	DefaultMaxPayload = 16 << 20
)

// ErrPayloadTooLarge is returned for values above the configured maximum.
var ErrPayloadTooLarge = errors.New("payload too large")

// payloadRef is the JSON that stands in for an out-of-line value.
type payloadRef struct {
	Ref struct {
		PK   string `json:"pk"`
		ID   string `json:"id"`
		Rows int    `json:"n"`
		Len  int    `json:"len"`
	} `json:"$durablePayload"`
}

var refPrefix = []byte(`{"$durablePayload":`)

func isRef(b []byte) bool { return bytes.HasPrefix(b, refPrefix) }

// payloadCache keeps recently used payloads by content hash: they never change, so
// entries are always valid. It is bounded by total bytes.
type payloadCache struct {
	mu    sync.Mutex
	data  map[string][]byte
	bytes int
}

const payloadCacheBytes = 128 << 20

func (c *payloadCache) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.data[id]
	return b, ok
}

func (c *payloadCache) put(id string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.data == nil || c.bytes+len(b) > payloadCacheBytes {
		c.data, c.bytes = map[string][]byte{}, 0
	}
	if _, ok := c.data[id]; !ok {
		c.data[id] = b
		c.bytes += len(b)
	}
}

func (c *payloadCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.data[id]; ok {
		c.bytes -= len(b)
		delete(c.data, id)
	}
}

// dropPartition forgets every payload of partition pk (its rows are being deleted).
func (c *payloadCache) dropPartition(pk string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := pk + "|"
	for k, b := range c.data {
		if strings.HasPrefix(k, prefix) {
			c.bytes -= len(b)
			delete(c.data, k)
		}
	}
}

func (h *Hub) maxPayload() int {
	if h.cfg.MaxPayloadBytes > 0 {
		return h.cfg.MaxPayloadBytes
	}
	return DefaultMaxPayload
}

// externalize returns v itself when small, else stores it in partition pk and
// returns a reference.
func (h *Hub) externalize(ctx context.Context, pk string, v json.RawMessage) (json.RawMessage, error) {
	if len(v) <= inlineLimit || isRef(v) {
		return v, nil
	}
	if len(v) > h.maxPayload() {
		return nil, fmt.Errorf("%w: %d bytes, the maximum is %d (DURABLE_MAX_PAYLOAD_BYTES)", ErrPayloadTooLarge, len(v), h.maxPayload())
	}
	sum := sha256.Sum256(v)
	id := hex.EncodeToString(sum[:])
	ascii := storage.ASCIIJSON(v)
	var rows []*storage.Row
	for off, i := 0, 0; off < len(ascii); i++ {
		end := min(off+storage.MaxChunkedBytes, len(ascii))
		row := &storage.Row{PartitionKey: pk, RowKey: fmt.Sprintf("%s%s|%04d", payloadPfx, id, i), Props: map[string]any{}}
		if err := storage.SetChunked(row.Props, "D", ascii[off:end]); err != nil {
			return nil, err
		}
		rows = append(rows, row)
		off = end
	}
	if !h.payloadStored(ctx, pk, id) {
		// Batches of a few rows stay under the 4 MiB transaction limit.
		for i := 0; i < len(rows); i += 6 {
			var ops []storage.Op
			for _, r := range rows[i:min(i+6, len(rows))] {
				ops = append(ops, storage.Op{Kind: storage.OpUpsert, Row: r})
			}
			if err := h.instances.Batch(ctx, pk, ops); err != nil {
				return nil, fmt.Errorf("store payload: %w", err)
			}
		}
		h.payloads.put(pk+"|"+id, v)
	}
	var ref payloadRef
	ref.Ref.PK, ref.Ref.ID, ref.Ref.Rows, ref.Ref.Len = pk, id, len(rows), len(v)
	return json.Marshal(ref)
}

// payloadStored tells whether payload id's rows are known to be in partition pk. The
// cache alone cannot say: another process may have purged or deleted the rows since
// this one wrote or read them (and a retried episode after such a delete must write
// them again), so a cache hit is confirmed by reading one row's key.
func (h *Hub) payloadStored(ctx context.Context, pk, id string) bool {
	if _, cached := h.payloads.get(pk + "|" + id); !cached {
		return false
	}
	rows, _, err := h.instances.Query(ctx, &storage.QueryOptions{
		Filter: "PartitionKey eq " + storage.Quote(pk) + " and RowKey eq " + storage.Quote(fmt.Sprintf("%s%s|%04d", payloadPfx, id, 0)),
		Select: []string{"RowKey"},
	})
	if err == nil && len(rows) == 1 {
		return true
	}
	h.payloads.drop(pk + "|" + id)
	return false
}

// internalize resolves a reference made by externalize; other values pass through.
func (h *Hub) internalize(ctx context.Context, v json.RawMessage) (json.RawMessage, error) {
	if !isRef(v) {
		return v, nil
	}
	var ref payloadRef
	if err := json.Unmarshal(v, &ref); err != nil {
		return v, nil // user data that merely looks like a reference
	}
	key := ref.Ref.PK + "|" + ref.Ref.ID
	if b, ok := h.payloads.get(key); ok {
		return b, nil
	}
	prefix := payloadPfx + ref.Ref.ID + "|"
	rows, _, err := h.instances.Query(ctx, &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s",
		storage.Quote(ref.Ref.PK), storage.Quote(prefix), storage.Quote(prefix+"~"))})
	if err != nil {
		return nil, fmt.Errorf("load payload %s: %w", ref.Ref.ID, err)
	}
	if len(rows) != ref.Ref.Rows {
		return nil, fmt.Errorf("payload %s: %d of %d rows found (was its instance purged?): %w", ref.Ref.ID, len(rows), ref.Ref.Rows, errPayloadMissing)
	}
	var buf []byte
	for _, r := range rows {
		buf = append(buf, storage.GetChunked(r, "D")...)
	}
	// Undo the ASCII escaping by a round trip through a generic value.
	var anyv any
	if err := json.Unmarshal(buf, &anyv); err != nil {
		return nil, fmt.Errorf("payload %s is corrupt: %w", ref.Ref.ID, err)
	}
	h.payloads.put(key, buf)
	return buf, nil
}

// internalizeEvents resolves references in events' payload fields, in place.
func (h *Hub) internalizeEvents(ctx context.Context, evs []history.Event) error {
	for i := range evs {
		var err error
		if evs[i].Input, err = h.internalize(ctx, evs[i].Input); err != nil {
			return err
		}
		if evs[i].Result, err = h.internalize(ctx, evs[i].Result); err != nil {
			return err
		}
	}
	return nil
}

// externalizeEvents stores large payload fields of events out of line, in place.
func (h *Hub) externalizeEvents(ctx context.Context, pk string, evs []history.Event) error {
	for i := range evs {
		var err error
		if evs[i].Input, err = h.externalize(ctx, pk, evs[i].Input); err != nil {
			return err
		}
		if evs[i].Result, err = h.externalize(ctx, pk, evs[i].Result); err != nil {
			return err
		}
	}
	return nil
}

// deletePayload removes a payload's rows (best effort: leftovers are only garbage).
func (h *Hub) deletePayload(ctx context.Context, v json.RawMessage) {
	var ref payloadRef
	if json.Unmarshal(v, &ref) != nil {
		return
	}
	h.payloads.drop(ref.Ref.PK + "|" + ref.Ref.ID)
	var ops []storage.Op
	for i := 0; i < ref.Ref.Rows; i++ {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: ref.Ref.PK, RowKey: fmt.Sprintf("%s%s|%04d", payloadPfx, ref.Ref.ID, i)}})
	}
	if err := h.deleteRows(ctx, ref.Ref.PK, ops); err != nil {
		h.log.Warn("could not delete an old payload", "payload", ref.Ref.ID, "err", err)
	}
}

// errPayloadMissing marks a reference whose rows are gone (its partition was purged).
var errPayloadMissing = errors.New("payload rows missing")

// refOf decodes v as a payload reference.
func refOf(v json.RawMessage) (payloadRef, bool) {
	var ref payloadRef
	if !isRef(v) || json.Unmarshal(v, &ref) != nil || ref.Ref.ID == "" {
		return ref, false
	}
	return ref, true
}

// rehome makes v, when it refers to a payload in another partition, refer to a copy in
// partition pk instead. Messages carry large values into the receiver's own
// partition on delivery: an instance's rows then never depend on another partition,
// so instances can be purged and entities deleted in any order.
func (h *Hub) rehome(ctx context.Context, pk string, v json.RawMessage) (json.RawMessage, error) {
	ref, ok := refOf(v)
	if !ok || ref.Ref.PK == pk {
		return v, nil
	}
	full, err := h.internalize(ctx, v)
	if errors.Is(err, errPayloadMissing) {
		// Nothing left to copy: deliver the reference as it is, so the receiver
		// reports the loss instead of the sender's delivery being stuck on it.
		h.log.Warn("delivering a message whose large value was deleted", "payload", ref.Ref.ID, "from", ref.Ref.PK, "to", pk)
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	return h.externalize(ctx, pk, full)
}

// rehomeEnvelopes rehomes every large value envelopes carry into partition pk, in place.
func (h *Hub) rehomeEnvelopes(ctx context.Context, pk string, envs []*Envelope) error {
	for _, e := range envs {
		if e.Op != nil {
			var err error
			if e.Op.Input, err = h.rehome(ctx, pk, e.Op.Input); err != nil {
				return err
			}
		}
		for i := range e.Events {
			var err error
			if e.Events[i].Input, err = h.rehome(ctx, pk, e.Events[i].Input); err != nil {
				return err
			}
			if e.Events[i].Result, err = h.rehome(ctx, pk, e.Events[i].Result); err != nil {
				return err
			}
		}
	}
	return nil
}

// envelopePayloads adds the payloads in partition pk that envelopes refer to, as
// id → number of rows.
func envelopePayloads(pk string, envs []*Envelope, into map[string]int) {
	add := func(v json.RawMessage) {
		if ref, ok := refOf(v); ok && ref.Ref.PK == pk {
			into[ref.Ref.ID] = ref.Ref.Rows
		}
	}
	for _, e := range envs {
		if e == nil {
			continue
		}
		if e.Op != nil {
			add(e.Op.Input)
		}
		for _, ev := range e.Events {
			add(ev.Input)
			add(ev.Result)
		}
	}
}

// payloadDeleteOps deletes the rows of payloads (id → rows) in partition pk.
func payloadDeleteOps(pk string, payloads map[string]int) []storage.Op {
	var ops []storage.Op
	for id, n := range payloads {
		for i := 0; i < n; i++ {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: pk, RowKey: fmt.Sprintf("%s%s|%04d", payloadPfx, id, i)}})
		}
	}
	return ops
}

// payloadIDOf returns the payload id of a payload row key "p<id>|NNNN".
func payloadIDOf(rk string) (string, bool) {
	if !strings.HasPrefix(rk, payloadPfx) {
		return "", false
	}
	id, _, ok := strings.Cut(rk[len(payloadPfx):], "|")
	return id, ok
}
