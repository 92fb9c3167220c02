package dfjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func brief(evs []history.Event) string {
	var s []string
	for _, e := range evs {
		switch {
		case e.Type == history.OrchestratorStarted:
			s = append(s, fmt.Sprintf("OS@%d", e.Timestamp.Sub(t0).Milliseconds()))
		case e.ID >= 0:
			s = append(s, fmt.Sprintf("%s#%d%s", e.Type, e.ID, e.Name))
		case e.IsCompletion():
			s = append(s, fmt.Sprintf("%s>%d", e.Type, e.TaskID))
		default:
			s = append(s, string(e.Type))
		}
	}
	return strings.Join(s, " ")
}

// TestParseRebuildsTheStream renders a history, parses it back and checks where the
// folded scheduling events and the episode markers land.
func TestParseRebuildsTheStream(t *testing.T) {
	c := durable.NewEntityID("counter", "c")
	hist := []history.Event{
		{Type: history.OrchestratorStarted, ID: -1, Timestamp: at(100)},
		{Type: history.ExecutionStarted, ID: -1, Timestamp: at(0), Name: "o", InstanceID: "i1", Input: json.RawMessage(`{"a":1}`)},
		{Type: history.TaskScheduled, ID: 0, Timestamp: at(100), Name: "A"},
		{Type: history.TaskScheduled, ID: 1, Timestamp: at(100), Name: "B"},
		{Type: history.OrchestratorStarted, ID: -1, Timestamp: at(200)},
		{Type: history.EventRaised, ID: -1, Timestamp: at(150), Name: "x", Input: json.RawMessage(`"p"`)},
		{Type: history.OrchestratorStarted, ID: -1, Timestamp: at(300)},
		{Type: history.TaskCompleted, ID: -1, Timestamp: at(250), TaskID: 1, Result: json.RawMessage(`2`)},
		{Type: history.EntityCalled, ID: 2, Timestamp: at(300), Name: "get", Entity: &c},
		{Type: history.EventSent, ID: 3, Timestamp: at(300), Name: "ping", InstanceID: "other"},
		{Type: history.OrchestratorStarted, ID: -1, Timestamp: at(400)},
		{Type: history.TaskFailed, ID: -1, Timestamp: at(350), TaskID: 0, Failure: &durable.FailureDetails{ErrorType: "E", ErrorMessage: "boom"}},
		{Type: history.EntityCompleted, ID: -1, Timestamp: at(360), TaskID: 2, Result: json.RawMessage(`5`)},
		{Type: history.TimerCreated, ID: 4, Timestamp: at(400), FireAt: at(9000)},
		{Type: history.ExecutionCompleted, ID: -1, Timestamp: at(400), Status: durable.StatusFailed, Failure: &durable.FailureDetails{ErrorMessage: "x"}},
	}
	b, _ := json.Marshal(Render(hist, true, true))
	x, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	// The folded A and B go as late as they can: before B's completion, which follows
	// the raised event; the episode at 200 (which scheduled nothing) merges into 100's.
	want := "OS@100 ExecutionStarted EventRaised TaskScheduled#0A TaskScheduled#1B OS@300 TaskCompleted>1 EntityOperationCalled#2get EventSent#3ping OS@400 TaskFailed>0 EntityOperationCompleted>2 TimerCreated#4"
	if got := brief(x.Events); got != want {
		t.Fatalf("stream\n %s\nwant\n %s", got, want)
	}
	if x.Name != "o" || x.InstanceID != "i1" || x.End == nil || x.End.Status != durable.StatusFailed || x.End.Failure.ErrorMessage != "x" {
		t.Fatalf("execution %+v end %+v", x, x.End)
	}
	ev := x.Events[1]
	if string(ev.Input) != `{"a":1}` || ev.Name != "o" {
		t.Fatalf("start %+v", ev)
	}
	if f := x.Events[10].Failure; f == nil || f.ErrorType != "E" || f.ErrorMessage != "boom" {
		t.Fatalf("failure %+v", f)
	}
	if e := x.Events[8]; e.InstanceID != "other" || e.Name != "ping" {
		t.Fatalf("event sent %+v", e)
	}
	if e := x.Events[7]; e.Entity == nil || *e.Entity != c {
		t.Fatalf("entity call %+v", e)
	}
}

// TestParseInfersMissingIDs: DF-shaped JSON without EventId on sends and releases gets
// the ids the other scheduling events leave free.
func TestParseInfersMissingIDs(t *testing.T) {
	body := `[
	 {"EventType": "ExecutionStarted", "FunctionName": "o", "Timestamp": "2024-01-01T00:00:00Z"},
	 {"EventType": "EventSent", "Name": "e", "InstanceId": "x", "Timestamp": "2024-01-01T00:00:01Z"},
	 {"EventType": "TaskCompleted", "TaskScheduledId": 1, "FunctionName": "A", "ScheduledTime": "2024-01-01T00:00:01Z", "Timestamp": "2024-01-01T00:00:02Z"},
	 {"EventType": "EntityUnlockSent", "EntityId": "@c@k", "Timestamp": "2024-01-01T00:00:03Z"}
	]`
	x, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	// Episodes start right after the previous one's last scheduling event.
	want := "OS@1000 ExecutionStarted EventSent#0e TaskScheduled#1A OS@3000 TaskCompleted>1 EntityUnlockSent#2"
	if got := brief(x.Events); got != want {
		t.Fatalf("stream\n %s\nwant\n %s", got, want)
	}
}
