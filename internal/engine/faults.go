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

// Work that crashes the worker every time it runs, for poison tests: a worker started
// with DURABLE_CRASH_ON=<rule>[,<rule>...] exits abruptly whenever it is about to run
// matching user code, as a worker killed by that code (out of memory, a panic in a
// goroutine of its own, os.Exit) would. Rules:
//
//	activity:<name>           every run of activity <name>
//	activity:<name>#<taskID>  only the task with that id (a retry is a new task)
//	operation:<name>          every application of entity operation <name>
//
// Names compare case-insensitively. Production processes never set the variable.
var crashRules = parseCrashRules(os.Getenv("DURABLE_CRASH_ON"))

type crashRule struct {
	kind, name string
	taskID     int // -1: any
}

func parseCrashRules(s string) []crashRule {
	var out []crashRule
	for _, part := range strings.Split(s, ",") {
		kind, rest, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || rest == "" {
			continue
		}
		r := crashRule{kind: kind, name: rest, taskID: -1}
		if name, id, ok := strings.Cut(rest, "#"); ok {
			n, err := strconv.Atoi(id)
			if err != nil {
				continue
			}
			r.name, r.taskID = name, n
		}
		out = append(out, r)
	}
	return out
}

// crashOn exits the process when a DURABLE_CRASH_ON rule matches the work about to run.
func crashOn(kind, name string, taskID int) {
	for _, r := range crashRules {
		if r.kind == kind && strings.EqualFold(r.name, name) && (r.taskID < 0 || r.taskID == taskID) {
			os.Stderr.WriteString("DURABLE_CRASH_ON reached " + kind + " " + name + ": exiting\n")
			os.Exit(137)
		}
	}
}
