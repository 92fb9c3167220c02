package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/cli"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// cliRun is one run of the durable CLI.
type cliRun struct {
	code           int
	stdout, stderr string
}

func (r cliRun) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// runCLI runs the CLI in-process against base with its own output buffers; env
// stands in for the process environment (DURABLE_URL, DURABLE_KEY).
func runCLI(t testing.TB, env map[string]string, args ...string) cliRun {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := testenv.Context(t, time.Minute)
	code := cli.Run(ctx, args, &cli.Options{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return cliRun{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs the CLI and fails the test unless it exited 0 with nothing on stderr.
func cliOK(t testing.TB, base string, args ...string) string {
	t.Helper()
	r := runCLI(t, nil, append([]string{"--url", base}, args...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("durable %q: %s", args, r)
	}
	return r.stdout
}

// cliFails runs the CLI and checks the exit status and the one-line error.
func cliFails(t testing.TB, env map[string]string, code int, stderr string, args ...string) {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != code || r.stderr != stderr || r.stdout != "" {
		t.Fatalf("durable %q: %s; want exit %d, stderr %q", args, r, code, stderr)
	}
}

func cliJSON(t testing.TB, base string, v any, args ...string) {
	t.Helper()
	out := cliOK(t, base, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("durable --json %q printed %q: %v", args, out, err)
	}
}

// tableRow finds the table line whose first column is first and returns its columns.
func tableRow(out, first string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}

// kv reads "Label:  value" lines.
func kv(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// TestCLI runs every subcommand of the durable CLI against a worker, in-process, and
// checks what each one did through the CLI itself and the management API.
func TestCLI(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	base := w.Server.URL
	api := base + mgmtPath
	started := time.Now().UTC()

	waitCustom := func(id, want string) {
		t.Helper()
		eventually(t, 20*time.Second, id+" custom status "+want, func() (bool, string) {
			var s mgmtStatus
			cliJSON(t, base, &s, "status", id)
			return string(s.CustomStatus) == want, s.RuntimeStatus + " " + string(s.CustomStatus)
		})
	}
	waitStatus := func(id, want string) {
		t.Helper()
		eventually(t, 20*time.Second, id+" "+want, func() (bool, string) {
			st := kv(cliOK(t, base, "status", id))["Status"]
			return st == want, st
		})
	}

	t.Run("start and status", func(t *testing.T) {
		out := cliOK(t, base, "start", "chaining", "--id", "cli-chain-1")
		if m := kv(out); m["Started"] != "chaining" || m["Instance"] != "cli-chain-1" || !strings.Contains(m["Status URL"], "/instances/cli-chain-1") {
			t.Fatalf("start printed %q", out)
		}
		// Flags before the arguments, global flag last.
		out = cliOK(t, base, "status", "--wait", "--timeout=30s", "cli-chain-1", "--history")
		m := kv(out)
		if m["Instance"] != "cli-chain-1" || m["Name"] != "chaining" || m["Status"] != "Completed" || m["Output"] != "45" || m["Created"] == "" {
			t.Fatalf("status --wait printed %q", out)
		}
		// The history table: one completed step per activity, in order.
		re := regexp.MustCompile(`(?m)^\S+\s+TaskCompleted\s+(F\d)\s`)
		var steps []string
		for _, s := range re.FindAllStringSubmatch(out, -1) {
			steps = append(steps, s[1])
		}
		if !strings.Contains(out, "History:") || strings.Join(steps, ",") != "F1,F2,F3" || !strings.Contains(out, "ExecutionCompleted") {
			t.Fatalf("history steps %v in %q", steps, out)
		}
		var s mgmtStatus
		cliJSON(t, base, &s, "status", "cli-chain-1", "--history")
		if s.RuntimeStatus != "Completed" || string(s.Output) != "45" || len(s.HistoryEvents) < 4 {
			t.Fatalf("status --json %+v", s)
		}
		// --json prints what the API answered.
		direct := do(t, "GET", api+"/instances/cli-chain-1", "")
		var a, b any
		_ = json.Unmarshal(direct.Body, &a)
		_ = json.Unmarshal([]byte(cliOK(t, base, "--json", "status", "cli-chain-1")), &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("--json printed %v, the API answered %v", b, a)
		}
	})

	t.Run("start with input and wait timeout", func(t *testing.T) {
		var cs struct{ ID string }
		cliJSON(t, base, &cs, "start", "approval", "--input", `{"item":"s","timeoutSeconds":600}`)
		if cs.ID == "" {
			t.Fatal("no id")
		}
		waitCustom(cs.ID, `"waiting for approval"`)
		r := runCLI(t, nil, "--url", base, "status", cs.ID, "--wait", "--timeout", "300ms")
		if r.code != 1 || r.stderr != "durable: instance "+cs.ID+" is still Running after 300ms\n" {
			t.Fatalf("wait timeout: %s", r)
		}
		var s mgmtStatus
		cliJSON(t, base, &s, "status", cs.ID)
		if compactJSON(t, s.Input) != `{"item":"s","timeoutSeconds":600}` || s.Name != "approval" {
			t.Fatalf("input %s", s.Input)
		}
	})

	t.Run("raise", func(t *testing.T) {
		cliOK(t, base, "start", "approval", "--id", "cli-raise", "--input", `{"item":"x","timeoutSeconds":600}`)
		waitCustom("cli-raise", `"waiting for approval"`)
		if out := cliOK(t, base, "raise", "cli-raise", "ApprovalEvent", `{"approved": true}`); out != "raised ApprovalEvent on instance cli-raise\n" {
			t.Fatalf("raise printed %q", out)
		}
		if m := kv(cliOK(t, base, "status", "cli-raise", "--wait", "--timeout", "30s")); m["Status"] != "Completed" || m["Output"] != `"processed x"` {
			t.Fatalf("after raise: %v", m)
		}
	})

	t.Run("suspend resume terminate restart", func(t *testing.T) {
		cliOK(t, base, "start", "approval", "--id", "cli-ops", "--input", `{"item":"y","timeoutSeconds":600}`)
		waitCustom("cli-ops", `"waiting for approval"`)
		if out := cliOK(t, base, "suspend", "cli-ops", "--reason", "hold"); out != "suspending instance cli-ops\n" {
			t.Fatalf("suspend printed %q", out)
		}
		waitStatus("cli-ops", "Suspended")
		var acc map[string]any
		cliJSON(t, base, &acc, "resume", "cli-ops")
		if acc["accepted"] != true || acc["instanceId"] != "cli-ops" || acc["operation"] != "resume" {
			t.Fatalf("resume --json printed %v", acc)
		}
		waitStatus("cli-ops", "Running")
		if out := cliOK(t, base, "terminate", "--reason=stop it", "cli-ops"); out != "terminating instance cli-ops\n" {
			t.Fatalf("terminate printed %q", out)
		}
		if m := kv(cliOK(t, base, "status", "cli-ops", "--wait")); m["Status"] != "Terminated" || m["Output"] != `"stop it"` {
			t.Fatalf("after terminate: %v", m)
		}
		cliFails(t, nil, 1, "durable: instance cli-ops has already finished\n", "--url", base, "terminate", "cli-ops")

		// Restart in place (the default), then under a new id.
		if m := kv(cliOK(t, base, "restart", "cli-ops")); m["Restarted"] != "cli-ops" || m["Instance"] != "cli-ops" {
			t.Fatalf("restart printed %v", m)
		}
		waitCustom("cli-ops", `"waiting for approval"`)
		var cs struct{ ID string }
		cliJSON(t, base, &cs, "restart", "cli-ops", "--new-id")
		if cs.ID == "" || cs.ID == "cli-ops" {
			t.Fatalf("restart --new-id answered id %q", cs.ID)
		}
		waitCustom(cs.ID, `"waiting for approval"`)
		var s mgmtStatus
		cliJSON(t, base, &s, "status", cs.ID)
		if compactJSON(t, s.Input) != `{"item":"y","timeoutSeconds":600}` {
			t.Fatalf("restarted with input %s", s.Input)
		}
		// A running instance cannot restart in place: the app's reason is shown.
		r := runCLI(t, nil, "--url", base, "restart", "cli-ops")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "durable: restart cli-ops: ") || !strings.HasSuffix(r.stderr, "(HTTP 409)\n") {
			t.Fatalf("restart of a running instance: %s", r)
		}
		for _, id := range []string{"cli-ops", cs.ID} {
			cliOK(t, base, "terminate", id)
			cliOK(t, base, "status", id, "--wait", "--timeout", "30s")
		}
	})

	t.Run("list", func(t *testing.T) {
		for i := 1; i <= 5; i++ {
			cliOK(t, base, "start", "chaining", "--id", fmt.Sprintf("cli-page-%d", i))
		}
		cliOK(t, base, "start", "approval", "--id", "cli-page-6", "--input", `{"item":"p","timeoutSeconds":600}`)
		for i := 1; i <= 5; i++ {
			cliOK(t, base, "status", fmt.Sprintf("cli-page-%d", i), "--wait", "--timeout", "30s")
		}
		waitCustom("cli-page-6", `"waiting for approval"`)

		// The API pages at 2, so the CLI has to follow continuation tokens.
		first := do(t, "GET", api+"/instances?instanceIdPrefix=cli-page-&top=2", "")
		if first.Header.Get("x-ms-continuation-token") == "" {
			t.Fatalf("the API gave no continuation token for a page of 2: %s", first.Body)
		}
		var all []mgmtStatus
		cliJSON(t, base, &all, "list", "--prefix", "cli-page-", "--page-size", "2", "--top", "0")
		if len(all) != 6 {
			t.Fatalf("list over pages of 2: %d instances, want 6", len(all))
		}
		// Filters: status (repeated and comma list) and orchestrator name, with --top.
		out := cliOK(t, base, "list", "--page-size=2", "--status", "Completed", "--name", "CHAINING", "--prefix", "cli-page-")
		if !strings.HasPrefix(out, "INSTANCE") || strings.Count(out, "\n") != 6 || tableRow(out, "cli-page-6") != nil {
			t.Fatalf("list --status Completed --name chaining printed %q", out)
		}
		if row := tableRow(out, "cli-page-3"); len(row) != 5 || row[1] != "chaining" || row[2] != "Completed" {
			t.Fatalf("row %q in %q", row, out)
		}
		out = cliOK(t, base, "list", "--status", "Running", "--status", "Pending,Suspended", "--prefix", "cli-page-")
		if row := tableRow(out, "cli-page-6"); row == nil || row[2] != "Running" || strings.Count(out, "\n") != 2 {
			t.Fatalf("list --status Running printed %q", out)
		}
		r := runCLI(t, nil, "--url", base, "list", "--prefix", "cli-page-", "--top", "3", "--page-size", "2", "--name", "chaining")
		if r.code != 0 || strings.Count(r.stdout, "\n") != 4 || !strings.Contains(r.stderr, "showing the first 3") {
			t.Fatalf("list --top 3: %s", r)
		}
		var none []mgmtStatus
		cliJSON(t, base, &none, "list", "--since", "1h", "--status", "Failed")
		if none == nil || len(none) != 0 {
			t.Fatalf("list of no instances printed %v", none)
		}
		cliJSON(t, base, &none, "list", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if len(none) != 0 {
			t.Fatalf("list --since the future: %v", none)
		}
	})

	t.Run("purge", func(t *testing.T) {
		if out := cliOK(t, base, "purge", "cli-chain-1"); out != "purged 1 instance\n" {
			t.Fatalf("purge printed %q", out)
		}
		cliFails(t, nil, 1, "durable: instance cli-chain-1 not found\n", "--url", base, "purge", "cli-chain-1")
		r := runCLI(t, nil, "--url", base, "purge", "cli-page-6")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "durable: instance cli-page-6 has not finished: ") {
			t.Fatalf("purge of a running instance: %s", r)
		}
		// By filter: the completed cli-page-1..5 and cli-raise; the terminated ones stay.
		var res struct{ InstancesDeleted int }
		cliJSON(t, base, &res, "purge", "--status", "Completed", "--before", "0s", "--since", started.Add(-time.Minute).Format(time.RFC3339))
		if res.InstancesDeleted != 6 {
			t.Fatalf("purge by filter deleted %d, want 6", res.InstancesDeleted)
		}
		if out := cliOK(t, base, "purge", "--status", "Completed", "--before", "0s"); out != "purged 0 instances\n" {
			t.Fatalf("second purge printed %q", out)
		}
		var left []mgmtStatus
		cliJSON(t, base, &left, "list", "--status", "Completed", "--top", "0")
		if len(left) != 0 {
			t.Fatalf("completed instances left after purge: %d", len(left))
		}
		cliFails(t, nil, 1, "durable: instance cli-page-2 not found\n", "--url", base, "status", "cli-page-2")
	})

	t.Run("entities", func(t *testing.T) {
		if out := cliOK(t, base, "signal", "counter_entity", "k1", "add", "5"); out != "signaled counter_entity/k1: add\n" {
			t.Fatalf("signal printed %q", out)
		}
		cliOK(t, base, "signal", "counter_entity", "k/2", "add", "--", "-3")
		eventually(t, 20*time.Second, "k1 = 5", func() (bool, string) {
			r := runCLI(t, nil, "--url", base, "entity", "get", "counter_entity", "k1")
			return r.code == 0 && r.stdout == "5\n", r.String()
		})
		eventually(t, 20*time.Second, "k/2 = -3", func() (bool, string) {
			r := runCLI(t, nil, "--url", base, "entity", "get", "counter_entity", "k/2")
			return r.code == 0 && r.stdout == "-3\n", r.String()
		})
		out := cliOK(t, base, "entity", "list", "--name", "counter_entity", "--state")
		if row := tableRow(out, "counter_entity"); !strings.HasPrefix(out, "NAME") || row == nil {
			t.Fatalf("entity list printed %q", out)
		}
		if !regexp.MustCompile(`(?m)^counter_entity\s+k1\s+\S+\s+-\s+5\s*$`).MatchString(out) || !regexp.MustCompile(`(?m)^counter_entity\s+k/2\s+\S+\s+-\s+-3\s*$`).MatchString(out) {
			t.Fatalf("entity list --state printed %q", out)
		}
		var ents []struct {
			EntityID struct{ Name, Key string }
			State    json.RawMessage
		}
		cliJSON(t, base, &ents, "entity", "list", "--page-size", "1", "--state")
		if len(ents) != 2 || string(ents[0].State) == "" {
			t.Fatalf("entity list --json over pages of 1: %+v", ents)
		}
		if out := cliOK(t, base, "entity", "delete", "counter_entity", "k1"); out != "deleted entity counter_entity/k1\n" {
			t.Fatalf("entity delete printed %q", out)
		}
		cliFails(t, nil, 1, "durable: entity counter_entity/k1 not found (it has no state)\n", "--url", base, "entity", "get", "counter_entity", "k1")
		r := runCLI(t, nil, "--url", base, "signal", "no_such_entity", "k", "add", "1")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "durable: signal no_such_entity/k: ") || !strings.HasSuffix(r.stderr, "(HTTP 404)\n") {
			t.Fatalf("signal to an unknown entity: %s", r)
		}
	})

	t.Run("poison list", func(t *testing.T) {
		ctx := testenv.Context(t, 30*time.Second)
		qname := h.hub + "-orchestrator"
		q, err := w.App.Hub.Account().Queue(ctx, qname)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"poison one", "poison two"} {
			if err := q.Send(ctx, text, 0); err != nil {
				t.Fatal(err)
			}
		}
		var recs []struct{ Queue, MessageID, Reason, Text, Time string }
		eventually(t, 20*time.Second, "two poison records", func() (bool, string) {
			cliJSON(t, base, &recs, "poison", "list")
			return len(recs) == 2, fmt.Sprint(recs)
		})
		for _, rec := range recs {
			if rec.Queue != qname || rec.MessageID == "" || rec.Reason == "" || rec.Time == "" || !strings.HasPrefix(rec.Text, "poison ") {
				t.Fatalf("poison record %+v", rec)
			}
		}
		out := cliOK(t, base, "poison", "list", "--top", "1")
		if !strings.HasPrefix(out, "TIME") || strings.Count(out, "\n") != 2 || !strings.Contains(out, qname) {
			t.Fatalf("poison list --top 1 printed %q", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		cliFails(t, nil, 1, "durable: instance nobody not found\n", "--url", base, "status", "nobody")
		cliFails(t, nil, 1, "durable: instance nobody not found\n", "--url", base, "raise", "nobody", "E", "{}")
		cliFails(t, nil, 1, "durable: instance nobody not found\n", "--url", base, "suspend", "nobody")
		// Bad JSON is refused before anything is sent: no instance appears.
		r := runCLI(t, nil, "--url", base, "start", "chaining", "--id", "cli-bad", "--input", "{bad")
		if r.code != 2 || !strings.HasPrefix(r.stderr, "durable: --input is not valid JSON: ") {
			t.Fatalf("bad --input: %s", r)
		}
		cliFails(t, nil, 1, "durable: instance cli-bad not found\n", "--url", base, "status", "cli-bad")
		r = runCLI(t, nil, "--url", base, "signal", "counter_entity", "k9", "add", "five")
		if r.code != 2 || !strings.Contains(r.stderr, "not valid JSON") {
			t.Fatalf("bad signal input: %s", r)
		}
		cliFails(t, nil, 1, "durable: entity counter_entity/k9 not found (it has no state)\n", "--url", base, "entity", "get", "counter_entity", "k9")
		// Unknown orchestrator: the app's reason (DF's ExceptionMessage of its 400).
		r = runCLI(t, nil, "--url", base, "start", "nope")
		if r.code != 1 || r.stderr != "durable: start nope: The function 'nope' doesn't exist, is disabled, or is not an orchestrator function. (HTTP 400)\n" {
			t.Fatalf("unknown orchestrator: %s", r)
		}
		// Wrong route prefix, unreachable app, usage errors.
		r = runCLI(t, nil, "--url", base, "--route-prefix", "nope", "list")
		if r.code != 1 || !strings.Contains(r.stderr, "has no route for list instances") {
			t.Fatalf("wrong route prefix: %s", r)
		}
		dead := httpDeadURL(t)
		r = runCLI(t, map[string]string{cli.EnvURL: dead}, "list")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "durable: cannot reach the app at "+dead+": ") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("unreachable app: %s", r)
		}
		cliFails(t, nil, 2, "durable: unknown command \"fly\" (see 'durable --help')\n", "--url", base, "fly")
		cliFails(t, nil, 2, "durable: unknown flag --bogus for status (see 'durable status --help')\n", "--url", base, "status", "x", "--bogus")
	})
}

// httpDeadURL is a loopback URL nothing listens on.
func httpDeadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

// TestCLIKeys: against an app with keys, the CLI sends --key or $DURABLE_KEY as
// x-functions-key and says how to pass one when the app refuses.
func TestCLIKeys(t *testing.T) {
	h := newHarness(t, env{"AZURE_FUNCTIONS_ENVIRONMENT": "Production", "FUNCTIONS_MASTER_KEY": "m", "FUNCTIONS_HOST_KEYS": "h"})
	w := h.startWorker()
	base := w.Server.URL
	cliFails(t, nil, 1, "durable: the app requires a key (HTTP 401): pass the master key with --key KEY or set DURABLE_KEY\n", "--url", base, "list")
	refused := "durable: the app refused the key (HTTP 401): management routes need the master key (FUNCTIONS_MASTER_KEY); pass it with --key KEY or set DURABLE_KEY\n"
	cliFails(t, nil, 1, refused, "--url", base, "--key", "nope", "list")
	cliFails(t, nil, 1, refused, "--url", base, "status", "x", "--key=h")
	cliFails(t, map[string]string{cli.EnvKey: "nope"}, 1, refused, "--url", base, "entity", "list")

	if r := runCLI(t, nil, "--url", base, "--key", "m", "start", "chaining", "--id", "keyed"); r.code != 0 {
		t.Fatalf("start with the master key: %s", r)
	}
	r := runCLI(t, map[string]string{cli.EnvKey: "m", cli.EnvURL: base}, "status", "keyed", "--wait", "--timeout", "30s")
	if r.code != 0 || kv(r.stdout)["Output"] != "45" {
		t.Fatalf("status with $DURABLE_KEY: %s", r)
	}
	// --key wins over $DURABLE_KEY.
	cliFails(t, map[string]string{cli.EnvKey: "m"}, 1, refused, "--url", base, "--key", "nope", "status", "keyed")
}

// TestCLIBinary builds cmd/durable and runs it as a process: exit statuses, stdout,
// stderr and $DURABLE_URL as a shell sees them.
func TestCLIBinary(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	bin := filepath.Join(t.TempDir(), "durable")
	build := exec.Command("go", "build", "-o", bin, "./cmd/durable")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/durable: %v\n%s", err, out)
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), cli.EnvURL+"="+w.Server.URL, cli.EnvKey+"=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("start", "chaining", "--id", "bin-1", "--json"); code != 0 || !strings.Contains(out, `"id": "bin-1"`) || errs != "" {
		t.Fatalf("start: exit %d %q %q", code, out, errs)
	}
	code, out, errs := run("--json", "status", "--wait", "bin-1")
	var s mgmtStatus
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s.RuntimeStatus != "Completed" || string(s.Output) != "45" || errs != "" {
		t.Fatalf("status --wait: exit %d %q %q", code, out, errs)
	}
	if code, out, errs := run("status", "nobody"); code != 1 || out != "" || errs != "durable: instance nobody not found\n" {
		t.Fatalf("unknown instance: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := run("raise", "bin-1", "E", "{nope"); code != 2 || !strings.HasPrefix(errs, "durable: event data is not valid JSON") {
		t.Fatalf("bad JSON: exit %d %q", code, errs)
	}
	if code, out, _ := run("list", "-h"); code != 0 || !strings.HasPrefix(out, "Usage: durable list") {
		t.Fatalf("list -h: exit %d %q", code, out)
	}
}
