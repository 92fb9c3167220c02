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
	"github.com/durablego/durablefunctions/internal/storage"
)

// Management errors, mapped to HTTP statuses by the management API.
var (
	// ErrInstanceNotFinished refuses to purge an instance that may still change: its
	// rows are the only record of work in progress (DF answers 412).
	ErrInstanceNotFinished = durable.ErrInstanceNotFinished
	// ErrInvalidQuery marks a query or filter the caller got wrong (a 400, not a retry).
	ErrInvalidQuery = durable.ErrInvalidQuery
	// ErrEntityLocked refuses to change the state of an entity a critical section holds:
	// the holder was promised that nobody else sees or changes it meanwhile.
	ErrEntityLocked = errors.New("entity is locked by a critical section")
)

// Paging bounds of the scans below. A filtered table scan may return empty pages
// with a continuation (Azure stops after 5 s or 1,000 scanned rows per request), so one
// call reads a bounded number of storage pages and hands back a continuation rather
// than holding an HTTP request open over a whole task hub.
const (
	DefaultPageSize  = 100
	MaxPageSize      = 1000
	maxScanPages     = 20
	maxScanDuration  = 10 * time.Second
	purgeRetries     = 5
	deleteRetries    = 5
	scanPageForClean = 500
)

// InstanceQuery selects orchestration instances. Zero fields do not filter.
type InstanceQuery struct {
	// RuntimeStatus keeps instances in any of these statuses.
	RuntimeStatus []durable.RuntimeStatus
	// CreatedFrom and CreatedTo bound the creation time, both inclusive.
	CreatedFrom time.Time
	CreatedTo   time.Time
	// InstanceIDPrefix keeps ids starting with it.
	InstanceIDPrefix string
	// Top is the page size (DefaultPageSize when 0, at most MaxPageSize). A page may
	// hold fewer instances and still have a continuation.
	Top int
	// Continuation resumes after the page that returned it.
	Continuation string
}

// InstancePage is one page of QueryInstances.
type InstancePage struct {
	Instances []*InstanceStatus
	// Continuation is "" on the last page.
	Continuation string
}

// QueryInstances lists orchestration instances by status, creation time and id
// prefix. Only checkpoint rows are read; every filter but the prefix fallback runs in
// the table service, so a page costs one or a few storage requests.
func (h *Hub) QueryInstances(ctx context.Context, q *InstanceQuery) (*InstancePage, error) {
	if q == nil {
		q = &InstanceQuery{}
	}
	filter := []string{"RowKey eq " + storage.Quote(checkpointRK), "Kind eq 'orchestration'"}
	if len(q.RuntimeStatus) > 0 {
		var or []string
		for _, s := range q.RuntimeStatus {
			if !knownStatus(s) {
				return nil, fmt.Errorf("%w: unknown runtime status %q", ErrInvalidQuery, s)
			}
			or = append(or, "Status eq "+storage.Quote(string(s)))
		}
		filter = append(filter, "("+strings.Join(or, " or ")+")")
	}
	if !q.CreatedFrom.IsZero() {
		filter = append(filter, "Created ge "+odataTime(q.CreatedFrom))
	}
	if !q.CreatedTo.IsZero() {
		filter = append(filter, "Created le "+odataTime(q.CreatedTo))
	}
	pkPrefix := ""
	if q.InstanceIDPrefix != "" {
		pkPrefix = storage.EscapeKey(q.InstanceIDPrefix)
		filter = append(filter, prefixFilter("PartitionKey", pkPrefix)...)
	}
	rows, next, err := h.scan(ctx, strings.Join(filter, " and "), q.Top, q.Continuation, func(r *storage.Row) bool {
		return strings.HasPrefix(r.PartitionKey, pkPrefix)
	})
	if err != nil {
		return nil, err
	}
	page := &InstancePage{Continuation: next, Instances: make([]*InstanceStatus, 0, len(rows))}
	for _, r := range rows {
		id := r.String("InstanceID")
		if id == "" {
			if id, err = storage.UnescapeKey(r.PartitionKey); err != nil {
				continue
			}
		}
		st, err := decodeOrch(id, r)
		if err != nil {
			h.log.Warn("skipping unreadable instance checkpoint", "instance", id, "err", err)
			continue
		}
		page.Instances = append(page.Instances, statusOf(st))
	}
	return page, nil
}

