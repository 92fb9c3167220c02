package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/storage"
)

// hostSim plays the Functions host: it polls each queue-triggered function's queue
// and POSTs every message to the handler as an invocation request in the host's wire
// format, deleting it on a 2xx answer, as the host does.
type hostSim struct {
	invocations atomic.Int64
	objects     atomic.Int64
	// What the host does with failed invocations, when maxDequeue is set: a message
	// whose attempt failed at DequeueCount >= maxDequeue (or that arrives above it) is
	// moved to <queue>-poison; others become visible again after retryAfter. Unset,
	// a failed message stays invisible until its lease ends.
	maxDequeue int64
	retryAfter time.Duration
	// timeouts are per-function invocation time limits (the host's functionTimeout):
	// the invocation's context ends then.
	timeouts map[string]time.Duration
}

// poison moves m to <queue>-poison as the host does.
func (s *hostSim) poison(ctx context.Context, acct *storage.Account, q storage.Queue, m *storage.Message) {
	pq, err := acct.Queue(ctx, q.Name()+"-poison")
	if err == nil && pq.Send(ctx, m.Text, 0) == nil {
		_ = q.Delete(ctx, m)
	}
}

func (s *hostSim) run(ctx context.Context, t testing.TB, a *app.App, handler http.Handler, acct *storage.Account) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, f := range a.Meta.Functions {
		if !f.IsQueue() {
			continue
		}
		q, err := acct.Queue(ctx, f.Trigger.QueueName)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				msgs, err := q.Receive(ctx, 16, 10*time.Second)
				if err != nil || len(msgs) == 0 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				for _, m := range msgs {
					if s.maxDequeue > 0 && m.DequeueCount > s.maxDequeue {
						s.poison(ctx, acct, q, m)
						continue
					}
					code := s.invoke(handler, f.Name, f.Trigger.Name, m)
					switch {
					case code >= 200 && code < 300:
						_ = q.Delete(ctx, m)
					case s.maxDequeue > 0 && m.DequeueCount >= s.maxDequeue:
						s.poison(ctx, acct, q, m)
					case s.retryAfter > 0:
						_ = q.Extend(ctx, m, s.retryAfter)
					}
				}
			}
		}()
	}
	return &wg
}

// invoke sends one message. JSON message text reaches a custom handler either as an
// object or as a JSON-encoded string (double encoding); both forms are exercised.
func (s *hostSim) invoke(h http.Handler, function, binding string, m *storage.Message) int {
	n := s.invocations.Add(1)
	var data json.RawMessage
	if n%2 == 0 && json.Valid([]byte(m.Text)) && strings.HasPrefix(m.Text, "{") {
		data = json.RawMessage(m.Text)
		s.objects.Add(1)
	} else {
		inner, _ := json.Marshal(m.Text)
		data, _ = json.Marshal(string(inner))
	}
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	body := fmt.Sprintf(`{"Data":{%q:%s},"Metadata":{"DequeueCount":%q,"Id":%s,"PopReceipt":%s,"InsertionTime":%q,"sys":{"MethodName":%q,"UtcNow":%q,"RandGuid":"e59556b5-892a-4465-a19d-4396f0978dab"}}}`,
		binding, data, fmt.Sprint(m.DequeueCount), q(q(m.ID)), q(q(m.PopReceipt)), m.InsertedAt.UTC().Format(time.RFC3339), function, time.Now().UTC().Format(time.RFC3339Nano))
	req := httptest.NewRequest("POST", "/"+function, strings.NewReader(body))
	if d := s.timeouts[function]; d > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), d)
		defer cancel()
		req = req.WithContext(ctx)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("inv-%d", n))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// TestSamplesThroughHostProtocol runs the samples with the simulated host delivering
// every queue message as an invocation request, and HTTP calls as HTTP invocations.
func TestSamplesThroughHostProtocol(t *testing.T) {
	h := newHarness(t, nil)
	a := h.newApp()
	handler, err := a.HostHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sim := &hostSim{}
	wg := sim.run(ctx, t, a, handler, h.az.Account(t))
	defer func() { cancel(); wg.Wait() }()

	// HTTP through invocation requests: start chaining and fan-out, add to the counter.
	httpInvoke := func(function, method, url, body string) map[string]any {
		inv := map[string]any{"Data": map[string]any{"req": map[string]any{
			"Url": url, "Method": method, "Query": map[string]string{}, "Headers": map[string][]string{"Content-Type": {"application/json"}}, "Params": map[string]string{}, "Body": body,
		}}, "Metadata": map[string]any{}}
		b, _ := json.Marshal(inv)
		rec := postInvocation(t, handler, "/"+function, string(b))
		var resp struct {
			Outputs map[string]struct {
				StatusCode json.Number `json:"statusCode"`
				Body       string      `json:"body"`
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("%s: %s", function, rec.Body)
		}
		out := map[string]any{}
		_ = json.Unmarshal([]byte(resp.Outputs["res"].Body), &out)
		out["_status"] = resp.Outputs["res"].StatusCode.String()
		return out
	}
	chain := httpInvoke("http_start", "POST", "http://localhost:7071/api/orchestrators/chaining", "")
	fan := httpInvoke("http_start", "POST", "http://localhost:7071/api/orchestrators/fan_out_fan_in", `{"items": 40}`)
	if chain["_status"] != "202" || fan["_status"] != "202" {
		t.Fatalf("starts: %v %v", chain, fan)
	}
	for i := 0; i < 5; i++ {
		if r := httpInvoke("counter_api", "POST", "http://localhost:7071/api/counter/hosted/add?value=2", ""); r["_status"] != "202" {
			t.Fatalf("counter add: %v", r)
		}
	}
	for _, c := range []struct {
		id   any
		want string
	}{{chain["id"], "45"}, {fan["id"], fmt.Sprint(sumSquares(40))}} {
		id := c.id.(string)
		eventually(t, 60*time.Second, "instance "+id+" completed", func() (bool, string) {
			r := httpInvoke("get_status", "GET", "http://localhost:7071/api/status/"+id, "")
			res, _ := json.Marshal(r["result"])
			return r["status"] == "Completed" && string(res) == c.want, fmt.Sprint(r)
		})
	}
	eventually(t, 30*time.Second, "counter = 10", func() (bool, string) {
		r := httpInvoke("counter_api", "GET", "http://localhost:7071/api/counter/hosted", "")
		return fmt.Sprint(r["value"]) == "10", fmt.Sprint(r)
	})
	if sim.objects.Load() == 0 || sim.invocations.Load() == sim.objects.Load() {
		t.Fatalf("both message forms must be exercised: %d invocations, %d as objects", sim.invocations.Load(), sim.objects.Load())
	}
}
