package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestFanOut5000: a fan-out of 5,000 activities (more work than one outbox row holds)
// completes with the right sum.
func TestFanOut5000(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	began := time.Now()
	id := start(t, w.Server.URL, "fan_out_fan_in", `{"items": 5000}`)
	s := waitStatus(t, w.Server.URL, id, "Completed", 5*time.Minute)
	if want := sumSquares(5000); string(s.Result) != fmt.Sprint(want) {
		t.Fatalf("result %s, want %d", s.Result, want)
	}
	t.Logf("5000 activities in %s", time.Since(began))
}
