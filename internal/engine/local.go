package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Local hand-off. A wake-up on the queue costs three requests (send, receive, delete)
// and carries no data: the inbox row is the record. When this process polls the
// instance queues itself (standalone mode), a wake-up it would send would most likely
// come back to it anyway, so it runs the episode itself instead:
//
//   - Activity results: the activity handler applies them in the orchestration's
//     episode before it returns, without writing an inbox row (applyDirect), so the
//     activity message stays invisible (leased) until the result is committed. If
//     this process dies meanwhile, the message reappears and the activities run again
//     (at least once, as always); a result applied twice is dropped by task id.
//   - Starts of new instances: the first episode's commit creates the instance
//     (startDirect).
//   - Any other message this process delivers (a restart, an entity's
//     answer, an event, a child's completion, a client's signal): the inbox row is
//     written first, then the target's episode runs in the background. If this
//     process dies before applying it, its successor's start-up sweep (or, if none
//     comes, the maintenance sweep after two minutes) wakes the instance; a failed
//     episode is retried through a queue wake-up at once.
//
// Under the Functions host the queue path stays: the host must see the work to scale
// and to invoke the handler, and any instance of the app may be the one invoked.
//
// Entities are handed off only once this process has finished an episode of theirs
// since it started ("proven"). Careful mode (poisoned operations) notices a worker that
// died during an entity episode by the queue's dequeue count; an episode run here has
// none, so if an operation kills the process, every later signal handed off would run
// it again. A restarted process has proven nothing, so its first episode of each
// entity comes through the queue; and its start-up sweep (SweepOptions.Recover) wakes every
// instance with rows older than the process through the queue in careful mode, so an
// operation that killed the last process is attempted under an attempt mark.

// localDispatch runs handed-off episodes in this process.
type localDispatch struct {
	ctx      context.Context
	sem      chan struct{}
	entities map[string]bool // entity names whose queue this process polls
	acquire  func(ctx context.Context, id string) (release func(), err error)
}

// DefaultLocalEpisodes bounds how many handed-off episodes run at once; past it, the
// queue takes the wake-ups (and the poller's own limits apply).
const DefaultLocalEpisodes = 64

// LocalHandoffOptions tunes EnableLocalHandoff.
type LocalHandoffOptions struct {
	// MaxEpisodes bounds the episodes running this way at once (0 = DefaultLocalEpisodes).
	MaxEpisodes int
	// Entities names the entities whose queues this process polls; only those are
	// handed off.
	Entities []string
	// Acquire, if set, takes the concurrency slot an episode of instance id needs
	// (host.json's maxConcurrentOrchestratorFunctions / maxConcurrentEntityFunctions,
	// shared with the queue poller), waiting for one; a handed-off episode runs
	// holding it.
	Acquire func(ctx context.Context, id string) (release func(), err error)
}

// EnableLocalHandoff makes this hub run the episodes of instances it sends messages to
// in this process, without a queue round trip, until ctx ends. Call it only where this
// process also polls the orchestrator queue (standalone mode).
func (h *Hub) EnableLocalHandoff(ctx context.Context, opts *LocalHandoffOptions) {
	o := LocalHandoffOptions{}
	if opts != nil {
		o = *opts
	}
	if o.MaxEpisodes <= 0 {
		o.MaxEpisodes = DefaultLocalEpisodes
	}
	ld := &localDispatch{ctx: ctx, sem: make(chan struct{}, o.MaxEpisodes), entities: map[string]bool{}, acquire: o.Acquire}
	for _, n := range o.Entities {
		ld.entities[strings.ToLower(n)] = true
	}
	h.local.Store(ld)
}

// handOff runs instance id's episode in this process if local hand-off is on, takes
// id, and has room (envs are the rows the caller just wrote to its inbox); false means
// the caller must wake the instance through its queue.
func (h *Hub) handOff(id string, envs []*Envelope) bool {
	ld := h.local.Load()
	if ld == nil || ld.ctx.Err() != nil {
		return false
	}
	if strings.HasPrefix(id, "@") {
		eid, err := durable.ParseEntityID(id)
		if err != nil || !ld.entities[eid.Name] || !h.proven.has(id) {
			return false
		}
	}
	select {
	case ld.sem <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() { <-ld.sem }()
		if ld.acquire != nil {
			release, err := ld.acquire(ld.ctx, id)
			if err != nil {
				return // shutting down: the start-up sweep of the next process finds the rows
			}
			defer release()
		}
		err := h.Process(withHanded(ld.ctx, id, envs, h.now()), id)
		if err == nil {
			return
		}
		h.retryLater(ld.ctx, id, err)
	}()
	return true
}

// localHandoff reports whether local hand-off is on.
func (h *Hub) localHandoff() bool {
	ld := h.local.Load()
	return ld != nil && ld.ctx.Err() == nil
}

// processHandedOff runs orchestration id's episode for a caller that wrote its inbox
// row and sent no wake-up. If the episode fails, a queue wake-up retries it (as
// HandleWakeUp does); an error means neither worked, and the caller's own message
// must be retried.
func (h *Hub) processHandedOff(ctx context.Context, id string, envs []*Envelope) error {
	err := h.Process(withHanded(ctx, id, envs, h.now()), id)
	if err == nil || h.retryLater(ctx, id, err) {
		return nil
	}
	return err
}