func knownStatus(s durable.RuntimeStatus) bool {
	switch s {
	case durable.StatusPending, durable.StatusRunning, durable.StatusCompleted, durable.StatusContinuedAsNew,
		durable.StatusFailed, durable.StatusTerminated, durable.StatusSuspended:
		return true
	}
	return false
}

// statusOf presents a checkpoint as GetStatus does: a failed instance's output is its
// error message, as DF shows it.
func statusOf(st *orchState) *InstanceStatus {
	s := &InstanceStatus{Name: st.Name, InstanceID: st.InstanceID, RuntimeStatus: st.Status, Input: st.Input, CustomStatus: st.CustomStatus,
		Output: st.Output, Failure: st.Failure, CreatedTime: st.Created, LastUpdated: st.Updated, ExecutionID: st.ExecutionID, Version: st.Version}
	if s.RuntimeStatus == durable.StatusFailed && s.Output == nil && st.Failure != nil {
		s.Output, _ = json.Marshal(st.Failure.ErrorMessage)
	}
	return s
}

// odataTime renders t as an OData DateTime literal (Edm.DateTime, as the engine stores times).
func odataTime(t time.Time) string {
	return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + "'"
}

// prefixFilter bounds field to keys starting with p. Escaping keeps prefixes (it maps
// byte by byte and '%' always opens a three-byte code), so an escaped id starts with the
// escaped prefix exactly when the id starts with the prefix. The upper bound is the
// prefix with its last byte incremented; when that byte is not plain ASCII only the
// lower bound is pushed down and the caller filters the rest.
func prefixFilter(field, p string) []string {
	out := []string{field + " ge " + storage.Quote(p)}
	if last := p[len(p)-1]; last >= 0x20 && last < 0x7e {
		out = append(out, field+" lt "+storage.Quote(p[:len(p)-1]+string(rune(last+1))))
	}
	return out
}

// scan reads up to top rows matching filter (and keep), resuming from token. Each
// storage request asks only for the rows still missing, so a page never overshoots
// and the storage continuation stays exact.
func (h *Hub) scan(ctx context.Context, filter string, top int, token string, keep func(*storage.Row) bool) ([]*storage.Row, string, error) {
	if top <= 0 {
		top = DefaultPageSize
	}
	if top > MaxPageSize {
		top = MaxPageSize
	}
	cont, err := decodeContinuation(token)
	if err != nil {
		return nil, "", err
	}
	var out []*storage.Row
	started := time.Now()
	for pages := 0; ; pages++ {
		rows, next, err := h.instances.Query(ctx, &storage.QueryOptions{Filter: filter, Top: int32(top - len(out)), Continuation: cont})
		if err != nil {
			return nil, "", err
		}
		for _, r := range rows {
			if keep == nil || keep(r) {
				out = append(out, r)
			}
		}
		cont = next
		if cont == "" || len(out) >= top || pages+1 >= maxScanPages || time.Since(started) > maxScanDuration {
			break
		}
	}
	return out, encodeContinuation(cont), nil
}

// Continuation tokens travel in an HTTP header: the storage token (which holds a
// newline) is wrapped in URL-safe base64, and is opaque to callers.
func encodeContinuation(s string) string {
	if s == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeContinuation(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) == 0 {
		return "", fmt.Errorf("%w: malformed continuation token", ErrInvalidQuery)
	}
	return string(b), nil
}

