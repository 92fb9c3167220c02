package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// command is one subcommand of the tool.
type command struct {
	commandSpec
	Synopsis string // positional arguments, e.g. "ID EVENT [JSON]"
	Summary  string
	Detail   string // more usage text, may be empty
	MinArgs  int
	MaxArgs  int // -1: no limit
	Run      func(ctx context.Context, r *runCtx, p *parsed) error
}

var statusFlag = flagSpec{Name: "status", Kind: listFlag, Value: "STATUS", Usage: "runtime status: Pending, Running, Completed, ContinuedAsNew, Failed, Terminated, Suspended (repeatable or a comma list)"}

var pageSizeFlag = flagSpec{Name: "page-size", Kind: stringFlag, Value: "N", Default: "100", Usage: "items per request; the rest is fetched with continuation tokens"}

var commands = []*command{
	{commandSpec: commandSpec{Name: "start", Flags: []flagSpec{
		{Name: "id", Kind: stringFlag, Value: "ID", Usage: "instance id (default: a new one)"},
		{Name: "input", Kind: stringFlag, Value: "JSON", Usage: "orchestration input, a JSON value"},
	}}, Synopsis: "NAME", Summary: "start an orchestration", MinArgs: 1, MaxArgs: 1, Run: runStart},
	{commandSpec: commandSpec{Name: "status", Flags: []flagSpec{
		{Name: "wait", Kind: boolFlag, Usage: "poll until the instance is Completed, Failed or Terminated"},
		{Name: "timeout", Kind: stringFlag, Value: "DURATION", Default: "5m", Usage: "with --wait: give up after this long (0: never)"},
		{Name: "history", Kind: boolFlag, Usage: "show the history events"},
	}}, Synopsis: "ID", Summary: "show an instance's status", MinArgs: 1, MaxArgs: 1, Run: runStatus},
	{commandSpec: commandSpec{Name: "list", Flags: []flagSpec{
		statusFlag,
		{Name: "name", Kind: stringFlag, Value: "NAME", Usage: "only instances of this orchestrator (case-insensitive)"},
		{Name: "prefix", Kind: stringFlag, Value: "PREFIX", Usage: "only instance ids starting with PREFIX"},
		{Name: "since", Kind: stringFlag, Value: "TIME", Usage: "only instances created at or after TIME (ISO 8601, or a duration ago such as 2h)"},
		{Name: "top", Kind: stringFlag, Value: "N", Default: "100", Usage: "at most N instances, following continuation tokens (0: all)"},
		pageSizeFlag,
	}}, Synopsis: "", Summary: "list instances", MinArgs: 0, MaxArgs: 0, Run: runList},
	{commandSpec: commandSpec{Name: "raise"}, Synopsis: "ID EVENT [JSON]", Summary: "raise an external event", MinArgs: 2, MaxArgs: 3, Run: runRaise},
	{commandSpec: commandSpec{Name: "terminate", Flags: []flagSpec{{Name: "reason", Kind: stringFlag, Value: "TEXT", Usage: "why (becomes the output)"}}},
		Synopsis: "ID", Summary: "terminate an instance", MinArgs: 1, MaxArgs: 1, Run: instanceOp("terminate", "terminating")},
	{commandSpec: commandSpec{Name: "suspend", Flags: []flagSpec{{Name: "reason", Kind: stringFlag, Value: "TEXT", Usage: "why (recorded in the history)"}}},
		Synopsis: "ID", Summary: "suspend an instance", MinArgs: 1, MaxArgs: 1, Run: instanceOp("suspend", "suspending")},
	{commandSpec: commandSpec{Name: "resume", Flags: []flagSpec{{Name: "reason", Kind: stringFlag, Value: "TEXT", Usage: "why (recorded in the history)"}}},
		Synopsis: "ID", Summary: "resume a suspended instance", MinArgs: 1, MaxArgs: 1, Run: instanceOp("resume", "resuming")},
	{commandSpec: commandSpec{Name: "restart", Flags: []flagSpec{{Name: "new-id", Kind: boolFlag, Usage: "start under a new instance id (default: the same id)"}}},
		Synopsis: "ID", Summary: "restart an instance with its original input", MinArgs: 1, MaxArgs: 1, Run: runRestart},
	{commandSpec: commandSpec{Name: "purge", Flags: []flagSpec{
		statusFlag,
		{Name: "before", Kind: stringFlag, Value: "TIME", Usage: "purge finished instances created before TIME (ISO 8601, or a duration ago such as 720h)"},
		{Name: "since", Kind: stringFlag, Value: "TIME", Usage: "and created at or after TIME (default: any time)"},
	}}, Synopsis: "ID | --before TIME [--status S]", Summary: "delete the history of finished instances",
		Detail:  "With an ID, purges that instance (it must have finished). Without one, purges every\nfinished instance created before --before (and at or after --since), optionally only\nthose in the --status statuses.",
		MinArgs: 0, MaxArgs: 1, Run: runPurge},
	{commandSpec: commandSpec{Name: "signal"}, Synopsis: "ENTITY KEY OP [JSON]", Summary: "signal an entity operation", MinArgs: 3, MaxArgs: 4, Run: runSignal},
	{commandSpec: commandSpec{Name: "entity get"}, Synopsis: "NAME KEY", Summary: "print an entity's state", MinArgs: 2, MaxArgs: 2, Run: runEntityGet},
	{commandSpec: commandSpec{Name: "entity list", Flags: []flagSpec{
		{Name: "name", Kind: stringFlag, Value: "NAME", Usage: "only entities of this name"},
		{Name: "state", Kind: boolFlag, Usage: "include each entity's state"},
		{Name: "top", Kind: stringFlag, Value: "N", Default: "100", Usage: "at most N entities, following continuation tokens (0: all)"},
		pageSizeFlag,
	}}, Synopsis: "", Summary: "list entities", MinArgs: 0, MaxArgs: 0, Run: runEntityList},
	{commandSpec: commandSpec{Name: "entity delete"}, Synopsis: "NAME KEY", Summary: "delete an entity's state", MinArgs: 2, MaxArgs: 2, Run: runEntityDelete},
	{commandSpec: commandSpec{Name: "poison list", Flags: []flagSpec{
		{Name: "top", Kind: stringFlag, Value: "N", Usage: "only the N newest"},
	}}, Synopsis: "", Summary: "list poisoned queue messages and why", MinArgs: 0, MaxArgs: 0, Run: runPoisonList},
	{commandSpec: commandSpec{Name: "help"}, Synopsis: "[COMMAND]", Summary: "show usage", MinArgs: 0, MaxArgs: -1},
}

