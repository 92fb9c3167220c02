package engine

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Fault points of an episode, for crash tests: a worker started with
// DURABLE_CRASH_AT=<point>:<n> exits abruptly (as a SIGKILL would leave it) the n-th
// time it reaches <point>. Production processes never set the variable.
const (
	FaultAfterLoad     = "after-load"     // partition read, nothing written
	FaultAfterCommit   = "after-commit"   // episode committed, outbox not delivered
	FaultAfterDelivery = "after-delivery" // first outbox message delivered, the rest not
)

type faultPlan struct {
	point string
	at    int64
	seen  atomic.Int64
}

var faults = parseFaults(os.Getenv("DURABLE_CRASH_AT"))

func parseFaults(s string) *faultPlan {
	point, n, ok := strings.Cut(s, ":")
	if !ok {
		return nil
	}
	at, err := strconv.ParseInt(n, 10, 64)
	if err != nil || at < 1 {
		return nil
	}
	return &faultPlan{point: point, at: at}
}

// crashPoint exits the process when the configured fault point is reached.
func crashPoint(point string) {
	if faults == nil || faults.point != point {
		return
	}
	if faults.seen.Add(1) == faults.at {
		os.Stderr.WriteString("DURABLE_CRASH_AT reached " + point + ": exiting\n")
		os.Exit(137)
	}
}