// Purge deletes every row of a finished orchestration instance. It returns 1 when it
// deleted the instance, 0 when there was none, and ErrInstanceNotFinished while the
// instance may still change.
//
// The checkpoint is deleted first, conditionally on the ETag read with the status, in
// the same batch as the first rows: a restart or a late message committed in between
// changes that ETag, so the purge then re-reads instead of deleting rows of a new
// execution. Undelivered outbox rows (a sub-orchestration's result for its parent, say)
// are delivered before anything is deleted. Rows past the first batch of a very large
// instance are deleted afterwards; a crash in that window leaves unreachable history
// rows behind, which a later instance with the same id garbage-collects.
func (h *Hub) Purge(ctx context.Context, instanceID string) (int, error) {
	if err := ValidateInstanceID(instanceID); err != nil {
		return 0, err
	}
	for attempt := 1; ; attempt++ {
		p, err := h.loadPartition(ctx, instanceID)
		if err != nil {
			return 0, err
		}
		if p.checkpoint == nil || p.checkpoint.String("Kind") != "orchestration" {
			return 0, nil
		}
		st, err := decodeOrch(instanceID, p.checkpoint)
		if err != nil {
			return 0, err
		}
		if !st.Status.IsTerminal() {
			return 0, fmt.Errorf("%w: %s is %s; only Completed, Failed or Terminated instances can be purged", ErrInstanceNotFinished, instanceID, st.Status)
		}
		if len(p.outbox) > 0 {
			if err := h.deliverOutbox(ctx, p.pk, p.outbox); err != nil {
				return 0, err
			}
		}
		ops := []storage.Op{{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: checkpointRK}, ETag: st.etag}}
		for _, r := range p.history {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.RowKey}})
		}
		for _, r := range p.inbox {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.rk}})
		}
		n := min(len(ops), storage.MaxBatchOps)
		err = h.instances.Batch(ctx, p.pk, ops[:n])
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			// Someone committed (or deleted a row) since the read: look again.
			if attempt >= purgeRetries {
				return 0, fmt.Errorf("purge %s: gave up after %d concurrent changes: %w", instanceID, attempt, err)
			}
			sleepJitter(ctx, attempt)
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("purge %s: %w", instanceID, err)
		}
		if err := h.deleteRows(ctx, p.pk, ops[n:]); err != nil {
			return 1, fmt.Errorf("purge %s: instance deleted but some history rows remain: %w", instanceID, err)
		}
		return 1, nil
	}
}

// terminalStatuses are the statuses a purge may delete.
var terminalStatuses = []durable.RuntimeStatus{durable.StatusCompleted, durable.StatusFailed, durable.StatusTerminated}

// PurgeByFilter purges the finished instances created in [createdFrom, createdTo]
// (createdTo zero = now) whose status is one of statuses (all terminal statuses when
// empty). Non-terminal statuses are refused rather than ignored: DF would delete
// running instances, which strands their messages and callers. It returns how many
// instances it deleted.
func (h *Hub) PurgeByFilter(ctx context.Context, createdFrom, createdTo time.Time, statuses []durable.RuntimeStatus) (int, error) {
	if len(statuses) == 0 {
		statuses = terminalStatuses
	}
	for _, s := range statuses {
		if !s.IsTerminal() {
			return 0, fmt.Errorf("%w: instances in status %q cannot be purged (only Completed, Failed or Terminated)", ErrInvalidQuery, s)
		}
	}
	if createdTo.IsZero() {
		createdTo = h.now()
	}
	q := &InstanceQuery{RuntimeStatus: statuses, CreatedFrom: createdFrom, CreatedTo: createdTo, Top: MaxPageSize}
	deleted := 0
	for {
		page, err := h.QueryInstances(ctx, q)
		if err != nil {
			return deleted, err
		}
		for _, s := range page.Instances {
			n, err := h.Purge(ctx, s.InstanceID)
			switch {
			case errors.Is(err, ErrInstanceNotFinished):
				continue // restarted since the query
			case err != nil:
				return deleted, err
			}
			deleted += n
		}
		if page.Continuation == "" {
			return deleted, nil
		}
		q.Continuation = page.Continuation
	}
}

