package engine

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
	"unicode/utf8"

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
	// payloadGrace is how long DeleteEntity keeps a payload row nothing refers to
	// yet: the message carrying it may still be on its way.
	payloadGrace = 5 * time.Minute
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
	if !utf8.ValidString(q.InstanceIDPrefix) {
		return nil, fmt.Errorf("%w: instanceIdPrefix is not valid UTF-8", ErrInvalidQuery)
	}
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
// newline) and its CRC-32 are wrapped in URL-safe base64, and are opaque to callers.
// The checksum lets a garbled or made-up token be refused (ErrInvalidQuery) instead
// of being handed to storage, which answers an empty page for it.
func encodeContinuation(s string) string {
	if s == "" {
		return ""
	}
	b := binary.BigEndian.AppendUint32([]byte(s), crc32.ChecksumIEEE([]byte(s)))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinuation(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) <= 4 {
		return "", fmt.Errorf("%w: malformed continuation token (pass back the %s header of the previous page unchanged)", ErrInvalidQuery, "x-ms-continuation-token")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum || !utf8.Valid(body) {
		return "", fmt.Errorf("%w: malformed continuation token (pass back the %s header of the previous page unchanged)", ErrInvalidQuery, "x-ms-continuation-token")
	}
	return string(body), nil
}

// Purge deletes every row of a finished orchestration instance: checkpoint,
// history, inbox and the payload rows of its large values. It returns 1 when it
// deleted the instance, 0 when there was none, and ErrInstanceNotFinished while the
// instance may still change.
//
// The checkpoint is deleted first, conditionally on the ETag read with the status, in
// the same batch as the first rows: a restart or a late message committed in between
// changes that ETag, so the purge then re-reads instead of deleting rows of a new
// execution. Undelivered outbox rows (a sub-orchestration's result for its parent, say)
// are delivered before anything is deleted; delivery copies large values into the
// receiver's partition, so nothing outside the instance refers to its payload rows.
// Rows past the first batch of a very large instance are deleted afterwards; a crash
// in that window leaves unreachable rows behind (garbage: nothing refers to them).
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
		// Every row of the partition goes, whatever its kind: a row kind this code
		// does not know about would otherwise outlive the instance.
		rows, err := h.partitionRows(ctx, p.pk)
		if err != nil {
			return 0, fmt.Errorf("purge %s: %w", instanceID, err)
		}
		ops := []storage.Op{{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: checkpointRK}, ETag: st.etag}}
		for _, r := range rows {
			if r.RowKey != checkpointRK {
				ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.RowKey}})
			}
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
		h.payloads.dropPartition(p.pk)
		if err := h.deleteRows(ctx, p.pk, ops[n:]); err != nil {
			return 1, fmt.Errorf("purge %s: instance deleted but some of its rows remain: %w", instanceID, err)
		}
		return 1, nil
	}
}

// partitionRows lists the rows of partition pk, payload rows included, reading only
// their keys and timestamps (payload rows are large).
func (h *Hub) partitionRows(ctx context.Context, pk string) ([]*storage.Row, error) {
	q := &storage.QueryOptions{Filter: "PartitionKey eq " + storage.Quote(pk), Select: []string{"RowKey", "Timestamp"}}
	var out []*storage.Row
	for {
		rows, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if next == "" {
			return out, nil
		}
		q.Continuation = next
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
	if !utf8.ValidString(q.Name) {
		return nil, fmt.Errorf("%w: entity name is not valid UTF-8", ErrInvalidQuery)
	}
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

// DeleteEntity removes an entity's state at once, whatever its code implements, and
// the payload rows of its large values. It reports whether there was state to
// delete, and refuses (ErrEntityLocked) while a critical section holds the entity.
// Operations already queued for the entity apply after the delete (their large
// inputs are kept).
//
// When nothing depends on the checkpoint (no sequence or idempotency marks, no
// message sequence of its own, no lock, no queued or outgoing messages) the whole
// partition goes; otherwise the checkpoint stays, without state, because it holds
// those marks. Payload rows are deleted only in a batch with a conditional write of
// the checkpoint: an episode that read the entity before (and may refer to those
// rows) then loses its commit and redoes its work, writing the rows again.
func (h *Hub) DeleteEntity(ctx context.Context, id durable.EntityID) (bool, error) {
	id = durable.NewEntityID(id.Name, id.Key)
	if _, ok := h.cfg.EntityQueues[id.Name]; !ok {
		return false, fmt.Errorf("%w %q", ErrUnknownEntity, id.Name)
	}
	if err := ValidateEntityID(id); err != nil {
		return false, err
	}
	deleted := false
	for attempt := 1; ; {
		p, err := h.loadPartition(ctx, id.String())
		if err != nil {
			return deleted, err
		}
		if p.checkpoint == nil {
			return deleted, nil
		}
		st, err := decodeEntity(id, p.checkpoint)
		if err != nil {
			return deleted, err
		}
		if st.Lock != nil {
			if st.HasState {
				return false, fmt.Errorf("%w: %s is held by %s", ErrEntityLocked, id, st.Lock.Origin)
			}
			return deleted, nil // nothing to delete; its holder may still refer to anything
		}
		rows, err := h.partitionRows(ctx, p.pk)
		if err != nil {
			return deleted, err
		}
		// Payloads that queued or outgoing messages carry stay, and so do recent ones
		// nothing refers to yet: a sender writes a large value before the message
		// that carries it. The state's own payload goes with the state.
		keep := map[string]int{}
		for _, r := range p.inbox {
			envelopePayloads(p.pk, []*Envelope{r.env}, keep)
		}
		envelopePayloads(p.pk, outboxEnvelopes(p.outbox), keep)
		statePayload := ""
		if ref, ok := refOf(st.State); ok && st.HasState {
			statePayload = ref.Ref.ID
		}
		now := h.now()
		var garbage []storage.Op
		others, young := false, false
		for _, r := range rows {
			pid, isPayload := payloadIDOf(r.RowKey)
			switch {
			case r.RowKey == checkpointRK:
			case !isPayload:
				others = true
			case keep[pid] > 0:
			case pid != statePayload && now.Sub(r.Timestamp) < payloadGrace:
				young = true
			default:
				garbage = append(garbage, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: r.RowKey}})
			}
		}
		if !st.HasState && len(garbage) == 0 {
			return deleted, nil
		}
		removeAll := !others && !young && len(keep) == 0 && len(st.Recent) == 0 && len(st.Legacy) == 0 && st.NextSeq == 0
		var cpOp storage.Op
		if removeAll {
			cpOp = storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: p.pk, RowKey: checkpointRK}, ETag: st.etag}
		} else {
			modified := st.Modified
			if st.HasState {
				modified = h.now()
			}
			st.State, st.HasState = nil, false
			cp, err := st.row(p.pk, modified)
			if err != nil {
				return deleted, err
			}
			cpOp = storage.Op{Kind: storage.OpReplace, Row: cp, ETag: st.etag}
		}
		hadState := p.checkpoint.Bool("HasState")
		n := min(len(garbage), storage.MaxBatchOps-1)
		err = h.instances.Batch(ctx, p.pk, append([]storage.Op{cpOp}, garbage[:n]...))
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			if attempt >= deleteRetries {
				return deleted, fmt.Errorf("delete entity %s: gave up after %d concurrent changes: %w", id, attempt, err)
			}
			attempt++
			sleepJitter(ctx, attempt)
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("delete entity %s: %w", id, err)
		}
		deleted = deleted || hadState
		h.payloads.dropPartition(p.pk)
		if removeAll {
			// Nothing refers to the rest now that the entity is gone.
			if err := h.deleteRows(ctx, p.pk, garbage[n:]); err != nil {
				return deleted, fmt.Errorf("delete entity %s: state deleted but some payload rows remain: %w", id, err)
			}
			return deleted, nil
		}
		if n == len(garbage) {
			return deleted, nil
		}
		// More payload rows than one batch holds: the next round guards them again.
	}
}