func commandSpecs() []*commandSpec {
	out := make([]*commandSpec, len(commands))
	for i, c := range commands {
		out[i] = &c.commandSpec
	}
	return out
}

// groups are the commands made of two words, by first word.
func groups() map[string][]string {
	g := map[string][]string{}
	for _, c := range commands {
		if first, second, ok := strings.Cut(c.Name, " "); ok {
			g[first] = append(g[first], second)
		}
	}
	return g
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// jsonArg validates a JSON argument locally, so a typo is reported before anything
// is sent.
func jsonArg(cmd, what, s string) ([]byte, error) {
	b := []byte(strings.TrimSpace(s))
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		hint := ""
		if !strings.ContainsAny(s, `{["`) {
			hint = ` (a string needs JSON quotes: '"text"')`
		}
		return nil, usagef(cmd, "%s is not valid JSON: %v%s", what, err, hint)
	}
	return b, nil
}

// topArg reads a --top flag: a count, 0 for no limit.
func topArg(p *parsed, cmd string, def int) (int, error) { return countArg(p, cmd, "top", def, 0) }

// countArg reads a count flag of at least low.
func countArg(p *parsed, cmd, name string, def, low int) (int, error) {
	if !p.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(p.Str(name)))
	if err != nil || n < low {
		return 0, usagef(cmd, "--%s wants a count of at least %d, got %q", name, low, p.Str(name))
	}
	return n, nil
}

