package mgmt

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/gorilla/mux"
)

func TestPathSegments(t *testing.T) {
	cases := []struct {
		name   string
		target string
		vars   map[string]string // nil: no mux variables (marker search)
		want   []string
	}{
		{"mux var", "/api/runtime/webhooks/durabletask/instances/abc", map[string]string{"path": "instances/abc"}, []string{"instances", "abc"}},
		{"escaped slash stays in one segment", "/api/runtime/webhooks/durabletask/instances/a%2Fb%23c/terminate", map[string]string{"path": "instances/a/b#c/terminate"}, []string{"instances", "a/b#c", "terminate"}},
		{"trailing slash", "/api/runtime/webhooks/durabletask/instances/", map[string]string{"path": "instances/"}, []string{"instances"}},
		{"mount root", "/api/runtime/webhooks/durabletask", map[string]string{"path": ""}, nil},
		{"other prefix", "/x/y/runtime/webhooks/durabletask/entities/counter/k%20ey", map[string]string{"path": "entities/counter/k ey"}, []string{"entities", "counter", "k ey"}},
		{"no mux var, prefix-less", "/runtime/webhooks/durabletask/instances/a%2Fb", nil, []string{"instances", "a/b"}},
		{"no mux var, no marker", "/elsewhere/instances", nil, nil},
		{"no mux var, links mount is not the API", "/api/runtime/webhooks/durabletask-links/instances/x", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", c.target, nil)
			if c.vars != nil {
				r = mux.SetURLVars(r, c.vars)
			}
			if got := (&api{mount: MountPath}).pathSegments(r); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("pathSegments(%s) = %q, want %q", c.target, got, c.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 3, 5, 10, 11, 12, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-03-05T10:11:12Z", want, true},
		{"2024-03-05T10:11:12", want, true},
		{"2024-03-05T12:11:12+02:00", want, true},
		{"2024-03-05T12:11:12 02:00", want, true}, // '+' decoded as a space in a query string
		{"2024-03-05T10:11:12.0000000Z", want, true},
		{"2024-03-05", time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), true},
		{"05/03/2024", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, c := range cases {
		got, err := parseTime(c.in)
		if (err == nil) != c.ok || !got.Equal(c.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestQueryStatuses(t *testing.T) {
	cases := []struct {
		query string
		want  []durable.RuntimeStatus
		ok    bool
	}{
		{"", nil, true},
		{"runtimeStatus=Running,completed", []durable.RuntimeStatus{durable.StatusRunning, durable.StatusCompleted}, true},
		{"runtimeStatus=Failed&runtimeStatus=Terminated", []durable.RuntimeStatus{durable.StatusFailed, durable.StatusTerminated}, true},
		{"runtimeStatus=Canceled,Pending", []durable.RuntimeStatus{durable.StatusPending}, true},
		{"runtimeStatus=Sleeping", nil, false},
	}
	for _, c := range cases {
		got, err := queryStatuses(httptest.NewRequest("GET", "/x?"+c.query, nil))
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("queryStatuses(%q) = %v, %v; want %v ok=%v", c.query, got, err, c.want, c.ok)
		}
	}
}

func TestHistoryPayload(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	evs := []history.Event{
		{Type: history.OrchestratorStarted, ID: -1, Timestamp: at(0)},
		{Type: history.ExecutionStarted, ID: -1, Timestamp: at(0), Name: "chaining", Input: json.RawMessage(`{"a":1}`)},
		{Type: history.TaskScheduled, ID: 0, Timestamp: at(1), Name: "F1"},
		{Type: history.TaskCompleted, ID: -1, Timestamp: at(2), TaskID: 0, Result: json.RawMessage(`42`)},
		{Type: history.TaskScheduled, ID: 1, Timestamp: at(3), Name: "F2"},
		{Type: history.TaskFailed, ID: -1, Timestamp: at(4), TaskID: 1, Failure: &durable.FailureDetails{ErrorMessage: "boom"}},
		{Type: history.TaskScheduled, ID: 2, Timestamp: at(5), Name: "F3"}, // still pending
		{Type: history.ExecutionCompleted, ID: -1, Timestamp: at(6), Status: durable.StatusCompleted, Result: json.RawMessage(`"done"`)},
	}
	cases := []struct {
		name            string
		output, input   bool
		wantTypes       []string
		wantResult      bool // the TaskCompleted entry carries Result
		wantStartInput  bool
		wantFunctionFor map[int]string // entry index -> FunctionName
	}{
		{"plain", false, false, []string{"ExecutionStarted", "TaskCompleted", "TaskFailed", "TaskScheduled", "ExecutionCompleted"}, false, false, map[int]string{1: "F1", 2: "F2", 3: "F3"}},
		{"with output and input", true, true, []string{"ExecutionStarted", "TaskCompleted", "TaskFailed", "TaskScheduled", "ExecutionCompleted"}, true, true, map[int]string{1: "F1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := historyPayload(evs, c.output, c.input)
			var types []string
			for _, m := range got {
				types = append(types, m["EventType"].(string))
			}
			if !reflect.DeepEqual(types, c.wantTypes) {
				t.Fatalf("event types %v, want %v", types, c.wantTypes)
			}
			if _, has := got[1]["Result"]; has != c.wantResult {
				t.Fatalf("TaskCompleted Result present=%v, want %v: %v", has, c.wantResult, got[1])
			}
			if _, has := got[0]["Input"]; has != c.wantStartInput {
				t.Fatalf("ExecutionStarted Input present=%v, want %v", has, c.wantStartInput)
			}
			for i, fn := range c.wantFunctionFor {
				if got[i]["FunctionName"] != fn {
					t.Fatalf("entry %d FunctionName %v, want %s", i, got[i]["FunctionName"], fn)
				}
			}
			if got[1]["ScheduledTime"] != at(1).Format(time.RFC3339Nano) {
				t.Fatalf("ScheduledTime %v", got[1]["ScheduledTime"])
			}
			if got[2]["Reason"] != "boom" {
				t.Fatalf("TaskFailed Reason %v", got[2]["Reason"])
			}
		})
	}
}