// outboxEnvelopes decodes the messages committed outbox rows hold.
func outboxEnvelopes(rows []*storage.Row) []*Envelope {
	var envs []*Envelope
	for _, r := range rows {
		var ds []*Delivery
		if json.Unmarshal(storage.GetChunked(r, "Body"), &ds) != nil {
			continue
		}
		for _, d := range ds {
			envs = append(envs, d.Envelopes...)
		}
	}
	return envs
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

// removeEmptyEntity deletes an empty entity's partition if it holds nothing but the
// checkpoint, payload rows (left by values it once held: with no state and no
// messages, nothing refers to them) and expired sequence marks, conditionally on the
// ETag the scan read. The marks go first (each conditionally on its own ETag), so that
// no mark outlives its checkpoint; a mark that has not expired keeps the entity.
func (h *Hub) removeEmptyEntity(ctx context.Context, cp *storage.Row) (bool, error) {
	rows, err := h.partitionRows(ctx, cp.PartitionKey)
	if err != nil {
		return false, err
	}
	ops := []storage.Op{{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: cp.PartitionKey, RowKey: checkpointRK}, ETag: cp.ETag}}
	hasMarks := false
	for _, r := range rows {
		if r.RowKey == checkpointRK {
			continue
		}
		if r.RowKey >= markPfx && r.RowKey < markEnd {
			hasMarks = true
			continue
		}
		if _, isPayload := payloadIDOf(r.RowKey); !isPayload {
			return false, nil
		}
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: cp.PartitionKey, RowKey: r.RowKey}})
	}
	if hasMarks {
		if ok, err := h.deleteExpiredMarks(ctx, cp.PartitionKey); !ok || err != nil {
			return false, err
		}
	}
	n := min(len(ops), storage.MaxBatchOps)
	err = h.instances.Batch(ctx, cp.PartitionKey, ops[:n])
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return false, nil // changed since the scan: it is not idle
	}
	if err != nil {
		return false, err
	}
	h.payloads.dropPartition(cp.PartitionKey)
	return true, h.deleteRows(ctx, cp.PartitionKey, ops[n:])
}

// deleteExpiredMarks deletes every sequence mark of the partition if all have
// expired; it reports false (deleting nothing more) at the first that has not.
func (h *Hub) deleteExpiredMarks(ctx context.Context, pk string) (bool, error) {
	now := h.now()
	q := &storage.QueryOptions{Filter: fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", storage.Quote(pk), storage.Quote(markPfx), storage.Quote(markEnd))}
	for {
		marks, next, err := h.instances.Query(ctx, q)
		if err != nil {
			return false, err
		}
		deletes, _, _ := sweepStep(pk, marks, "", now)
		if len(deletes) < len(marks) {
			return false, nil // a mark that can still matter
		}
		if err := h.deleteMarks(ctx, pk, deletes); err != nil {
			return false, err
		}
		if next == "" {
			return true, nil
		}
		q.Continuation = next
	}
}