// maxPageSize is the largest page the engine serves.
const maxPageSize = 1000

var runtimeStatuses = []string{"Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Terminated", "Suspended"}

// statusArgs checks --status values locally and spells them as the API does.
func statusArgs(p *parsed, cmd string) (string, error) {
	var out []string
	for _, v := range p.List("status") {
		found := ""
		for _, s := range runtimeStatuses {
			if strings.EqualFold(v, s) {
				found = s
			}
		}
		if found == "" {
			return "", usagef(cmd, "unknown --status %q (want %s)", v, strings.Join(runtimeStatuses, ", "))
		}
		out = append(out, found)
	}
	return strings.Join(out, ","), nil
}

// timeArg reads a TIME flag: ISO 8601 (a date alone is midnight UTC) or a duration
// meaning that long ago.
func timeArg(p *parsed, cmd, name string, now time.Time) (string, error) {
	v := strings.TrimSpace(p.Str(name))
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Format(time.RFC3339Nano), nil
		}
	}
	return "", usagef(cmd, "--%s wants an ISO 8601 time (2024-05-01, 2024-05-01T10:00:00Z) or a duration ago (90m, 48h), got %q", name, v)
}

func instanceSubject(id string) string { return "instance " + id }

func runStart(ctx context.Context, r *runCtx, p *parsed) error {
	name := p.Args[0]
	var body []byte
	if p.Has("input") {
		var err error
		if body, err = jsonArg("start", "--input", p.Str("input")); err != nil {
			return err
		}
	}
	path := []string{"orchestrators", name}
	if id := p.Str("id"); id != "" {
		path = append(path, id)
	}
	resp, err := r.client.call(ctx, request{method: http.MethodPost, path: path, body: body}, "start "+name, "", http.StatusAccepted, http.StatusOK)
	if err != nil {
		return err
	}
	if r.json {
		return writeJSON(r.out, resp.body)
	}
	var cs struct {
		ID                string `json:"id"`
		StatusQueryGetURI string `json:"statusQueryGetUri"`
	}
	if err := json.Unmarshal(resp.body, &cs); err != nil || cs.ID == "" {
		return fmt.Errorf("start %s: the app answered %d without an instance id: %s", name, resp.status, oneLine(string(resp.body)))
	}
	return writeKV(r.out, [][2]string{{"Started", name}, {"Instance", cs.ID}, {"Status URL", cs.StatusQueryGetURI}})
}

// statusBody is the part of DF's status answer the tool reads.
type statusBody struct {
	Name            string            `json:"name"`
	InstanceID      string            `json:"instanceId"`
	RuntimeStatus   string            `json:"runtimeStatus"`
	Input           json.RawMessage   `json:"input"`
	CustomStatus    json.RawMessage   `json:"customStatus"`
	Output          json.RawMessage   `json:"output"`
	CreatedTime     string            `json:"createdTime"`
	LastUpdatedTime string            `json:"lastUpdatedTime"`
	HistoryEvents   []json.RawMessage `json:"historyEvents"`
}

func terminal(status string) bool {
	return status == "Completed" || status == "Failed" || status == "Terminated"
}

func (r *runCtx) getStatus(ctx context.Context, id string, history bool) (*response, *statusBody, error) {
	q := url.Values{}
	if history {
		q.Set("showHistory", "true")
		q.Set("showHistoryOutput", "true")
	}
	resp, err := r.client.call(ctx, request{method: http.MethodGet, path: []string{"instances", id}, query: q},
		"status of "+id, instanceSubject(id), http.StatusOK, http.StatusAccepted, http.StatusInternalServerError)
	if err != nil {
		return nil, nil, err
	}
	var s statusBody
	if err := json.Unmarshal(resp.body, &s); err != nil || s.RuntimeStatus == "" {
		if resp.status == http.StatusInternalServerError {
			return nil, nil, r.client.failure(resp, "status of "+id, instanceSubject(id))
		}
		return nil, nil, fmt.Errorf("status of %s: the app answered %d with no status: %s", id, resp.status, oneLine(string(resp.body)))
	}
	return resp, &s, nil
}