// Restart starts the orchestration of instanceID again with the input of its current
// execution, under a new instance id (returned) or, when restartWithNewInstanceID is
// false, under the same id (ErrInstanceExists while it is still running), as DF's
// RestartAsync does.
func (h *Hub) Restart(ctx context.Context, instanceID string, restartWithNewInstanceID bool) (string, error) {
	s, err := h.GetStatus(ctx, instanceID, nil)
	if err != nil {
		return "", err
	}
	newID := instanceID
	if restartWithNewInstanceID {
		newID = ""
	}
	return h.StartOrchestration(ctx, s.Name, newID, s.Input)
}

// EntityQuery selects entities. Zero fields do not filter.
type EntityQuery struct {
	// Name keeps entities of this entity name (case-insensitive).
	Name string
	// LastModifiedFrom and LastModifiedTo bound the last operation time, both inclusive.
	LastModifiedFrom time.Time
	LastModifiedTo   time.Time
	// Top is the page size (DefaultPageSize when 0, at most MaxPageSize).
	Top          int
	Continuation string
	// IncludeState returns the state of each entity.
	IncludeState bool
	// IncludeDeleted also lists entities that have no state (deleted, or holding only
	// a lock or deduplication marks).
	IncludeDeleted bool
}

// EntityStatus describes one entity in a listing.
type EntityStatus struct {
	ID           durable.EntityID
	LastModified time.Time
	HasState     bool
	State        json.RawMessage // only with IncludeState
	LockedBy     string          // holder orchestration "instance|execution", if locked
}

// EntityPage is one page of ListEntities.
type EntityPage struct {
	Entities     []*EntityStatus
	Continuation string
}

// ListEntities lists entities by name and last operation time, from their
// checkpoint rows only.
func (h *Hub) ListEntities(ctx context.Context, q *EntityQuery) (*EntityPage, error) {
	if q == nil {
		q = &EntityQuery{}
	}
	filter := []string{"RowKey eq " + storage.Quote(checkpointRK), "Kind eq 'entity'"}
	pkPrefix := "@"
	if q.Name != "" {
		name := strings.ToLower(q.Name)
		filter = append(filter, "Name eq "+storage.Quote(name))
		pkPrefix = storage.EscapeKey("@" + name + "@")
	}
	filter = append(filter, prefixFilter("PartitionKey", pkPrefix)...)
	if !q.IncludeDeleted {
		filter = append(filter, "HasState eq true")
	}
	if !q.LastModifiedFrom.IsZero() {
		filter = append(filter, "Modified ge "+odataTime(q.LastModifiedFrom))
	}
	if !q.LastModifiedTo.IsZero() {
		filter = append(filter, "Modified le "+odataTime(q.LastModifiedTo))
	}
	rows, next, err := h.scan(ctx, strings.Join(filter, " and "), q.Top, q.Continuation, nil)
	if err != nil {
		return nil, err
	}
	page := &EntityPage{Continuation: next, Entities: make([]*EntityStatus, 0, len(rows))}
	for _, r := range rows {
		id, err := entityIDOf(r)
		if err != nil {
			h.log.Warn("skipping unreadable entity checkpoint", "partition", r.PartitionKey, "err", err)
			continue
		}
		st, err := decodeEntity(id, r)
		if err != nil {
			h.log.Warn("skipping unreadable entity checkpoint", "entity", id.String(), "err", err)
			continue
		}
		es := &EntityStatus{ID: id, LastModified: r.Time("Modified"), HasState: st.HasState}
		if q.IncludeState && st.HasState {
			es.State = st.State
		}
		if st.Lock != nil {
			es.LockedBy = st.Lock.Origin
		}
		page.Entities = append(page.Entities, es)
	}
	return page, nil
}

