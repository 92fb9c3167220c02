package funcmeta

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadSampleApp(t *testing.T) {
	app, err := Load("testdata/app", envMap(map[string]string{
		"ORDER_ROUTE":  "orders",
		"ORDERS_QUEUE": "Orders-In",
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := app.Host
	wantHost := HostConfig{
		Version: "2.0",
		CustomHandler: CustomHandlerConfig{
			DefaultExecutablePath: "bin/handler",
			Arguments:             []string{"-mode", "host"},
		},
		RoutePrefix: "api",
		Queues: QueuesConfig{
			MaxPollingInterval: 2 * time.Second,
			VisibilityTimeout:  5500 * time.Millisecond,
			BatchSize:          8,
			NewBatchThreshold:  4,
			MaxDequeueCount:    3,
			MessageEncoding:    "none",
		},
		FunctionTimeout: 10 * time.Minute,
	}
	if !reflect.DeepEqual(h, wantHost) {
		t.Errorf("Host =\n%+v\nwant\n%+v", h, wantHost)
	}
	var names []string
	for _, f := range app.Functions {
		names = append(names, f.Name)
		if !filepath.IsAbs(f.Dir) || filepath.Base(f.Dir) != f.Name {
			t.Errorf("%s: Dir = %s", f.Name, f.Dir)
		}
	}
	if want := []string{"StartOrder", "counter", "disabledfn", "nightly", "worker"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("functions = %v, want %v", names, want)
	}

	counter := app.Function("COUNTER")
	if counter == nil || !counter.IsHTTP() || counter.IsQueue() || counter.IsTimer() {
		t.Fatalf("counter = %+v", counter)
	}
	if tr := counter.Trigger; tr.AuthLevel != AuthAnonymous || !reflect.DeepEqual(tr.Methods, []string{"get", "post"}) || tr.Route != "counter/{*rest}" {
		t.Errorf("counter trigger = %+v", tr)
	}
	if outs := counter.Outputs(); len(outs) != 1 || outs[0].Name != "res" || outs[0].Type != TypeHTTP {
		t.Errorf("counter outputs = %+v", outs)
	}

	start := app.Function("startorder")
	if start == nil || !start.IsHTTP() {
		t.Fatalf("StartOrder = %+v", start)
	}
	if tr := start.Trigger; tr.Type != TypeHTTPTrigger || tr.AuthLevel != AuthFunction || tr.Methods != nil || tr.Route != "orders/{id:int}" {
		t.Errorf("StartOrder trigger = %+v", tr)
	}
	if q := start.Bindings[1]; q.QueueName != "orders-in" || q.Connection != "Storage" || q.Direction != "out" {
		t.Errorf("StartOrder queue output = %+v", q)
	}

	worker := app.Function("worker")
	if !worker.IsQueue() {
		t.Fatal("worker is not queue-triggered")
	}
	if tr := worker.Trigger; tr.QueueName != "work-items" || tr.Connection != DefaultConnection || tr.DataType != "binary" {
		t.Errorf("worker trigger = %+v", tr)
	}
	if next := worker.Bindings[1]; next.QueueName != "results-{id}" {
		t.Errorf("binding-expression queue name = %q", next.QueueName)
	}

	nightly := app.Function("nightly")
	if !nightly.IsTimer() {
		t.Fatal("nightly is not timer-triggered")
	}
	tr := nightly.Trigger
	if !tr.RunOnStartup || tr.UseMonitor || tr.Schedule != "0 30 2 * * MON-FRI" || tr.ParsedSchedule == nil {
		t.Errorf("nightly trigger = %+v", tr)
	}
	// Saturday 2024-11-30 -> Monday 2024-12-02 02:30.
	if got, want := tr.ParsedSchedule.Next(time.Date(2024, 11, 30, 14, 0, 0, 0, time.UTC)), time.Date(2024, 12, 2, 2, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}

	dis := app.Function("disabledfn")
	if !dis.Disabled || !dis.Trigger.UseMonitor {
		t.Errorf("disabledfn = %+v", dis)
	}
	if d, ok := dis.Trigger.ParsedSchedule.Interval(); !ok || d != 5*time.Minute {
		t.Errorf("interval = %v, %v", d, ok)
	}
	if app.Function("missing") != nil {
		t.Error("Function(missing) != nil")
	}
}

// writeApp creates an app folder from path -> content.
func writeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const minimalHost = `{"version":"2.0"}`

const httpFn = `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"}]}`

func TestHostDefaultsAndCase(t *testing.T) {
	cases := []struct {
		name   string
		host   string
		check  func(HostConfig) bool
		expect string
	}{
		{"defaults", minimalHost, func(h HostConfig) bool {
			return h.RoutePrefix == "api" && h.Queues == QueuesConfig{
				MaxPollingInterval: time.Minute, BatchSize: 16, NewBatchThreshold: 8, MaxDequeueCount: 5, MessageEncoding: "base64",
			} && h.FunctionTimeout == 0 && !h.CustomHandler.EnableForwardingHTTPRequest
		}, "defaults"},
		{"empty route prefix", `{"version":"2.0","extensions":{"http":{"routePrefix":""}}}`,
			func(h HostConfig) bool { return h.RoutePrefix == "" }, `RoutePrefix ""`},
		{"slashes trimmed", `{"version":"2.0","extensions":{"http":{"routePrefix":"/v1/api/"}}}`,
			func(h HostConfig) bool { return h.RoutePrefix == "v1/api" }, `RoutePrefix v1/api`},
		{"any key case", `{"VERSION":"2.0","CustomHandler":{"Description":{"DefaultExecutablePath":"h"},"enableforwardinghttprequest":"true"},"Extensions":{"Queues":{"BatchSize":"4","MAXDEQUEUECOUNT":2,"MessageEncoding":"None","NewBatchThreshold":0}}}`,
			func(h HostConfig) bool {
				return h.CustomHandler.DefaultExecutablePath == "h" && h.CustomHandler.EnableForwardingHTTPRequest &&
					h.Queues.BatchSize == 4 && h.Queues.MaxDequeueCount == 2 && h.Queues.MessageEncoding == "none" && h.Queues.NewBatchThreshold == 0
			}, "case-insensitive keys"},
		{"days timespan and ms", `{"version":"2.0","functionTimeout":"1.02:00:00","extensions":{"queues":{"maxPollingInterval":2000}}}`,
			func(h HostConfig) bool {
				return h.FunctionTimeout == 26*time.Hour && h.Queues.MaxPollingInterval == 2*time.Second
			}, "26h timeout, 2s polling"},
		{"unlimited timeout", `{"version":"2.0","functionTimeout":"-1"}`,
			func(h HostConfig) bool { return h.FunctionTimeout < 0 }, "negative timeout"},
		{"functions allow list", `{"version":"2.0","functions":["other"]}`,
			func(h HostConfig) bool { return true }, "ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := writeApp(t, map[string]string{"host.json": c.host, "fn/function.json": httpFn})
			app, err := Load(root, envMap(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(app.Host) {
				t.Errorf("Host = %+v, want %s", app.Host, c.expect)
			}
		})
	}
	root := writeApp(t, map[string]string{"host.json": `{"version":"2.0","functions":["Other"]}`, "fn/function.json": httpFn, "other/function.json": httpFn})
	app, err := Load(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Functions) != 1 || app.Functions[0].Name != "other" {
		t.Errorf("allow list: functions = %+v", app.Functions)
	}
}

func TestLoadErrors(t *testing.T) {
	fnWith := func(bindings string) string { return `{"bindings":[` + bindings + `]}` }
	cases := []struct {
		name  string
		files map[string]string
		env   map[string]string
		want  []string // substrings of the error
	}{
		{"missing host.json", map[string]string{"fn/function.json": httpFn}, nil, []string{"host.json"}},
		{"bad host JSON", map[string]string{"host.json": `{"version":`}, nil, []string{"host.json", "invalid JSON"}},
		{"missing version", map[string]string{"host.json": `{}`}, nil, []string{"host.json", "version"}},
		{"wrong version", map[string]string{"host.json": `{"version":"1.0"}`}, nil, []string{`"1.0"`}},
		{"batch size too big", map[string]string{"host.json": `{"version":"2.0","extensions":{"queues":{"batchSize":64}}}`}, nil, []string{"batchSize"}},
		{"bad encoding", map[string]string{"host.json": `{"version":"2.0","extensions":{"queues":{"messageEncoding":"utf8"}}}`}, nil, []string{"messageEncoding"}},
		{"bad timespan", map[string]string{"host.json": `{"version":"2.0","extensions":{"queues":{"maxPollingInterval":"2 seconds"}}}`}, nil, []string{"TimeSpan"}},
		{"polling too short", map[string]string{"host.json": `{"version":"2.0","extensions":{"queues":{"maxPollingInterval":"00:00:00.01"}}}`}, nil, []string{"maxPollingInterval"}},
		{"zero dequeue count", map[string]string{"host.json": `{"version":"2.0","extensions":{"queues":{"maxDequeueCount":0}}}`}, nil, []string{"maxDequeueCount"}},
		{"bad function JSON", map[string]string{"host.json": minimalHost, "fn/function.json": `{`}, nil, []string{filepath.Join("fn", "function.json"), "invalid JSON"}},
		{"two triggers", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"in","name":"req"},{"type":"queueTrigger","direction":"in","name":"q","queueName":"abc"}`)},
			nil, []string{filepath.Join("fn", "function.json"), "exactly one trigger", "found 2"}},
		{"no trigger", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(`{"type":"http","direction":"out","name":"res"}`)},
			nil, []string{"exactly one trigger", "found 0"}},
		{"invalid queue name", map[string]string{"host.json": minimalHost, "work/function.json": fnWith(
			`{"type":"queueTrigger","direction":"in","name":"q","queueName":"bad--name"}`)},
			nil, []string{filepath.Join("work", "function.json"), `"bad--name"`}},
		{"queue name too short after resolution", map[string]string{"host.json": minimalHost, "work/function.json": fnWith(
			`{"type":"queueTrigger","direction":"in","name":"q","queueName":"%Q%"}`)},
			map[string]string{"Q": "ab"}, []string{"invalid queue name", `"ab"`}},
		{"unset setting", map[string]string{"host.json": minimalHost, "work/function.json": fnWith(
			`{"type":"queueTrigger","direction":"in","name":"q","queueName":"%WORK_QUEUE%"}`)},
			nil, []string{filepath.Join("work", "function.json"), "WORK_QUEUE", "not set"}},
		{"missing queue name", map[string]string{"host.json": minimalHost, "work/function.json": fnWith(
			`{"type":"queueTrigger","direction":"in","name":"q"}`)},
			nil, []string{"queueName"}},
		{"bad auth level", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"in","name":"req","authLevel":"system"}`)},
			nil, []string{"authLevel", "system"}},
		{"bad route", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"in","name":"req","route":"a/{id:min(1)}"}`)},
			nil, []string{"min(1)"}},
		{"bad schedule", map[string]string{"host.json": minimalHost, "tick/function.json": fnWith(
			`{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 0 * * *  * *"}`)},
			nil, []string{filepath.Join("tick", "function.json"), "schedule"}},
		{"unset schedule setting", map[string]string{"host.json": minimalHost, "tick/function.json": fnWith(
			`{"type":"timerTrigger","direction":"in","name":"t","schedule":"%SCHED%"}`)},
			nil, []string{"SCHED"}},
		{"duplicate binding names", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"REQ"}`)},
			nil, []string{"more than one binding"}},
		{"missing direction", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","name":"req"}`)},
			nil, []string{"direction"}},
		{"trigger out", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"out","name":"req"}`)},
			nil, []string{`direction "in"`}},
		{"bad binding name", map[string]string{"host.json": minimalHost, "fn/function.json": fnWith(
			`{"type":"httpTrigger","direction":"in","name":"1req"}`)},
			nil, []string{"1req"}},
		{"invalid function name", map[string]string{"host.json": minimalHost, "1fn/function.json": httpFn},
			nil, []string{"function name", "1fn"}},
		{"bad data type", map[string]string{"host.json": minimalHost, "work/function.json": fnWith(
			`{"type":"queueTrigger","direction":"in","name":"q","queueName":"abc","dataType":"json"}`)},
			nil, []string{"dataType"}},
		{"errors from two files reported together", map[string]string{"host.json": minimalHost,
			"a/function.json": fnWith(`{"type":"http","direction":"out","name":"res"}`),
			"b/function.json": fnWith(`{"type":"queueTrigger","direction":"in","name":"q","queueName":"A_B"}`)},
			nil, []string{filepath.Join("a", "function.json"), filepath.Join("b", "function.json")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := writeApp(t, c.files)
			_, err := Load(root, envMap(c.env))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDisabledBySetting(t *testing.T) {
	root := writeApp(t, map[string]string{
		"host.json":        minimalHost,
		"a/function.json":  httpFn,
		"b/function.json":  `{"disabled":"B_OFF","bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
		"c/function.json":  httpFn,
		"d/function.json":  `{"excluded":true,"bindings":[]}`,
		"e/notes.txt":      "no function.json",
		".git/config.json": "{}",
	})
	app, err := Load(root, envMap(map[string]string{"AzureWebJobs.a.Disabled": "true", "B_OFF": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range app.Functions {
		got[f.Name] = f.Disabled
	}
	if want := map[string]bool{"a": true, "b": true, "c": false}; !reflect.DeepEqual(got, want) {
		t.Errorf("disabled = %v, want %v", got, want)
	}
}

func TestResolveSettings(t *testing.T) {
	env := envMap(map[string]string{"A": "alpha", "B": "beta"})
	cases := []struct {
		in, want string
		err      string
	}{
		{"plain", "plain", ""},
		{"%A%", "alpha", ""},
		{"x-%A%-%B%-y", "x-alpha-beta-y", ""},
		{"%A%%B%", "alphabeta", ""},
		{"%MISSING%", "", "MISSING"},
		{"50%", "", "unterminated"},
		{"a%%b", "", "empty"},
	}
	for _, c := range cases {
		got, err := ResolveSettings(c.in, env)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ResolveSettings(%q) err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ResolveSettings(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestValidateQueueName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"a-b-c", true},
		{"work-items-1", true},
		{"123", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"-abc", false},
		{"abc-", false},
		{"a--b", false},
		{"ABC", false},
		{"a_b", false},
		{"a.b", false},
		{"", false},
	}
	for _, c := range cases {
		if err := ValidateQueueName(c.name); (err == nil) != c.ok {
			t.Errorf("ValidateQueueName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"00:00:02", 2 * time.Second, false},
		{"00:05:00", 5 * time.Minute, false},
		{"01:30", 90 * time.Minute, false},
		{"00:00:00.5", 500 * time.Millisecond, false},
		{"00:00:01.1234567", time.Second + 123456700*time.Nanosecond, false},
		{"1.02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second, false},
		{"2.00:00", 48 * time.Hour, false},
		{"3", 72 * time.Hour, false},
		{"-1", -24 * time.Hour, false},
		{"-00:00:10", -10 * time.Second, false},
		{" 00:01:00 ", time.Minute, false},
		{"", 0, true},
		{"24:00:00", 0, true},
		{"00:60:00", 0, true},
		{"00:00:60", 0, true},
		{"00:00:00.12345678", 0, true},
		{"00:00:00.", 0, true},
		{"1:2:3:4", 0, true},
		{"+00:00:01", 0, true},
		{"00:-1:00", 0, true},
		{"abc", 0, true},
		{"1.5", 0, true},
		{"99999999.00:00:00", 0, true},
	}
	for _, c := range cases {
		got, err := ParseTimeSpan(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseTimeSpan(%q) = %v, %v; want %v, err=%v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestDurableTaskVersioning(t *testing.T) {
	tests := []struct {
		name, host string
		want       DurableTaskConfig
		err        string
	}{
		{"unset", `{"version":"2.0"}`, DurableTaskConfig{}, ""},
		{"all set, any case", `{"version":"2.0","extensions":{"durableTask":{"defaultVersion":" 2.0 ","versionMatchStrategy":"strict","versionFailureStrategy":"FAIL"}}}`,
			DurableTaskConfig{DefaultVersion: "2.0", VersionMatchStrategy: "Strict", VersionFailureStrategy: "Fail"}, ""},
		{"bad match", `{"version":"2.0","extensions":{"durableTask":{"versionMatchStrategy":"Newer"}}}`, DurableTaskConfig{}, "versionMatchStrategy"},
		{"bad failure", `{"version":"2.0","extensions":{"durableTask":{"versionFailureStrategy":"Ignore"}}}`, DurableTaskConfig{}, "versionFailureStrategy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "host.json"), []byte(tc.host), 0o644); err != nil {
				t.Fatal(err)
			}
			var h HostConfig
			_, err := loadHost(filepath.Join(dir, "host.json"), &h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || h.DurableTask != tc.want {
				t.Fatalf("got %+v (%v), want %+v", h.DurableTask, err, tc.want)
			}
		})
	}
}