func runStatus(ctx context.Context, r *runCtx, p *parsed) error {
	id := p.Args[0]
	timeout := 5 * time.Minute
	if p.Has("timeout") {
		d, err := time.ParseDuration(p.Str("timeout"))
		if err != nil || d < 0 {
			return usagef("status", "--timeout wants a duration such as 30s or 10m, got %q", p.Str("timeout"))
		}
		timeout = d
	}
	history := p.Bool("history")
	resp, s, err := r.getStatus(ctx, id, history && !p.Bool("wait"))
	if err != nil {
		return err
	}
	if p.Bool("wait") {
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		// Poll quickly at first (most instances are short), then every 2 s.
		every := 100 * time.Millisecond
		for !terminal(s.RuntimeStatus) {
			if !deadline.IsZero() && time.Now().After(deadline) {
				return fmt.Errorf("instance %s is still %s after %s", id, s.RuntimeStatus, timeout)
			}
			t := time.NewTimer(every)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("interrupted while waiting for instance %s (%s)", id, s.RuntimeStatus)
			case <-t.C:
			}
			every = min(every*2, 2*time.Second)
			if _, s, err = r.getStatus(ctx, id, false); err != nil {
				return err
			}
		}
		if resp, s, err = r.getStatus(ctx, id, history); err != nil {
			return err
		}
	}
	if r.json {
		return writeJSON(r.out, resp.body)
	}
	return writeStatus(r.out, s, history)
}

func runList(ctx context.Context, r *runCtx, p *parsed) error {
	top, err := topArg(p, "list", 100)
	if err != nil {
		return err
	}
	q := url.Values{}
	statuses, err := statusArgs(p, "list")
	if err != nil {
		return err
	}
	if statuses != "" {
		q.Set("runtimeStatus", statuses)
	}
	if p.Has("since") {
		since, err := timeArg(p, "list", "since", time.Now())
		if err != nil {
			return err
		}
		q.Set("createdTimeFrom", since)
	}
	if pre := p.Str("prefix"); pre != "" {
		q.Set("instanceIdPrefix", pre)
	}
	q.Set("showInput", "false")
	pageSize, err := countArg(p, "list", "page-size", 100, 1)
	if err != nil {
		return err
	}
	name := p.Str("name")
	var rows []json.RawMessage
	var list []statusBody
	more, err := r.client.pages(ctx, request{method: http.MethodGet, path: []string{"instances"}, query: q}, "list instances", top, min(pageSize, maxPageSize), name != "",
		func(item json.RawMessage) (bool, error) {
			var s statusBody
			if err := json.Unmarshal(item, &s); err != nil {
				return false, fmt.Errorf("list instances: bad item %s: %v", item, err)
			}
			if name != "" && !strings.EqualFold(s.Name, name) {
				return false, nil
			}
			rows, list = append(rows, item), append(list, s)
			return true, nil
		})
	if err != nil {
		return err
	}
	if r.json {
		return writeJSONArray(r.out, rows)
	}
	t := [][]string{{"INSTANCE", "NAME", "STATUS", "CREATED", "UPDATED"}}
	for _, s := range list {
		t = append(t, []string{s.InstanceID, s.Name, s.RuntimeStatus, s.CreatedTime, s.LastUpdatedTime})
	}
	if err := writeTable(r.out, t); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(r.errOut, "(showing the first %d; there may be more: raise --top, or --top 0 for all)\n", top)
	}
	return nil
}

