package engine

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/durablego/durablefunctions/internal/history"
)

func TestPendingActivities(t *testing.T) {
	sched := func(id int) history.Event {
		return history.Event{Type: history.TaskScheduled, ID: id, Name: fmt.Sprint("a", id)}
	}
	done := func(typ history.EventType, task int) history.Event {
		return history.Event{Type: typ, ID: -1, TaskID: task}
	}
	cases := []struct {
		name      string
		past, new []history.Event
		want      []int
	}{
		{"none", nil, nil, nil},
		{"scheduled now", nil, []history.Event{sched(0), sched(1)}, []int{0, 1}},
		{"completed and failed", []history.Event{sched(0), sched(1), sched(2)}, []history.Event{done(history.TaskCompleted, 0), done(history.TaskFailed, 2)}, []int{1}},
		{"retry after poison", []history.Event{sched(0), done(history.TaskFailed, 0), {Type: history.TimerCreated, ID: 1}}, []history.Event{{Type: history.TimerFired, TaskID: 1}, sched(2)}, []int{2}},
		{"timers and entity calls do not count", []history.Event{{Type: history.TimerCreated, ID: 0}, {Type: history.EntityCalled, ID: 1}}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pendingActivities(c.past, c.new)
			if len(got) != len(c.want) {
				t.Fatalf("got %d pending (%+v), want %v", len(got), got, c.want)
			}
			for i, e := range got {
				if e.ID != c.want[i] {
					t.Fatalf("pending[%d] = task %d, want %d", i, e.ID, c.want[i])
				}
			}
		})
	}
}

func TestDecodeMessageText(t *testing.T) {
	body := `{"a":[{"i":"x","x":"e","t":3,"n":"F"}]}`
	for name, text := range map[string]string{
		"plain":  body,
		"bom":    "\ufeff" + body,
		"base64": base64.StdEncoding.EncodeToString([]byte(body)),
	} {
		if got := decodeMessageText(text); string(got) != body {
			t.Errorf("%s: got %q", name, got)
		}
	}
	if got := decodeMessageText("not json"); got != nil {
		t.Errorf("not json: got %q, want nil", got)
	}
}

func TestParseCrashRules(t *testing.T) {
	got := parseCrashRules("activity:SayHello, activity:query_audit#0,operation:withdraw,bad,activity:x#y")
	want := []crashRule{{"activity", "SayHello", -1}, {"activity", "query_audit", 0}, {"operation", "withdraw", -1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