func entityIDOf(r *storage.Row) (durable.EntityID, error) {
	if name := r.String("Name"); name != "" {
		if key, ok := r.Props["Key"].(string); ok {
			return durable.NewEntityID(name, key), nil
		}
	}
	s, err := storage.UnescapeKey(r.PartitionKey)
	if err != nil {
		return durable.EntityID{}, err
	}
	return durable.ParseEntityID(s)
}

// DeleteEntity removes an entity's state at once, whatever its code implements: one
// conditional replace of its checkpoint, so an episode committing meanwhile makes it
// re-read rather than be overwritten. Operations already queued for the entity apply
// after the delete. It reports whether there was state to delete, and refuses
// (ErrEntityLocked) while a critical section holds the entity. The checkpoint itself
// stays: it holds the deduplication marks and the entity's own message sequence.
func (h *Hub) DeleteEntity(ctx context.Context, id durable.EntityID) (bool, error) {
	id = durable.NewEntityID(id.Name, id.Key)
	if _, ok := h.cfg.EntityQueues[id.Name]; !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownEntity, id.Name)
	}
	if err := storage.ValidateKey("entity key", id.Key); err != nil {
		return false, err
	}
	pk := storage.EscapeKey(id.String())
	for attempt := 1; ; attempt++ {
		row, err := h.instances.Get(ctx, pk, checkpointRK)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		st, err := decodeEntity(id, row)
		if err != nil {
			return false, err
		}
		if !st.HasState {
			return false, nil
		}
		if st.Lock != nil {
			return false, fmt.Errorf("%w: %s is held by %s", ErrEntityLocked, id, st.Lock.Origin)
		}
		st.State, st.HasState = nil, false
		cp, err := st.row(pk, h.now())
		if err != nil {
			return false, err
		}
		err = h.instances.Replace(ctx, cp, st.etag)
		if errors.Is(err, storage.ErrConflict) && attempt < deleteRetries {
			sleepJitter(ctx, attempt)
			continue
		}
		if err != nil {
			return false, fmt.Errorf("delete entity %s: %w", id, err)
		}
		return true, nil
	}
}

// CleanOptions selects what CleanEntityStorage does.
type CleanOptions struct {
	// RemoveEmptyEntities deletes the checkpoints of entities without state that
	// can no longer matter (see CleanEntityStorage).
	RemoveEmptyEntities bool
	// ReleaseOrphanedLocks unlocks entities held by orchestrations that no longer run.
	ReleaseOrphanedLocks bool
}

// CleanResult counts what CleanEntityStorage did.
type CleanResult struct {
	EmptyEntitiesRemoved  int `json:"numberOfEmptyEntitiesRemoved"`
	OrphanedLocksReleased int `json:"numberOfOrphanedLocksRemoved"`
}