// pages follows continuation tokens, handing each item to keep, until top items were
// kept (0: no limit) or the last page. It reports whether more items may remain.
// Pages hold at most pageSize items, fewer when only the rest of top is wanted, unless
// filtered says keep drops items.
func (c *client) pages(ctx context.Context, req request, what string, top, pageSize int, filtered bool, keep func(json.RawMessage) (bool, error)) (bool, error) {
	kept := 0
	for {
		q := url.Values{}
		for k, v := range req.query {
			q[k] = v
		}
		size := pageSize
		if top > 0 && !filtered {
			size = min(top-kept, size)
		}
		q.Set("top", strconv.Itoa(size))
		req.query = q
		resp, err := c.call(ctx, req, what, "", http.StatusOK)
		if err != nil {
			return false, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(resp.body, &items); err != nil {
			return false, fmt.Errorf("%s: the app answered with no list: %s", what, oneLine(string(resp.body)))
		}
		next := resp.header.Get(continuationHeader)
		for i, item := range items {
			if top > 0 && kept == top {
				return i < len(items) || next != "", nil
			}
			ok, err := keep(item)
			if err != nil {
				return false, err
			}
			if ok {
				kept++
			}
		}
		if next == "" {
			return false, nil
		}
		if top > 0 && kept == top {
			return true, nil
		}
		if next == req.continuation {
			// A server that hands back the token it was given would page forever.
			return false, fmt.Errorf("%s: the app answered the same continuation token twice", what)
		}
		req.continuation = next
	}
}

func runRaise(ctx context.Context, r *runCtx, p *parsed) error {
	id, event := p.Args[0], p.Args[1]
	var body []byte
	if len(p.Args) == 3 {
		var err error
		if body, err = jsonArg("raise", "event data", p.Args[2]); err != nil {
			return err
		}
	}
	_, err := r.client.call(ctx, request{method: http.MethodPost, path: []string{"instances", id, "raiseEvent", event}, body: body},
		"raise "+event+" on "+id, instanceSubject(id), http.StatusAccepted, http.StatusOK)
	if err != nil {
		return err
	}
	return r.accepted(map[string]any{"instanceId": id, "operation": "raiseEvent", "eventName": event}, "raised %s on instance %s", event, id)
}

// accepted reports a request the API accepted without a body: in --json mode as a
// small object, so scripts always get JSON.
func (r *runCtx) accepted(obj map[string]any, format string, args ...any) error {
	if r.json {
		obj["accepted"] = true
		b, _ := json.Marshal(obj)
		return writeJSON(r.out, b)
	}
	_, err := fmt.Fprintf(r.out, format+"\n", args...)
	return err
}

func instanceOp(op, doing string) func(context.Context, *runCtx, *parsed) error {
	return func(ctx context.Context, r *runCtx, p *parsed) error {
		id := p.Args[0]
		q := url.Values{}
		if reason := p.Str("reason"); reason != "" {
			q.Set("reason", reason)
		}
		if _, err := r.client.call(ctx, request{method: http.MethodPost, path: []string{"instances", id, op}, query: q},
			op+" "+id, instanceSubject(id), http.StatusAccepted, http.StatusOK); err != nil {
			return err
		}
		return r.accepted(map[string]any{"instanceId": id, "operation": op}, "%s instance %s", doing, id)
	}
}

func runRestart(ctx context.Context, r *runCtx, p *parsed) error {
	id := p.Args[0]
	q := url.Values{"restartWithNewInstanceId": {strconv.FormatBool(p.Bool("new-id"))}}
	resp, err := r.client.call(ctx, request{method: http.MethodPost, path: []string{"instances", id, "restart"}, query: q},
		"restart "+id, instanceSubject(id), http.StatusAccepted, http.StatusOK)
	if err != nil {
		return err
	}
	if r.json {
		return writeJSON(r.out, resp.body)
	}
	var cs struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &cs); err != nil || cs.ID == "" {
		return fmt.Errorf("restart %s: the app answered %d without an instance id: %s", id, resp.status, oneLine(string(resp.body)))
	}
	return writeKV(r.out, [][2]string{{"Restarted", id}, {"Instance", cs.ID}})
}