// retryLater retries instance id, whose handed-off episode failed with err, through a
// fresh (delayed) queue wake-up, as HandleWakeUp does, rather than leaving its rows to
// the sweep; false means the wake-up could not be sent either (the sweep, or the
// caller's own retry, finds the rows).
func (h *Hub) retryLater(ctx context.Context, id string, err error) bool {
	h.log.Warn("handed-off episode failed; retrying through the queue", "instance", id, "err", err)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if werr := h.wakeAfter(ctx, id, retryWakeDelay); werr != nil {
		h.log.Warn("could not re-queue a failed hand-off", "instance", id, "err", werr)
		return false
	}
	return true
}

// provenSet is the entities this process has finished an episode of since it
// started: those it may hand off (see above).
type provenSet struct {
	mu sync.Mutex
	m  map[string]bool
}

// maxProven bounds the set; forgetting costs a queue round trip per entity.
const maxProven = 10000

func (s *provenSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// set records whether entity id's last episode in this process ended well.
func (s *provenSet) set(id string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		delete(s.m, id)
		return
	}
	if s.m == nil || len(s.m) >= maxProven {
		s.m = map[string]bool{}
	}
	s.m[id] = true
}

// applyDirect applies envs, activity results this process holds the message of, to
// orchestration id without writing them to its inbox first: the episode's commit
// holds them (a row it does not consume is inserted by that same commit). That saves
// the insert of each step's result row. The activity message stays leased until this
// returns, so the guarantees are those of the stored path: if the process dies before
// the commit, the activities run again. When the commit cannot hold them (another
// goroutine of this process is at work on id, the episode ends without a commit, or
// loses a race), they are inserted as usual and the instance is processed from
// storage. An error means neither worked: the caller's message must be retried.
func (h *Hub) applyDirect(ctx context.Context, id string, envs []*Envelope) error {
	pk := storage.EscapeKey(id)
	if err := h.rehomeEnvelopes(ctx, pk, envs); err != nil {
		return err
	}
	f := h.claimIdle(ctx, id, directWait)
	if f == nil {
		if err := h.insertInbox(ctx, pk, envs); err != nil {
			return err
		}
		return h.processHandedOff(ctx, id, envs)
	}
	hd := newHanded(id, envs, h.now(), true)
	more, err := h.episode(context.WithValue(ctx, handedKey{}, hd), id)
	if hd.settled && err == nil {
		next, done := h.next(withoutHanded(ctx), id, f, more)
		if done {
			return nil
		}
		return h.drive(next, id, f)
	}
	if !hd.settled {
		if errors.Is(err, storage.ErrConflict) {
			h.counters.conflicts.Add(1)
		}
		if ierr := h.insertInbox(ctx, pk, envs); ierr != nil {
			h.release(id)
			return ierr
		}
		if errors.Is(err, storage.ErrConflict) || err == nil {
			// Stored now: go on from storage like any episode.
			return h.drive(withoutHanded(ctx), id, f)
		}
	}
	// Failed after the commit that applied them (delivering its outbox), or stored
	// after a failure: retry through the queue, as processHandedOff does.
	h.release(id)
	if h.retryLater(ctx, id, err) {
		return nil
	}
	return err
}

// startDirect creates orchestration id by committing its first episode, with the
// start env applied from memory: one batch holds the new checkpoint (an insert), the
// first history and the outbox, where the usual path writes the Pending instance
// first and then runs the episode on it. Only with local hand-off on, and only for an
// id this process is not working on. It reports whether the instance was created;
// on false (the id exists, so the insert lost, or the episode ended without a
// commit) nothing was written and the caller creates or refuses as usual.
func (h *Hub) startDirect(ctx context.Context, id string, env *Envelope) bool {
	ld := h.local.Load()
	if ld == nil || ld.ctx.Err() != nil {
		return false
	}
	f := h.claimIdle(ctx, id, 0)
	if f == nil {
		return false
	}
	pk := storage.EscapeKey(id)
	h.sessions.keep(id, &partition{pk: pk}) // as far as this process knows, nothing is there
	hd := newHanded(id, []*Envelope{env}, h.now(), true)
	more, err := h.episode(context.WithValue(ctx, handedKey{}, hd), id)
	if !hd.settled {
		h.sessions.drop(id)
		h.release(id)
		return false
	}
	if err != nil {
		// Created; delivering the outbox failed: the next episode delivers it.
		h.release(id)
		h.retryLater(ctx, id, err)
		return true
	}
	// Anything more (the episode left rows, or was handed some meanwhile) goes on in
	// the background, as a handed-off episode does.
	next, done := h.next(ld.ctx, id, f, more)
	if !done {
		go func() {
			if err := h.drive(next, id, f); err != nil {
				h.retryLater(ld.ctx, id, err)
			}
		}()
	}
	return true
}

// directWait bounds how long applyDirect waits for an episode of the same instance in
// this process to end before it stores its rows for that episode to read instead.
const directWait = time.Second

// wakeOrHandOff wakes instance id now (envs are the rows just written to its inbox): in
// this process when handOff takes it, else through its queue.
func (h *Hub) wakeOrHandOff(ctx context.Context, id string, envs ...*Envelope) error {
	if h.handOff(id, envs) {
		return nil
	}
	return h.wake(ctx, id, time.Time{})
}

// localState is the Hub's hand-off switch (nil: off).
type localState = atomic.Pointer[localDispatch]
