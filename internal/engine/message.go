// Package engine runs orchestration and entity episodes on top of the storage package:
// it loads an instance's partition, applies the messages waiting in its inbox, commits
// the result with one conditional batch, and delivers what the instance sent. The
// decisions themselves come from the pure packages replay (orchestrations) and the
// entity executor in this package.
package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Envelope is one message between instances. It is persisted in the receiver's inbox
// (and, before delivery, in the sender's outbox). Its ID is deterministic — sender plus
// sender sequence — so a re-sent message lands on the same inbox row.
type Envelope struct {
	ID     string `json:"id"`
	Sender string `json:"from,omitempty"` // sender scope for deduplication; "" for clients
	Seq    int64  `json:"seq,omitempty"`  // sender sequence; 0 = no sequence deduplication
	// Origin is the orchestration (instance|execution) a message acts for; an entity
	// locked by a critical section serves only messages of its holder.
	Origin string    `json:"origin,omitempty"`
	DueAt  time.Time `json:"due,omitempty"`

	// Orchestration-bound messages.
	TargetExec string          `json:"exec,omitempty"` // "" = whatever execution is current
	Events     []history.Event `json:"events,omitempty"`

	// Entity-bound messages.
	Op *EntityOp `json:"op,omitempty"`
}

// OpKind says what an entity message asks for.
type OpKind string

// Entity message kinds.
const (
	OpSignal OpKind = "signal"
	OpCall   OpKind = "call"
	OpLock   OpKind = "lock"
	OpUnlock OpKind = "unlock"
)

// EntityOp is the body of an entity-bound message.
type EntityOp struct {
	Kind      OpKind          `json:"kind"`
	Operation string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	// Reply address for calls and lock grants.
	ReplyTo   string `json:"replyTo,omitempty"`
	ReplyExec string `json:"replyExec,omitempty"`
	TaskID    int    `json:"taskId,omitempty"`
	// Lock requests travel through LockSet in order; LockIndex is this hop.
	LockSet   []durable.EntityID `json:"lockSet,omitempty"`
	LockIndex int                `json:"lockIndex,omitempty"`
}

// Delivery is what an outbox row holds: envelopes for one target instance, or activity
// work items.
type Delivery struct {
	Target    string          `json:"target,omitempty"` // instance id (entity ids in @name@key form)
	Envelopes []*Envelope     `json:"envelopes,omitempty"`
	Work      []*ActivityWork `json:"work,omitempty"`
}

// ActivityWork is one activity invocation requested by an orchestration.
type ActivityWork struct {
	Instance  string          `json:"i"`
	Execution string          `json:"x"`
	TaskID    int             `json:"t"`
	Name      string          `json:"n"`
	Input     json.RawMessage `json:"in,omitempty"`
}

// WakeUp is the queue message that tells a worker an instance has inbox rows to apply.
// It carries no data: the inbox in table storage is the truth, so a lost or duplicated
// wake-up costs at most a wasted read.
type WakeUp struct {
	Instance string    `json:"w"`
	DueAt    time.Time `json:"due,omitempty"` // for hops of timers further away than a queue delay allows
	// Recover: sent by a start-up sweep for rows an earlier process may have died
	// working on; an entity is then processed in careful mode, as for a redelivery.
	Recover bool `json:"r,omitempty"`
}

// ActivityBatch is the queue message of the activity queue: several work items per
// message keeps the number of queued messages small (Azurite slows down with depth).
type ActivityBatch struct {
	Work []*ActivityWork `json:"a,omitempty"`
	// Results are finished work whose report failed once; they are delivered without
	// running the activities again.
	Results []*Delivery `json:"r,omitempty"`
}

// Row key layout inside an instance partition. The checkpoint sorts first.
const (
	checkpointRK = "!"
	historyPfx   = "h"
	inboxPfx     = "i"
	outboxPfx    = "o"
)

func inboxRK(id string) string  { return inboxPfx + storage.EscapeKey(id) }
func outboxRK(id string) string { return outboxPfx + storage.EscapeKey(id) }

// MessageID builds the deterministic id of the seq-th message of sender.
func MessageID(sender string, seq int64) string {
	return fmt.Sprintf("%s|%016x", sender, seq)
}