func runPurge(ctx context.Context, r *runCtx, p *parsed) error {
	var resp *response
	var err error
	filter := p.Has("before") || p.Has("since") || p.Has("status")
	switch {
	case len(p.Args) == 1 && filter:
		return usagef("purge", "give an instance ID or filter flags (--before, --since, --status), not both")
	case len(p.Args) == 1:
		id := p.Args[0]
		resp, err = r.client.call(ctx, request{method: http.MethodDelete, path: []string{"instances", id}}, "purge "+id, instanceSubject(id), http.StatusOK)
	case !p.Has("before"):
		// Purging everything by accident takes one forgotten argument; ask for a bound.
		return usagef("purge", "purge needs an instance ID or --before TIME")
	default:
		now := time.Now()
		q := url.Values{}
		before, err := timeArg(p, "purge", "before", now)
		if err != nil {
			return err
		}
		q.Set("createdTimeTo", before)
		// The API wants a lower bound; the Unix epoch is before any instance.
		q.Set("createdTimeFrom", "1970-01-01T00:00:00Z")
		if p.Has("since") {
			since, err := timeArg(p, "purge", "since", now)
			if err != nil {
				return err
			}
			q.Set("createdTimeFrom", since)
		}
		statuses, err := statusArgs(p, "purge")
		if err != nil {
			return err
		}
		if statuses != "" {
			q.Set("runtimeStatus", statuses)
		}
		var raw *response
		if raw, err = r.client.do(ctx, request{method: http.MethodDelete, path: []string{"instances"}, query: q}); err != nil {
			return err
		}
		// 404 here means nothing matched: that is a purge of zero instances, not an error.
		if raw.status != http.StatusOK && (raw.status != http.StatusNotFound || raw.noRoute()) {
			return r.client.failure(raw, "purge", "")
		}
		resp = raw
	}
	if err != nil {
		return err
	}
	var res struct {
		InstancesDeleted int `json:"instancesDeleted"`
	}
	if err := json.Unmarshal(resp.body, &res); err != nil {
		return fmt.Errorf("purge: the app answered %d: %s", resp.status, oneLine(string(resp.body)))
	}
	if r.json {
		if resp.status != http.StatusOK {
			b, _ := json.Marshal(res)
			return writeJSON(r.out, b)
		}
		return writeJSON(r.out, resp.body)
	}
	s := "s"
	if res.InstancesDeleted == 1 {
		s = ""
	}
	_, err = fmt.Fprintf(r.out, "purged %d instance%s\n", res.InstancesDeleted, s)
	return err
}

func entitySubject(name, key string) string { return "entity " + name + "/" + key }

func runSignal(ctx context.Context, r *runCtx, p *parsed) error {
	name, key, op := p.Args[0], p.Args[1], p.Args[2]
	var body []byte
	if len(p.Args) == 4 {
		var err error
		if body, err = jsonArg("signal", "operation input", p.Args[3]); err != nil {
			return err
		}
	}
	_, err := r.client.call(ctx, request{method: http.MethodPost, path: []string{"entities", name, key}, query: url.Values{"op": {op}}, body: body},
		"signal "+name+"/"+key, "", http.StatusAccepted, http.StatusOK)
	if err != nil {
		return err
	}
	return r.accepted(map[string]any{"entityId": map[string]string{"name": name, "key": key}, "operation": op}, "signaled %s/%s: %s", name, key, op)
}

func runEntityGet(ctx context.Context, r *runCtx, p *parsed) error {
	name, key := p.Args[0], p.Args[1]
	resp, err := r.client.do(ctx, request{method: http.MethodGet, path: []string{"entities", name, key}})
	if err != nil {
		return err
	}
	switch {
	case resp.status == http.StatusOK:
		// The state is the answer, in both modes.
		return writeJSON(r.out, resp.body)
	case resp.status == http.StatusNotFound && strings.Contains(resp.serverMessage(), "has no state"):
		return fmt.Errorf("%s not found (it has no state)", entitySubject(name, key))
	default:
		return r.client.failure(resp, "read "+name+"/"+key, "")
	}
}

