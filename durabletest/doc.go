// Package durabletest runs orchestrations, activities and entities in memory, for
// unit tests: no storage, no queues, no host, and a virtual clock, on the same replay
// core and entity executor the engine uses.
//
// # Orchestrations
//
// New takes the registry the app registers its functions in; Run starts an
// orchestrator and runs it to completion:
//
//	reg := durable.NewRegistry()
//	patterns.Register(reg)
//	env := durabletest.New(reg)
//	res, err := env.Run("chaining", nil)   // err: a problem with the test itself
//	var out int
//	_ = res.GetOutput(&out)                // res.Status, res.Err(), res.CustomStatus
//	res.History.Activities()               // ["F1" "F2" "F3"]
//
// OnActivity and OnSubOrchestrator replace a function by a mock; SetEntityState and
// EntityState set up and inspect entities, which run for real, with their locks.
//
// The clock starts at Epoch and stands still while work runs. When nothing is left
// to do but a timer is pending, Run jumps to it, so a 72-hour approval timeout takes
// no time; RaiseEventAfter delivers an external event at a virtual time:
//
//	env.RaiseEventAfter(time.Hour, "instance-1", "ApprovalEvent", ApprovalEvent{Approved: true})
//	res, _ := env.Run("approval", req)     // the first instance started is "instance-1"
//
// In manual mode, Start runs an instance until it waits, and Advance, RaiseEvent and
// Status move it on and look at it.
//
// After every episode the Env replays the history it just wrote and checks that the
// code decides the same: an orchestrator that reads the wall clock or branches on
// IsReplaying makes Run return a *durable.NonDeterminismError.
//
// # Entities
//
// RunEntity runs operations on an entity function (or durable.TypedEntity) from a
// given state and reports, per operation, the result or error, the state, and the
// signals and orchestration starts it sent.
//
// # HTTP functions
//
// Client returns a durable.Client backed by the Env, for the
// func(durable.Client) http.Handler factories an app passes to funcapp.App.HTTP:
//
//	env := durabletest.New(reg)
//	h := myapp.StartJob(env.Client())
//	w := httptest.NewRecorder()
//	h.ServeHTTP(w, httptest.NewRequest("POST", "/api/jobs", body))
//	res, _ := env.Status("instance-1")  // the instance the handler started
//
// Work runs predictably: a Client call that sends something (StartNew, RaiseEvent,
// SignalEntity, Terminate, Suspend, Resume, Restart) runs the world until it is idle
// before it returns, without moving the clock, so an instance's activities have run
// and it waits on a timer or an event. Reads run nothing. WaitForCompletion moves the
// virtual clock from timer to timer, as Run does, until the instance finishes. Route
// parameters that funcapp.PathValue reads come from an http.ServeMux pattern or
// r.SetPathValue in a test.
//
// # Recorded histories
//
// Replay checks a history recorded in production (the management API's status with
// showHistory=true&showHistoryOutput=true&showInput=true) against the current code,
// so a change that would break the instances in flight fails a test before it is
// deployed.
package durabletest
