package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// Account holds the SDK clients of one storage account and creates tables and queues
// on first use.
type Account struct {
	tables *aztables.ServiceClient
	queues *azqueue.ServiceClient

	requests atomic.Int64
	empty    atomic.Int64
	bykind   sync.Map
	errs     errorCounts
	latency  atomic.Int64 // time.Duration added to every request (benchmark)

	mu      sync.Mutex
	created map[string]bool
	nudges  map[string][]chan struct{}
}

// Nudges returns a channel that receives a signal whenever this process enqueues an
// immediately visible message on queue name. A poller of that queue in the same
// process uses it to poll at once instead of waiting out its back-off: the common
// single-process case then has no polling latency at all.
func (a *Account) Nudges(name string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	a.mu.Lock()
	if a.nudges == nil {
		a.nudges = map[string][]chan struct{}{}
	}
	a.nudges[name] = append(a.nudges[name], ch)
	a.mu.Unlock()
	return ch
}

func (a *Account) nudge(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ch := range a.nudges[name] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// OpenOptions tunes Open.
type OpenOptions struct {
	// Retry overrides the SDK retry policy (tests shorten it).
	Retry *policy.RetryOptions
	// Latency is added to every storage request, retries included (the benchmark
	// uses it to stand in for a storage account far away); SetLatency changes it.
	Latency time.Duration
}

// Open builds clients for s. It does no I/O.
func Open(s Settings, opts *OpenOptions) (*Account, error) {
	a := &Account{created: map[string]bool{}}
	counter := &countingPolicy{n: &a.requests, empty: &a.empty, bykind: &a.bykind, acct: a}
	// The delay goes last: a request is counted once it is issued.
	copts := azcore.ClientOptions{PerRetryPolicies: []policy.Policy{counter, batchBodyPolicy{}, latencyPolicy{d: &a.latency}}, Transport: transport}
	if opts != nil && opts.Retry != nil {
		copts.Retry = *opts.Retry
	}
	if opts != nil {
		a.SetLatency(opts.Latency)
	}
	topts := &aztables.ClientOptions{ClientOptions: copts}
	qopts := &azqueue.ClientOptions{ClientOptions: copts}
	var err error
	if s.UsesSharedKey() {
		tcred, err := aztables.NewSharedKeyCredential(s.AccountName, s.AccountKey)
		if err != nil {
			return nil, fmt.Errorf("table credential: %w", err)
		}
		if a.tables, err = aztables.NewServiceClientWithSharedKey(s.TableURL, tcred, topts); err != nil {
			return nil, fmt.Errorf("table client: %w", err)
		}
		qcred, err := azqueue.NewSharedKeyCredential(s.AccountName, s.AccountKey)
		if err != nil {
			return nil, fmt.Errorf("queue credential: %w", err)
		}
		if a.queues, err = azqueue.NewServiceClientWithSharedKeyCredential(s.QueueURL, qcred, qopts); err != nil {
			return nil, fmt.Errorf("queue client: %w", err)
		}
		return a, nil
	}
	var cred azcore.TokenCredential
	if s.Credential == "managedidentity" {
		var miOpts azidentity.ManagedIdentityCredentialOptions
		if s.ClientID != "" {
			miOpts.ID = azidentity.ClientID(s.ClientID)
		}
		cred, err = azidentity.NewManagedIdentityCredential(&miOpts)
	} else {
		cred, err = azidentity.NewDefaultAzureCredential(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("identity credential: %w", err)
	}
	if a.tables, err = aztables.NewServiceClient(s.TableURL, cred, topts); err != nil {
		return nil, fmt.Errorf("table client: %w", err)
	}
	if a.queues, err = azqueue.NewServiceClient(s.QueueURL, cred, qopts); err != nil {
		return nil, fmt.Errorf("queue client: %w", err)
	}
	return a, nil
}

// Requests is the number of HTTP requests sent to storage so far (retries included):
// the figure users pay for.
func (a *Account) Requests() int64 { return a.requests.Load() }

// EmptyPolls is how many of Requests were queue receives that found no message: the
// cost of listening while idle, which depends on time rather than on work.
func (a *Account) EmptyPolls() int64 { return a.empty.Load() }

// RequestsByKind breaks Requests down by operation ("table.batch", "queue.send", ...).
func (a *Account) RequestsByKind() map[string]int64 {
	out := map[string]int64{}
	a.bykind.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

type countingPolicy struct {
	n      *atomic.Int64
	empty  *atomic.Int64
	bykind *sync.Map // kind -> *atomic.Int64
	acct   *Account
}

func (p *countingPolicy) Do(req *policy.Request) (*http.Response, error) {
	p.n.Add(1)
	kind := requestKind(req.Raw())
	v, _ := p.bykind.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	resp, err := req.Next()
	if err == nil {
		p.acct.countErrors(kind, resp)
	}
	if err == nil && kind == "queue.receive" && resp.StatusCode == http.StatusOK {
		// An empty poll is a cost of waiting, not of the work: count it apart.
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if rerr == nil && !bytes.Contains(body, []byte("<QueueMessage>")) {
			p.empty.Add(1)
		}
	}
	return resp, err
}

// requestKind names a storage request by service and operation.
func requestKind(r *http.Request) string {
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/$batch"):
		return "table.batch"
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodGet:
		return "queue.receive"
	case strings.HasSuffix(path, "/messages") && r.Method == http.MethodPost:
		return "queue.send"
	case strings.Contains(path, "/messages/") && r.Method == http.MethodDelete:
		return "queue.delete"
	case strings.Contains(path, "/messages/") && r.Method == http.MethodPut:
		return "queue.update"
	case r.URL.Host != "" && strings.Contains(r.URL.Host, "queue") || strings.Contains(r.URL.Host, ":10001"):
		return "queue." + strings.ToLower(r.Method)
	case r.Method == http.MethodPost:
		return "table.insert"
	case r.Method == http.MethodGet && strings.Contains(path, "(PartitionKey="):
		return "table.get"
	case r.Method == http.MethodGet:
		return "table.query"
	}
	return "table." + strings.ToLower(r.Method)
}

// Table returns the table name, creating it if this process has not yet done so.
func (a *Account) Table(ctx context.Context, name string) (Table, error) {
	t := &azureTable{name: name, c: a.tables.NewClient(name)}
	if err := a.ensure(ctx, "t:"+name, func() error {
		_, err := a.tables.CreateTable(ctx, name, nil)
		if isCode(err, http.StatusConflict) {
			return nil
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("create table %s: %w", name, err)
	}
	return t, nil
}

// Queue returns the queue name, creating it if this process has not yet done so.
func (a *Account) Queue(ctx context.Context, name string) (Queue, error) {
	q := &azureQueue{name: name, c: a.queues.NewQueueClient(name), acct: a}
	if err := a.ensure(ctx, "q:"+name, func() error {
		_, err := q.c.Create(ctx, nil)
		if isCode(err, http.StatusConflict) {
			return nil
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	return q, nil
}

// DeleteTable removes a table (tests and purge tooling).
func (a *Account) DeleteTable(ctx context.Context, name string) error {
	_, err := a.tables.DeleteTable(ctx, name, nil)
	a.mu.Lock()
	delete(a.created, "t:"+name)
	a.mu.Unlock()
	if isCode(err, http.StatusNotFound) {
		return nil
	}
	return err
}

// DeleteQueue removes a queue (tests and purge tooling).
func (a *Account) DeleteQueue(ctx context.Context, name string) error {
	_, err := a.queues.DeleteQueue(ctx, name, nil)
	a.mu.Lock()
	delete(a.created, "q:"+name)
	a.mu.Unlock()
	if isCode(err, http.StatusNotFound) {
		return nil
	}
	return err
}

func (a *Account) ensure(ctx context.Context, key string, create func() error) error {
	a.mu.Lock()
	done := a.created[key]
	a.mu.Unlock()
	if done {
		return nil
	}
	if err := create(); err != nil {
		return err
	}
	a.mu.Lock()
	a.created[key] = true
	a.mu.Unlock()
	return nil
}

func isCode(err error, code int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

// classify maps SDK errors onto ErrNotFound/ErrConflict, keeping the original for context.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case http.StatusConflict, http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}

type azureTable struct {
	name string
	c    *aztables.Client
}

func (t *azureTable) Name() string { return t.name }

func (t *azureTable) Get(ctx context.Context, pk, rk string) (*Row, error) {
	resp, err := t.c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return nil, classify(err)
	}
	row, err := decodeRow(resp.Value)
	if err != nil {
		return nil, err
	}
	row.ETag = string(resp.ETag)
	return row, nil
}

func (t *azureTable) QueryPartition(ctx context.Context, pk string) ([]*Row, error) {
	var out []*Row
	opts := &QueryOptions{Filter: "PartitionKey eq " + Quote(pk)}
	for {
		rows, next, err := t.Query(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if next == "" {
			return out, nil
		}
		opts.Continuation = next
	}
}

// Continuation tokens pack the two SDK tokens (next partition key, next row key).
func (t *azureTable) Query(ctx context.Context, opts *QueryOptions) ([]*Row, string, error) {
	lo := &aztables.ListEntitiesOptions{}
	if opts != nil {
		if opts.Filter != "" {
			lo.Filter = &opts.Filter
		}
		if len(opts.Select) > 0 {
			sel := strings.Join(opts.Select, ",")
			lo.Select = &sel
		}
		if opts.Top > 0 {
			lo.Top = &opts.Top
		}
		if opts.Continuation != "" {
			npk, nrk, _ := strings.Cut(opts.Continuation, "\n")
			lo.NextPartitionKey = &npk
			if nrk != "" {
				lo.NextRowKey = &nrk
			}
		}
	}
	pager := t.c.NewListEntitiesPager(lo)
	if !pager.More() {
		return nil, "", nil
	}
	page, err := pager.NextPage(ctx)
	if err != nil {
		return nil, "", classify(err)
	}
	rows := make([]*Row, 0, len(page.Entities))
	for _, raw := range page.Entities {
		row, err := decodeRow(raw)
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, row)
	}
	next := ""
	if page.NextPartitionKey != nil {
		next = *page.NextPartitionKey
		if page.NextRowKey != nil {
			next += "\n" + *page.NextRowKey
		}
	}
	return rows, next, nil
}

func (t *azureTable) Insert(ctx context.Context, row *Row) error {
	body, err := encodeRow(row)
	if err != nil {
		return err
	}
	resp, err := t.c.AddEntity(ctx, body, nil)
	if err == nil {
		row.ETag = string(resp.ETag)
	}
	return classify(err)
}

func (t *azureTable) Upsert(ctx context.Context, row *Row) error {
	body, err := encodeRow(row)
	if err != nil {
		return err
	}
	_, err = t.c.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return classify(err)
}

func (t *azureTable) Replace(ctx context.Context, row *Row, etag string) error {
	body, err := encodeRow(row)
	if err != nil {
		return err
	}
	e := azcore.ETagAny
	if etag != "" {
		e = azcore.ETag(etag)
	}
	resp, err := t.c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &e})
	if err == nil {
		row.ETag = string(resp.ETag)
	}
	return classify(err)
}

func (t *azureTable) Delete(ctx context.Context, pk, rk, etag string) error {
	e := azcore.ETagAny
	if etag != "" {
		e = azcore.ETag(etag)
	}
	_, err := t.c.DeleteEntity(ctx, pk, rk, &aztables.DeleteEntityOptions{IfMatch: &e})
	return classify(err)
}

func (t *azureTable) Batch(ctx context.Context, pk string, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) > MaxBatchOps {
		return fmt.Errorf("storage: batch of %d operations exceeds %d", len(ops), MaxBatchOps)
	}
	actions := make([]aztables.TransactionAction, 0, len(ops))
	for i, op := range ops {
		if op.Row.PartitionKey != pk {
			return fmt.Errorf("storage: batch op %d is for partition %q, not %q", i, op.Row.PartitionKey, pk)
		}
		var a aztables.TransactionAction
		var err error
		switch op.Kind {
		case OpDelete:
			a.ActionType = aztables.TransactionTypeDelete
			a.Entity, err = json.Marshal(map[string]string{"PartitionKey": op.Row.PartitionKey, "RowKey": op.Row.RowKey})
		default:
			a.Entity, err = encodeRow(op.Row)
			switch op.Kind {
			case OpInsert:
				a.ActionType = aztables.TransactionTypeAdd
			case OpReplace:
				a.ActionType = aztables.TransactionTypeUpdateReplace
			case OpUpsert:
				a.ActionType = aztables.TransactionTypeInsertReplace
			}
		}
		if err != nil {
			return err
		}
		if op.Kind == OpReplace || op.Kind == OpDelete {
			e := azcore.ETagAny
			if op.ETag != "" {
				e = azcore.ETag(op.ETag)
			}
			a.IfMatch = &e
		}
		actions = append(actions, a)
	}
	_, err := t.c.SubmitTransaction(ctx, actions, nil)
	if err == nil {
		return nil
	}
	return classifyBatch(err)
}

// classifyBatch reads the inner status of a failed entity-group transaction. Azure and
// Azurite answer 202 with the failing operation's status only inside the multipart body
// ("<index>:<message>" in the OData error), so the text is all there is to go on.
func classifyBatch(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	if re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed {
		return &BatchError{Index: -1, Err: fmt.Errorf("%w: %w", ErrConflict, err)}
	}
	if re.StatusCode == http.StatusNotFound {
		return &BatchError{Index: -1, Err: fmt.Errorf("%w: %w", ErrNotFound, err)}
	}
	text := err.Error()
	idx := batchIndex(text)
	switch {
	case strings.Contains(text, "412 Precondition Failed"), strings.Contains(text, "UpdateConditionNotSatisfied"),
		strings.Contains(text, "409 Conflict"), strings.Contains(text, "EntityAlreadyExists"):
		return &BatchError{Index: idx, Err: fmt.Errorf("%w: %w", ErrConflict, err)}
	case strings.Contains(text, "404 Not Found"), strings.Contains(text, "ResourceNotFound"):
		return &BatchError{Index: idx, Err: fmt.Errorf("%w: %w", ErrNotFound, err)}
	}
	return &BatchError{Index: idx, Err: err}
}

// batchIndex finds the "\"value\":\"<n>:" prefix of an OData batch error message.
func batchIndex(text string) int {
	for _, marker := range []string{`"value":"`, `"value": "`} {
		if i := strings.Index(text, marker); i >= 0 {
			rest := text[i+len(marker):]
			if j := strings.IndexByte(rest, ':'); j > 0 {
				if n, err := strconv.Atoi(rest[:j]); err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// Quote renders s as an OData string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func encodeRow(r *Row) ([]byte, error) {
	m := make(map[string]any, len(r.Props)*2+2)
	m["PartitionKey"] = r.PartitionKey
	m["RowKey"] = r.RowKey
	for k, v := range r.Props {
		switch x := v.(type) {
		case string, bool, int32, float64:
			m[k] = x
		case int:
			m[k] = strconv.Itoa(x)
			m[k+"@odata.type"] = "Edm.Int64"
		case int64:
			m[k] = strconv.FormatInt(x, 10)
			m[k+"@odata.type"] = "Edm.Int64"
		case time.Time:
			m[k] = x.UTC().Format(time.RFC3339Nano)
			m[k+"@odata.type"] = "Edm.DateTime"
		case nil:
		default:
			return nil, fmt.Errorf("storage: property %s has unsupported type %T", k, v)
		}
	}
	return json.Marshal(m)
}

func decodeRow(raw []byte) (*Row, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("storage: decode entity: %w", err)
	}
	r := &Row{Props: make(map[string]any, len(m))}
	types := map[string]string{}
	for k, v := range m {
		if name, ok := strings.CutSuffix(k, "@odata.type"); ok {
			types[name], _ = v.(string)
		}
	}
	for k, v := range m {
		switch {
		case k == "PartitionKey":
			r.PartitionKey, _ = v.(string)
		case k == "RowKey":
			r.RowKey, _ = v.(string)
		case k == "odata.etag":
			r.ETag, _ = v.(string)
		case k == "Timestamp":
			if s, ok := v.(string); ok {
				r.Timestamp, _ = time.Parse(time.RFC3339Nano, s)
			}
		case strings.HasPrefix(k, "odata."), strings.HasSuffix(k, "@odata.type"):
		default:
			switch types[k] {
			case "Edm.Int64":
				s, _ := v.(string)
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("storage: property %s: %w", k, err)
				}
				r.Props[k] = n
			case "Edm.DateTime":
				s, _ := v.(string)
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, fmt.Errorf("storage: property %s: %w", k, err)
				}
				r.Props[k] = t
			default:
				if f, ok := v.(float64); ok && f == float64(int32(f)) {
					r.Props[k] = int32(f)
				} else {
					r.Props[k] = v
				}
			}
		}
	}
	return r, nil
}

type azureQueue struct {
	name string
	c    *azqueue.QueueClient
	acct *Account
}

func (q *azureQueue) Name() string { return q.name }

func (q *azureQueue) Send(ctx context.Context, text string, delay time.Duration) error {
	if delay > MaxQueueDelay {
		delay = MaxQueueDelay
	}
	ttl := int32(-1)
	opts := &azqueue.EnqueueMessageOptions{TimeToLive: &ttl}
	if delay > 0 {
		// Visibility is in whole seconds: round up, never down, so a delayed message
		// is never visible before its time.
		secs := int32((delay + time.Second - 1) / time.Second)
		opts.VisibilityTimeout = &secs
	}
	_, err := q.c.EnqueueMessage(ctx, text, opts)
	if err == nil && delay <= 0 {
		q.acct.nudge(q.name)
	}
	return classify(err)
}

func (q *azureQueue) Receive(ctx context.Context, max int, visibility time.Duration) ([]*Message, error) {
	if max < 1 {
		max = 1
	}
	if max > 32 {
		max = 32
	}
	n := int32(max)
	vis := int32(visibility / time.Second)
	if vis < 1 {
		vis = 1
	}
	resp, err := q.c.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &n, VisibilityTimeout: &vis})
	if err != nil {
		return nil, classify(err)
	}
	out := make([]*Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		msg := &Message{ID: deref(m.MessageID), PopReceipt: deref(m.PopReceipt), Text: deref(m.MessageText)}
		if m.DequeueCount != nil {
			msg.DequeueCount = *m.DequeueCount
		}
		if m.InsertionTime != nil {
			msg.InsertedAt = *m.InsertionTime
		}
		if m.TimeNextVisible != nil {
			msg.NextVisible = *m.TimeNextVisible
		}
		out = append(out, msg)
	}
	return out, nil
}

func (q *azureQueue) Delete(ctx context.Context, m *Message) error {
	_, err := q.c.DeleteMessage(ctx, m.ID, m.PopReceipt, nil)
	return classify(err)
}

func (q *azureQueue) Extend(ctx context.Context, m *Message, visibility time.Duration) error {
	vis := int32(visibility / time.Second)
	resp, err := q.c.UpdateMessage(ctx, m.ID, m.PopReceipt, m.Text, &azqueue.UpdateMessageOptions{VisibilityTimeout: &vis})
	if err != nil {
		return classify(err)
	}
	if resp.PopReceipt != nil {
		m.PopReceipt = *resp.PopReceipt
	}
	return nil
}

func (q *azureQueue) Length(ctx context.Context) (int, error) {
	resp, err := q.c.GetProperties(ctx, nil)
	if err != nil {
		return 0, classify(err)
	}
	if resp.ApproximateMessagesCount == nil {
		return 0, nil
	}
	return int(*resp.ApproximateMessagesCount), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
