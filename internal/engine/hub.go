package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/storage"
)

// Config wires a Hub to its storage names and user code.
type Config struct {
	// TaskHub prefixes every table of the app; lower-case letters and digits.
	TaskHub string
	// OrchestratorQueue receives wake-ups of orchestration instances.
	OrchestratorQueue string
	// ActivityQueue receives activity work items.
	ActivityQueue string
	// EntityQueues maps an entity name (lower case) to the queue of its function.
	EntityQueues map[string]string
	Registry     *durable.Registry
	Logger       *slog.Logger
	// Base64Messages encodes queue message text as base64, as the Functions host
	// expects unless host.json sets extensions.queues.messageEncoding to "none".
	Base64Messages bool
	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time
	// MaxInboxPerEpisode caps how many inbox rows one episode consumes so that a
	// commit stays within the 100-operation batch limit.
	MaxInboxPerEpisode int
	// MaxPayloadBytes is the largest input, output, result, event or state accepted
	// (0 = DefaultMaxPayload).
	MaxPayloadBytes int
	// MaxDequeueCount is host.json's maxDequeueCount (0 = 5): an entity operation
	// whose application was attempted this many times without finishing (the worker
	// died each time) is poisoned instead of being tried again.
	MaxDequeueCount int
	// RedriveAfter is how long a Running orchestration may wait on activity work
	// without any progress before the sweep sends that work again (0 = 30 minutes).
	RedriveAfter time.Duration
	// InstanceIDSecret keys the derivation of idempotent instance ids (at least
	// MinInstanceIDSecret bytes; every process of the app must use the same). Empty:
	// a random secret kept in the hub's secrets table.
	InstanceIDSecret string
	// MaxConcurrentActivities bounds the activity functions this process runs at once
	// (host.json maxConcurrentActivityFunctions); 0 means no bound. A queue message
	// carries several work items, so the bound is on functions, not messages.
	MaxConcurrentActivities int
	// Versioning is host.json's orchestration versioning (defaultVersion,
	// versionMatchStrategy, versionFailureStrategy); the zero value turns it off.
	Versioning Versioning
}

var hubNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{2,40}$`)

// ValidateTaskHub checks a task hub name: it becomes part of table and queue names.
func ValidateTaskHub(name string) error {
	if !hubNameRE.MatchString(name) {
		return fmt.Errorf("task hub name %q must be 3-41 lower-case letters or digits, starting with a letter", name)
	}
	return nil
}

// Hub is one task hub: the durable state of an app's orchestrations and entities.
type Hub struct {
	cfg       Config
	acct      *storage.Account
	log       *slog.Logger
	instances storage.Table

	qmu    sync.Mutex
	queues map[string]storage.Queue

	fmu      sync.Mutex
	inflight map[string]*flight

	wmu   sync.Mutex
	wakes map[string]*wakeState

	payloads payloadCache
	local    localState   // episodes handed off in this process (see local.go)
	proven   provenSet    // entities this process may hand off (local.go)
	sessions sessionCache // partitions as this process last committed them (session.go)

	smu    sync.Mutex
	secret []byte // of idempotent instance ids, once known

	activitySlots chan struct{} // MaxConcurrentActivities; nil: unbounded

	watch    statusWatch // completion notifications (notify.go)
	counters hubCounters // contention counters (stats.go)
}

// wakeState remembers this process's recent wake-ups of one instance, to coalesce a
// burst of sends into few queue messages (Azurite's dequeue slows down with every
// message held in the account; on Azure, fewer messages are fewer transactions).
type wakeState struct {
	windowStart  time.Time
	recent       int       // immediate wake-ups sent since windowStart
	coveredUntil time.Time // a wake-up is already queued that becomes visible after this
}

// Coalescing parameters: past burstWakes immediate wake-ups of one instance within
// burstWindow, wake-ups are delayed by coalesceDelay and every send until then shares
// that one message. The
// margin absorbs clock differences between this process and the queue service. The
// receiving worker keeps re-reading a busy instance (see Process), so in a burst
// rows are usually applied before the delayed wake-up even arrives.
const (
	burstWindow   = time.Second
	burstWakes    = 16
	coalesceDelay = time.Second // queue visibility has whole-second resolution
	wakeMargin    = 25 * time.Millisecond
)

// flight is an instance this process is running episodes of. dirty asks the loop
// for another episode; handed holds inbox rows this process wrote meanwhile and
// handed to the loop (see session.go), and reread says someone else may have
// written too, so the next episode must read the partition.
type flight struct {
	dirty  bool
	reread bool
	handed []*inboxRow
	done   chan struct{} // closed when the claim ends
	// finishing: the episode has committed and delivers its outbox; waiter: an
	// applyDirect waits for the claim (see claimIdle).
	finishing, waiter bool
}

// InstancesTableName is the table that holds every instance partition of a hub.
func InstancesTableName(hub string) string { return hub + "Instances" }

// New opens (and creates, if needed) the hub's tables and queues.
func New(ctx context.Context, acct *storage.Account, cfg Config) (*Hub, error) {
	if err := ValidateTaskHub(cfg.TaskHub); err != nil {
		return nil, err
	}
	if cfg.Registry == nil {
		cfg.Registry = durable.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxInboxPerEpisode <= 0 {
		cfg.MaxInboxPerEpisode = 90
	}
	if cfg.MaxDequeueCount <= 0 {
		cfg.MaxDequeueCount = 5
	}
	if cfg.RedriveAfter <= 0 {
		cfg.RedriveAfter = DefaultRedriveAfter
	}
	norm := map[string]string{}
	for k, v := range cfg.EntityQueues {
		norm[strings.ToLower(k)] = v
	}
	cfg.EntityQueues = norm
	if cfg.InstanceIDSecret != "" && len(cfg.InstanceIDSecret) < MinInstanceIDSecret {
		return nil, fmt.Errorf("%s must be at least %d characters", SettingInstanceIDSecret, MinInstanceIDSecret)
	}
	h := &Hub{cfg: cfg, acct: acct, log: cfg.Logger, queues: map[string]storage.Queue{}, inflight: map[string]*flight{}, wakes: map[string]*wakeState{}}
	if cfg.InstanceIDSecret != "" {
		h.secret = []byte(cfg.InstanceIDSecret)
	}
	if cfg.MaxConcurrentActivities > 0 {
		h.activitySlots = make(chan struct{}, cfg.MaxConcurrentActivities)
	}
	var err error
	if h.instances, err = acct.Table(ctx, InstancesTableName(cfg.TaskHub)); err != nil {
		return nil, err
	}
	h.instances = watchedTable{Table: h.instances, w: &h.watch}
	for _, q := range h.allQueueNames() {
		if _, err := h.queue(ctx, q); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Account is the storage account the hub runs on.
func (h *Hub) Account() *storage.Account { return h.acct }

// Registry is the user code the hub runs.
func (h *Hub) Registry() *durable.Registry { return h.cfg.Registry }

// Instances is the table holding instance partitions (tests inspect it).
func (h *Hub) Instances() storage.Table { return h.instances }

func (h *Hub) now() time.Time { return h.cfg.Now().UTC() }

func (h *Hub) allQueueNames() []string {
	var out []string
	if h.cfg.OrchestratorQueue != "" {
		out = append(out, h.cfg.OrchestratorQueue)
	}
	if h.cfg.ActivityQueue != "" {
		out = append(out, h.cfg.ActivityQueue)
	}
	for _, q := range h.cfg.EntityQueues {
		out = append(out, q)
	}
	return out
}

func (h *Hub) queue(ctx context.Context, name string) (storage.Queue, error) {
	h.qmu.Lock()
	q := h.queues[name]
	h.qmu.Unlock()
	if q != nil {
		return q, nil
	}
	q, err := h.acct.Queue(ctx, name)
	if err != nil {
		return nil, err
	}
	h.qmu.Lock()
	h.queues[name] = q
	h.qmu.Unlock()
	return q, nil
}

// ErrUnknownEntity is returned when no entity function handles an entity name.
var ErrUnknownEntity = durable.ErrUnknownEntity

// queueFor names the queue whose trigger processes instance id.
func (h *Hub) queueFor(id string) (string, error) {
	if strings.HasPrefix(id, "@") {
		eid, err := durable.ParseEntityID(id)
		if err != nil {
			return "", err
		}
		q, ok := h.cfg.EntityQueues[eid.Name]
		if !ok {
			return "", fmt.Errorf("%w %q: no entity function folder declares it", ErrUnknownEntity, eid.Name)
		}
		return q, nil
	}
	if h.cfg.OrchestratorQueue == "" {
		return "", errors.New("no orchestrator queue configured")
	}
	return h.cfg.OrchestratorQueue, nil
}

// EncodeText applies the configured queue message encoding.
func (h *Hub) EncodeText(b []byte) string {
	b = storage.ASCIIJSON(b)
	if h.cfg.Base64Messages {
		return base64.StdEncoding.EncodeToString(b)
	}
	return string(b)
}

// instanceQueue is the queue that carries instance id's wake-ups.
func (h *Hub) instanceQueue(ctx context.Context, id string) (storage.Queue, error) {
	qname, err := h.queueFor(id)
	if err != nil {
		return nil, err
	}
	return h.queue(ctx, qname)
}

// wake enqueues a wake-up for instance id, delayed until due (zero = now).
func (h *Hub) wake(ctx context.Context, id string, due time.Time) error {
	h.sessions.drop(id) // a row was written, or someone wants the instance read
	q, err := h.instanceQueue(ctx, id)
	if err != nil {
		return err
	}
	var delay time.Duration
	if !due.IsZero() {
		delay = due.Sub(h.now())
	}
	immediate := delay <= 0
	sentAt := time.Now()
	if immediate {
		// This process is working on the instance right now: marking it dirty makes
		// that loop read the partition again after this row was written; if the loop
		// fails, its own message is retried, which reads the row too.
		h.fmu.Lock()
		if f := h.inflight[id]; f != nil {
			f.dirty, f.reread = true, true
			h.fmu.Unlock()
			return nil
		}
		h.fmu.Unlock()
		// A row written before this call is seen by any wake-up that becomes visible
		// after now: one already queued for later covers it.
		h.wmu.Lock()
		st := h.wakes[id]
		if st == nil {
			if len(h.wakes) > 10000 {
				clear(h.wakes) // forgetting only costs extra wake-ups
			}
			st = &wakeState{}
			h.wakes[id] = st
		}
		if st.coveredUntil.After(sentAt.Add(wakeMargin)) {
			h.wmu.Unlock()
			return nil
		}
		if sentAt.Sub(st.windowStart) > burstWindow {
			st.windowStart, st.recent = sentAt, 0
		}
		st.recent++
		if st.recent > burstWakes {
			delay = coalesceDelay
		}
		h.wmu.Unlock()
	}
	w := WakeUp{Instance: id}
	if delay > storage.MaxQueueDelay {
		w.DueAt = due
	}
	b, _ := json.Marshal(w)
	if err := q.Send(ctx, h.EncodeText(b), delay); err != nil {
		return err
	}
	if immediate && delay > 0 {
		h.wmu.Lock()
		if st := h.wakes[id]; st != nil && sentAt.Add(delay).After(st.coveredUntil) {
			st.coveredUntil = sentAt.Add(delay)
		}
		h.wmu.Unlock()
	}
	return nil
}

// HandleWakeUp processes the instance a wake-up message names. It returns nil once the
// instance's due inbox rows are applied (the message may then be deleted).
func (h *Hub) HandleWakeUp(ctx context.Context, body []byte) error {
	var w WakeUp
	if err := json.Unmarshal(body, &w); err != nil || w.Instance == "" {
		return fmt.Errorf("%w: not a wake-up message: %.100q", ErrBadMessage, body)
	}
	h.sessions.drop(w.Instance) // the sender may have written rows this process has not seen
	if !w.DueAt.IsZero() && w.DueAt.Sub(h.now()) > time.Minute {
		// A timer further away than one queue delay: hop.
		return h.wake(ctx, w.Instance, w.DueAt)
	}
	if n := dequeueCount(ctx); n > 1 || w.Recover {
		// An earlier delivery did not finish: the worker died in the middle of it.
		ctx = withCareful(ctx)
		if n >= int64(h.cfg.MaxDequeueCount) && strings.HasPrefix(w.Instance, "@") {
			// The last delivery before the poison queue: leave a successor first, so
			// that if this attempt dies too, the entity still gets to poison the
			// operation that kills it and go on (careful mode ends the chain).
			if err := h.wakeAfter(ctx, w.Instance, retryWakeDelay); err != nil {
				return err
			}
		}
	}
	err := h.Process(ctx, w.Instance)
	if err == nil || errors.Is(err, ErrBadMessage) || ctx.Err() != nil {
		return err
	}
	// A wake-up fails only for transient reasons (storage errors, lost commit races).
	// Retrying through the same message would count towards maxDequeueCount and end
	// in the poison queue, stranding the instance's inbox; a fresh delayed wake-up
	// retries without that risk (Durable Task never poisons control messages either).
	h.log.Warn("instance processing failed; retrying with a fresh wake-up", "instance", w.Instance, "err", err)
	if werr := h.wakeAfter(ctx, w.Instance, retryWakeDelay); werr != nil {
		return fmt.Errorf("%w (and re-queueing failed: %v)", err, werr)
	}
	return nil
}

// retryWakeDelay spaces out retries of an instance whose processing failed.
const retryWakeDelay = 5 * time.Second

// wakeAfter enqueues a wake-up visible after d, bypassing coalescing.
func (h *Hub) wakeAfter(ctx context.Context, id string, d time.Duration) error {
	return h.sendWakeUp(ctx, WakeUp{Instance: id}, d)
}

// wakeRecover enqueues a wake-up that processes an entity carefully (WakeUp.Recover).
func (h *Hub) wakeRecover(ctx context.Context, id string) error {
	h.sessions.drop(id)
	return h.sendWakeUp(ctx, WakeUp{Instance: id, Recover: true}, 0)
}

// sendWakeUp enqueues w on its instance's queue, visible after d.
func (h *Hub) sendWakeUp(ctx context.Context, w WakeUp, d time.Duration) error {
	q, err := h.instanceQueue(ctx, w.Instance)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(w)
	return q.Send(ctx, h.EncodeText(b), d)
}

// ErrBadMessage marks a queue message that can never be processed; the runner sends
// it to the poison queue at once instead of retrying it.
var ErrBadMessage = errors.New("malformed message")

// Process applies every due inbox row of instance id. Wake-ups for an instance that
// this process is already working on only mark it dirty: the running loop reloads the
// partition once more, which is what coalesces a burst of signals into few episodes.
func (h *Hub) Process(ctx context.Context, id string) error {
	f := h.claim(ctx, id)
	if f == nil {
		return nil
	}
	return h.drive(ctx, id, f)
}

// claim makes this goroutine the one working on instance id and returns its flight,
// or nil when another goroutine already is: that one is marked dirty (and given the
// rows handed over under ctx) so it goes round once more.
func (h *Hub) claim(ctx context.Context, id string) *flight {
	h.fmu.Lock()
	defer h.fmu.Unlock()
	if f := h.inflight[id]; f != nil {
		f.dirty = true
		if hd := handedRows(ctx, id); hd != nil {
			f.handed = append(f.handed, hd...)
		} else {
			f.reread = true
		}
		return nil
	}
	f := &flight{done: make(chan struct{})}
	h.inflight[id] = f
	return f
}

// claimIdle is claim for a caller that cannot leave its work to another goroutine. If
// one is at work on id but only finishing an episode (delivering the outbox of the
// commit that most likely caused the caller's work) with nothing more to do, it
// waits up to wait for that to end; one caller waits at a time. nil means the claim
// was not had, and nothing was marked.
func (h *Hub) claimIdle(ctx context.Context, id string, wait time.Duration) *flight {
	deadline := time.Now().Add(wait)
	waiting := false
	for {
		h.fmu.Lock()
		cur := h.inflight[id]
		if cur == nil {
			f := &flight{done: make(chan struct{})}
			h.inflight[id] = f
			h.fmu.Unlock()
			return f
		}
		if !cur.finishing || cur.dirty || (cur.waiter && !waiting) || time.Now().After(deadline) || ctx.Err() != nil {
			if waiting {
				cur.waiter = false
			}
			h.fmu.Unlock()
			return nil
		}
		cur.waiter, waiting = true, true
		h.fmu.Unlock()
		t := time.NewTimer(time.Millisecond)
		select {
		case <-cur.done:
		case <-t.C:
		}
		t.Stop()
	}
}

// finishing marks the episode of id running in this process as past its commit.
func (h *Hub) finishing(id string) {
	h.fmu.Lock()
	if f := h.inflight[id]; f != nil {
		f.finishing = true
	}
	h.fmu.Unlock()
}

// release ends the claim on id.
func (h *Hub) release(id string) {
	h.fmu.Lock()
	h.unclaim(id)
	h.fmu.Unlock()
}

// unclaim ends the claim on id; h.fmu is held.
func (h *Hub) unclaim(id string) {
	if f := h.inflight[id]; f != nil {
		close(f.done)
		delete(h.inflight, id)
	}
}

// drive runs episodes of id, whose flight f this goroutine holds, until nothing is
// left, then releases the claim.
func (h *Hub) drive(ctx context.Context, id string, f *flight) error {
	conflicts := 0
	var firstConflict time.Time
	for {
		more, err := h.episode(ctx, id)
		if errors.Is(err, storage.ErrConflict) {
			// Another worker committed this instance first: reload and go again. Keep
			// at it for a while: giving up costs a message retry (and a dequeue count).
			conflicts++
			h.counters.conflicts.Add(1)
			if conflicts == 1 {
				firstConflict = time.Now()
			}
			if time.Since(firstConflict) > maxConflictTime {
				h.counters.gaveUp.Add(1)
				h.release(id)
				return fmt.Errorf("instance %s: gave up after %d commit conflicts in %s: %w", id, conflicts, maxConflictTime, err)
			}
			ctx = withoutHanded(ctx)
			sleepJitter(ctx, conflicts)
			continue
		}
		if err != nil {
			h.release(id)
			return err
		}
		conflicts = 0
		var done bool
		if ctx, done = h.next(ctx, id, f, more); done {
			return nil
		}
	}
}

// next decides, after an episode of id, whether another one is due: if not, it
// releases the claim and reports done; else it returns the context the next episode
// runs under (from the session if the only news is rows this process handed over).
func (h *Hub) next(ctx context.Context, id string, f *flight, more bool) (context.Context, bool) {
	h.fmu.Lock()
	if !more && !f.dirty {
		h.unclaim(id)
		h.fmu.Unlock()
		// The wake-ups sent so far were consumed by this loop: they are no burst
		// to coalesce (a tight call loop wakes its instances many times a second).
		h.wmu.Lock()
		if st := h.wakes[id]; st != nil {
			st.recent = 0
		}
		h.wmu.Unlock()
		return ctx, true
	}
	ctx = withoutHanded(ctx)
	if !more && !f.reread && len(f.handed) > 0 {
		ctx = context.WithValue(ctx, handedKey{}, &handed{id: id, rows: f.handed})
	}
	f.dirty, f.reread, f.handed, f.finishing = false, false, nil, false
	h.fmu.Unlock()
	return ctx, false
}

// maxConflictTime bounds how long Process keeps losing commit races before it returns
// an error and lets the message be retried.
const maxConflictTime = time.Minute

func sleepJitter(ctx context.Context, attempt int) {
	max := time.Duration(attempt) * 20 * time.Millisecond
	if max > 500*time.Millisecond {
		max = 500 * time.Millisecond
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(max) + 1)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// episode runs one load-apply-commit-deliver cycle. more reports that inbox rows were
// left for another cycle.
func (h *Hub) episode(ctx context.Context, id string) (more bool, err error) {
	if strings.HasPrefix(id, "@") {
		return h.entityEpisode(ctx, id)
	}
	return h.orchestrationEpisode(ctx, id)
}