// CleanEntityStorage scans every entity checkpoint, as DF's CleanEntityStorageAsync
// does.
//
// A lock is orphaned when its holder execution is gone: the instance does not exist,
// runs another execution, or has finished. It is released by the unlock message the
// holder itself would send, so the entity applies it in its own episode, in order with
// everything else.
//
// An empty entity is removed only when nothing can depend on its checkpoint: no
// state, no lock, no queued or outgoing message rows, untouched for longer than
// sequence marks are kept, and it never sent a message. The last condition matters
// because a recreated entity numbers its messages from 1 again, and receivers that
// still remember its old sequence numbers would drop them as duplicates.
func (h *Hub) CleanEntityStorage(ctx context.Context, opts *CleanOptions) (*CleanResult, error) {
	if opts == nil {
		opts = &CleanOptions{RemoveEmptyEntities: true, ReleaseOrphanedLocks: true}
	}
	res := &CleanResult{}
	if !opts.RemoveEmptyEntities && !opts.ReleaseOrphanedLocks {
		return res, nil
	}
	conds := append([]string{"RowKey eq " + storage.Quote(checkpointRK), "Kind eq 'entity'"}, prefixFilter("PartitionKey", "@")...)
	if !opts.RemoveEmptyEntities {
		// Only locked entities matter: let the service skip the rest (the periodic
		// maintenance run asks for this alone).
		conds = append(conds, "Lock ne ''")
	}
	q := &storage.QueryOptions{
		Filter: strings.Join(conds, " and "),
		Top:    scanPageForClean,
	}
	now := h.now()
	for {
		rows, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return res, err
		}
		for _, r := range rows {
			id, err := entityIDOf(r)
			if err != nil {
				continue
			}
			st, err := decodeEntity(id, r)
			if err != nil {
				h.log.Warn("clean: unreadable entity checkpoint", "entity", id.String(), "err", err)
				continue
			}
			switch {
			case st.Lock != nil && opts.ReleaseOrphanedLocks:
				released, err := h.releaseIfOrphaned(ctx, id, st.Lock.Origin)
				if err != nil {
					h.log.Warn("clean: could not check or release lock", "entity", id.String(), "holder", st.Lock.Origin, "err", err)
					continue
				}
				if released {
					res.OrphanedLocksReleased++
				}
			case st.Lock == nil && opts.RemoveEmptyEntities && !st.HasState && st.NextSeq == 0 && now.Sub(r.Time("Modified")) > seqRetention:
				removed, err := h.removeEmptyEntity(ctx, r)
				if err != nil {
					h.log.Warn("clean: could not remove empty entity", "entity", id.String(), "err", err)
					continue
				}
				if removed {
					res.EmptyEntitiesRemoved++
				}
			}
		}
		if next == "" {
			break
		}
		q.Continuation = next
	}
	if res.EmptyEntitiesRemoved+res.OrphanedLocksReleased > 0 {
		h.log.Info("entity storage cleaned", "emptyEntitiesRemoved", res.EmptyEntitiesRemoved, "orphanedLocksReleased", res.OrphanedLocksReleased)
	}
	return res, nil
}

// releaseIfOrphaned sends holder's unlock to entity id when holder no longer runs.
func (h *Hub) releaseIfOrphaned(ctx context.Context, id durable.EntityID, holder string) (bool, error) {
	cut := strings.LastIndexByte(holder, '|')
	if cut <= 0 {
		return false, nil // not an orchestration execution: leave it alone
	}
	inst, exec := holder[:cut], holder[cut+1:]
	s, err := h.GetStatus(ctx, inst, nil)
	switch {
	case errors.Is(err, ErrInstanceNotFound), errors.Is(err, ErrInvalidInstanceID):
	case err != nil:
		return false, err
	case s.ExecutionID == exec && !s.RuntimeStatus.IsTerminal() && s.RuntimeStatus != durable.StatusContinuedAsNew:
		return false, nil // the holder still runs
	}
	// A fixed id per holder: a second clean-up while the first unlock waits in the
	// inbox lands on the same row.
	env := &Envelope{ID: clientSender + "|cleanup|" + holder, Origin: holder, Op: &EntityOp{Kind: OpUnlock}}
	if err := h.sendEnvelopes(ctx, id.String(), []*Envelope{env}); err != nil {
		return false, err
	}
	h.log.Info("released orphaned entity lock", "entity", id.String(), "holder", holder)
	return true, nil
}

// removeEmptyEntity deletes an empty entity's checkpoint if its partition holds
// nothing else, conditionally on the ETag the scan read.
func (h *Hub) removeEmptyEntity(ctx context.Context, cp *storage.Row) (bool, error) {
	rows, _, err := h.instances.Query(ctx, &storage.QueryOptions{
		Filter: "PartitionKey eq " + storage.Quote(cp.PartitionKey) + " and RowKey ne " + storage.Quote(checkpointRK),
		Select: []string{"RowKey"},
		Top:    1,
	})
	if err != nil {
		return false, err
	}
	if len(rows) > 0 {
		return false, nil
	}
	err = h.instances.Delete(ctx, cp.PartitionKey, checkpointRK, cp.ETag)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return false, nil // changed since the scan: it is not idle
	}
	return err == nil, err
}