// entityBody is one item of the entity listing.
type entityBody struct {
	EntityID struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"entityId"`
	LastOperationTime string          `json:"lastOperationTime"`
	State             json.RawMessage `json:"state"`
	LockedBy          string          `json:"lockedBy"`
}

func runEntityList(ctx context.Context, r *runCtx, p *parsed) error {
	top, err := topArg(p, "entity list", 100)
	if err != nil {
		return err
	}
	path := []string{"entities"}
	if n := p.Str("name"); n != "" {
		path = append(path, n)
	}
	q := url.Values{}
	state := p.Bool("state")
	if state {
		q.Set("fetchState", "true")
	}
	pageSize, err := countArg(p, "entity list", "page-size", 100, 1)
	if err != nil {
		return err
	}
	var rows []json.RawMessage
	var list []entityBody
	more, err := r.client.pages(ctx, request{method: http.MethodGet, path: path, query: q}, "list entities", top, min(pageSize, maxPageSize), false,
		func(item json.RawMessage) (bool, error) {
			var e entityBody
			if err := json.Unmarshal(item, &e); err != nil {
				return false, fmt.Errorf("list entities: bad item %s: %v", item, err)
			}
			rows, list = append(rows, item), append(list, e)
			return true, nil
		})
	if err != nil {
		return err
	}
	if r.json {
		return writeJSONArray(r.out, rows)
	}
	head := []string{"NAME", "KEY", "LAST OPERATION", "LOCKED BY"}
	if state {
		head = append(head, "STATE")
	}
	t := [][]string{head}
	for _, e := range list {
		row := []string{e.EntityID.Name, e.EntityID.Key, e.LastOperationTime, e.LockedBy}
		if state {
			row = append(row, compact(e.State))
		}
		t = append(t, row)
	}
	if err := writeTable(r.out, t); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(r.errOut, "(showing the first %d; there may be more: raise --top, or --top 0 for all)\n", top)
	}
	return nil
}

func runEntityDelete(ctx context.Context, r *runCtx, p *parsed) error {
	name, key := p.Args[0], p.Args[1]
	if _, err := r.client.call(ctx, request{method: http.MethodDelete, path: []string{"entities", name, key}},
		"delete "+name+"/"+key, "", http.StatusAccepted, http.StatusOK); err != nil {
		return err
	}
	return r.accepted(map[string]any{"entityId": map[string]string{"name": name, "key": key}, "operation": "delete"}, "deleted entity %s/%s", name, key)
}

// poisonBody is one record of GET .../poison.
type poisonBody struct {
	Queue     string `json:"queue"`
	MessageID string `json:"messageId"`
	Reason    string `json:"reason"`
	Text      string `json:"text"`
	Time      string `json:"time"`
}

func runPoisonList(ctx context.Context, r *runCtx, p *parsed) error {
	top, err := topArg(p, "poison list", 0)
	if err != nil {
		return err
	}
	q := url.Values{}
	if top > 0 {
		q.Set("top", strconv.Itoa(top))
	}
	resp, err := r.client.call(ctx, request{method: http.MethodGet, path: []string{"poison"}, query: q}, "list poison messages", "", http.StatusOK)
	if err != nil {
		return err
	}
	if r.json {
		return writeJSON(r.out, resp.body)
	}
	var recs []poisonBody
	if err := json.Unmarshal(resp.body, &recs); err != nil {
		return fmt.Errorf("list poison messages: the app answered with no list: %s", oneLine(string(resp.body)))
	}
	t := [][]string{{"TIME", "QUEUE", "MESSAGE ID", "REASON", "TEXT"}}
	for _, rec := range recs {
		t = append(t, []string{rec.Time, rec.Queue, rec.MessageID, truncate(rec.Reason, 80), truncate(rec.Text, 60)})
	}
	return writeTable(r.out, t)
}
