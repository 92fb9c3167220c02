package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/google/uuid"
)

// namespace for deterministic ids minted by the engine.
var idNamespace = uuid.MustParse("7b1f5b8e-4a8a-4d3e-9f0e-3c1d2b6a9e51")

func durableUUID(scope string, n int64) string {
	return uuid.NewSHA1(idNamespace, []byte(fmt.Sprintf("%s#%d", scope, n))).String()
}

// ErrInvalidKey is returned for entity keys that cannot be stored.
var ErrInvalidKey = durable.ErrInvalidKey

// ValidateEntityID rejects entity ids that cannot be stored: a name or key that is
// not valid UTF-8, or an id longer than MaxIDLength once escaped (ErrInvalidKey).
func ValidateEntityID(id durable.EntityID) error {
	// Before lower-casing, which turns invalid bytes into U+FFFD.
	if id.Name == "" || !utf8.ValidString(id.Name) {
		return fmt.Errorf("%w: entity name must be non-empty UTF-8", ErrInvalidKey)
	}
	id = durable.NewEntityID(id.Name, id.Key)
	if err := storage.ValidateKeyMax("entity key", id.Key, MaxIDLength); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	if n := len(storage.EscapeKey(id.String())); n > MaxIDLength {
		return fmt.Errorf("%w: entity key is too long (%d bytes once escaped with its name, at most %d)", ErrInvalidKey, n, MaxIDLength)
	}
	return nil
}

// clientSender is the sender scope of messages from clients (HTTP, CLI). Client
// messages have unique ids but no sequence: they carry no ordering promise, as in DF.
const clientSender = "~client"

// SignalOptions tunes SignalEntity.
type SignalOptions struct {
	// At delays delivery until then (scheduled signal).
	At time.Time
	// IdempotencyKey makes client retries safe: a second signal with the same key to
	// the same entity is dropped for at least IdempotencyRetention after the first was
	// applied, however many keys the entity sees.
	IdempotencyKey string
}

// IdempotencyRetention is how long an entity remembers the idempotency keys it applied.
const IdempotencyRetention = time.Hour

// idemSenderPrefix marks the sender scope of a keyed client signal: each key is its own
// sender with sequence 1, so the entity's per-sender marks drop any repeat.
const idemSenderPrefix = "~idem|"

func idemSender(key string) string {
	sum := sha256.Sum256([]byte(key))
	return idemSenderPrefix + hex.EncodeToString(sum[:12])
}

// SignalEntity sends a one-way operation to an entity: 2 storage requests (inbox
// insert, wake-up), or 1 where the entity's episode is handed off in this process.
func (h *Hub) SignalEntity(ctx context.Context, id durable.EntityID, operation string, input json.RawMessage, opts *SignalOptions) error {
	id = durable.NewEntityID(id.Name, id.Key)
	if _, ok := h.cfg.EntityQueues[id.Name]; !ok {
		return fmt.Errorf("%w %q", ErrUnknownEntity, id.Name)
	}
	if err := ValidateEntityID(id); err != nil {
		return err
	}
	input, err := h.externalize(ctx, storage.EscapeKey(id.String()), input)
	if err != nil {
		return err
	}
	env := &Envelope{Op: &EntityOp{Kind: OpSignal, Operation: operation, Input: input}}
	if opts != nil {
		env.DueAt = opts.At.UTC()
		if opts.IdempotencyKey != "" {
			env.Sender, env.Seq = idemSender(opts.IdempotencyKey), 1
			env.ID = MessageID(env.Sender, 1)
		}
	}
	if env.ID == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return err
		}
		env.ID = clientSender + "|" + u.String()
	}
	return h.sendEnvelopes(ctx, id.String(), []*Envelope{env})
}

// EntitySnapshot is an entity's committed state.
type EntitySnapshot struct {
	ID           durable.EntityID
	Exists       bool // false when the entity has no state
	State        json.RawMessage
	LastModified time.Time
	LockedBy     string
}

// ReadEntity returns the last committed state of an entity: one storage request.
func (h *Hub) ReadEntity(ctx context.Context, id durable.EntityID) (*EntitySnapshot, error) {
	id = durable.NewEntityID(id.Name, id.Key)
	if err := ValidateEntityID(id); err != nil {
		return nil, err
	}
	row, err := h.instances.Get(ctx, storage.EscapeKey(id.String()), checkpointRK)
	if errors.Is(err, storage.ErrNotFound) {
		return &EntitySnapshot{ID: id}, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := decodeEntity(id, row)
	if err != nil {
		return nil, err
	}
	if st.HasState {
		if st.State, err = h.internalize(ctx, st.State); err != nil {
			return nil, err
		}
	}
	snap := &EntitySnapshot{ID: id, Exists: st.HasState, State: st.State, LastModified: st.Modified}
	if st.Lock != nil {
		snap.LockedBy = st.Lock.Origin
	}
	return snap, nil
}

// DeliverForTest inserts envelopes into an instance's inbox (in order) and wakes it,
// exactly as a sender's outbox delivery does; tests use it to simulate redeliveries
// and many senders.
func (h *Hub) DeliverForTest(ctx context.Context, target string, envs ...*Envelope) error {
	return h.sendEnvelopes(ctx, target, envs)
}
