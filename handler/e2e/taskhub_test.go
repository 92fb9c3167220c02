package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/testenv"
)

type taskHubAnswer struct {
	TaskHub string `json:"taskHub"`
	Queues  []struct {
		Name                    string `json:"name"`
		Kind                    string `json:"kind"`
		ApproximateMessageCount int    `json:"approximateMessageCount"`
		Poison                  bool   `json:"poison"`
		Exists                  bool   `json:"exists"`
	} `json:"queues"`
}

type poisonAnswer struct {
	Queue     string `json:"queue"`
	MessageID string `json:"messageId"`
	Reason    string `json:"reason"`
	Text      string `json:"text"`
	Time      string `json:"time"`
}

func getTaskHub(t *testing.T, api string) taskHubAnswer {
	t.Helper()
	r := do(t, "GET", api+"/taskhub", "")
	var a taskHubAnswer
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &a) != nil {
		t.Fatalf("GET taskhub: %d %s", r.Status, r.Body)
	}
	return a
}

func getPoison(t *testing.T, api, query string) []poisonAnswer {
	t.Helper()
	r := do(t, "GET", api+"/poison"+query, "")
	var a []poisonAnswer
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &a) != nil || a == nil {
		t.Fatalf("GET poison%s: %d %s", query, r.Status, r.Body)
	}
	return a
}

// TestMgmtTaskHubAndPoison: GET taskhub names every queue of the hub (orchestrator,
// activity, each entity queue, and each one's poison queue) with its depth, without
// creating missing poison queues; GET poison lists the poison table newest first.
func TestMgmtTaskHubAndPoison(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	ctx := testenv.Context(t, time.Minute)

	// The hub's queues are the orchestrator's, the activities' and the entities',
	// as the function folders declare them.
	var want []string
	kinds := map[string]string{}
	for _, f := range w.App.Meta.Functions {
		if !f.IsQueue() {
			continue
		}
		kind := ""
		if _, isEntity := w.App.Hub.Registry().Entity(f.Name); isEntity {
			kind = "entity"
		}
		if strings.EqualFold(f.Name, app.OrchestratorFunction) || strings.EqualFold(f.Name, app.ActivityFunction) {
			kind = strings.ToLower(f.Name)
		}
		if kind != "" {
			want = append(want, f.Trigger.QueueName, f.Trigger.QueueName+"-poison")
			kinds[f.Trigger.QueueName], kinds[f.Trigger.QueueName+"-poison"] = kind, kind
		}
	}
	sort.Strings(want)

	a := getTaskHub(t, api)
	var got []string
	for i, q := range a.Queues {
		got = append(got, q.Name)
		if q.Poison != strings.HasSuffix(q.Name, "-poison") || q.Kind != kinds[q.Name] {
			t.Fatalf("queue %s: poison=%v kind %q, want kind %q", q.Name, q.Poison, q.Kind, kinds[q.Name])
		}
		if q.Poison && (i == 0 || a.Queues[i-1].Name+"-poison" != q.Name) {
			t.Fatalf("poison queue %s does not follow its queue: %v", q.Name, got)
		}
		if q.Poison && (q.Exists || q.ApproximateMessageCount != 0) {
			t.Fatalf("poison queue %s before any poisoning: %+v", q.Name, q)
		}
		if !q.Poison && !q.Exists {
			t.Fatalf("hub queue %s reported missing", q.Name)
		}
	}
	sort.Strings(got)
	if a.TaskHub != h.hub || len(want) < 8 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("taskhub %q queues %v, want %q %v", a.TaskHub, got, h.hub, want)
	}
	// Looking did not create the poison queues.
	if a := getTaskHub(t, api); a.Queues[1].Exists {
		t.Fatalf("GET taskhub created %s", a.Queues[1].Name)
	}
	if p := getPoison(t, api, ""); len(p) != 0 {
		t.Fatalf("poison before any poisoning: %+v", p)
	}

	// A delayed message counts in its queue's depth.
	actQ := h.hub + "-activity"
	q, err := w.App.Hub.Account().Queue(ctx, actQ)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, "later", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	depth := func(a taskHubAnswer, name string) int {
		for _, q := range a.Queues {
			if q.Name == name {
				return q.ApproximateMessageCount
			}
		}
		t.Fatalf("no queue %s in %+v", name, a)
		return 0
	}
	if n := depth(getTaskHub(t, api), actQ); n != 1 {
		t.Fatalf("%s depth %d, want 1", actQ, n)
	}

	// Two messages no worker can process, a second apart, are poisoned: the poison
	// queue's depth and the poison list show them, newest first.
	orchQ := h.hub + "-orchestrator"
	oq, err := w.App.Hub.Account().Queue(ctx, orchQ)
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"first bad message", "second bad message"} {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // RFC3339 times have whole seconds
		}
		if err := oq.Send(ctx, text, 0); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, text+" poisoned", func() (bool, string) {
			p := getPoison(t, api, "")
			return len(p) == i+1, fmt.Sprint(p)
		})
	}
	p := getPoison(t, api, "")
	if p[0].Text != "second bad message" || p[1].Text != "first bad message" {
		t.Fatalf("poison not newest first: %+v", p)
	}
	for _, r := range p {
		ts, err := time.Parse(time.RFC3339, r.Time)
		if r.Queue != orchQ || r.MessageID == "" || !strings.Contains(r.Reason, "not a wake-up") || err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("poison record %+v (time: %v)", r, err)
		}
	}
	if !p[0].timeAfter(p[1]) {
		t.Fatalf("newest first but times %s, %s", p[0].Time, p[1].Time)
	}
	if top := getPoison(t, api, "?top=1"); len(top) != 1 || top[0].MessageID != p[0].MessageID {
		t.Fatalf("top=1: %+v", top)
	}
	eventually(t, 10*time.Second, "poison queue depth", func() (bool, string) {
		a := getTaskHub(t, api)
		return depth(a, orchQ+"-poison") == 2, fmt.Sprint(a.Queues)
	})

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			status       int
		}{
			{"POST", "/taskhub", 405},
			{"DELETE", "/poison", 405},
			{"GET", "/taskhub/extra", 404},
			{"GET", "/poison/extra", 404},
			{"GET", "/poison?top=0", 400},
			{"GET", "/poison?top=ten", 400},
		} {
			r := do(t, c.method, api+c.path, "")
			if r.Status != c.status {
				t.Fatalf("%s %s: %d, want %d (%s)", c.method, c.path, r.Status, c.status, r.Body)
			}
			if msg, _ := r.JSON(t)["Message"].(string); msg == "" { // DF's error shape
				t.Fatalf("%s %s: no error message in %s", c.method, c.path, r.Body)
			}
		}
	})
}

func (p poisonAnswer) timeAfter(o poisonAnswer) bool {
	a, _ := time.Parse(time.RFC3339, p.Time)
	b, _ := time.Parse(time.RFC3339, o.Time)
	return a.After(b)
}
