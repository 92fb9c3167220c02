package engine

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/history"
)

// opTestEntity exercises what applyEntityOp turns into messages: signals, starts with
// and without an instance id, results, errors and panics.
func opTestEntity(ctx durable.EntityContext) error {
	var n int
	if err := ctx.GetState(&n); err != nil {
		return err
	}
	switch ctx.Operation() {
	case "spawn":
		ctx.SignalEntity(durable.NewEntityID("Other", "x"), "ping", 1)
		a := ctx.StartNewOrchestration("child", "a", "")
		b := ctx.StartNewOrchestration("child", "b", "")
		c := ctx.StartNewOrchestration("child", "c", "named")
		n++
		if err := ctx.SetState(n); err != nil {
			return err
		}
		return ctx.SetResult([]string{a, b, c})
	case "fail":
		_ = ctx.SetState(100)
		ctx.SignalEntity(durable.NewEntityID("Other", "x"), "lost", nil)
		return errors.New("refused")
	case "panic":
		_ = ctx.SetState(-1)
		panic("boom")
	case "delete":
		ctx.DeleteState()
		return nil
	}
	return nil
}

// TestApplyEntityOpMessages pins the messages an operation produces: their targets,
// sequence numbers and ids, and above all the ids of orchestrations started without an
// instance id, which must not change between versions (a re-run operation of an entity
// committed by an older version must start the same instance). The ids were recorded
// from the engine's own executor before it moved to package entityexec.
func TestApplyEntityOpMessages(t *testing.T) {
	h := &Hub{log: slog.New(slog.DiscardHandler)}
	id := durable.NewEntityID("Spawner", "k1")
	st := &entityState{ID: id, State: json.RawMessage("4"), HasState: true, NextSeq: 7}
	var out outgoing
	env := &Envelope{ID: "caller|3", Sender: "caller|e1", Seq: 3, Origin: "caller|e1",
		Op: &EntityOp{Kind: OpCall, Operation: "spawn", ReplyTo: "caller", ReplyExec: "e1", TaskID: 5}}
	h.applyEntityOp(st, env, opTestEntity, true, nil, &out, t0)

	wantStarts := []string{"4b68a466-ea7f-58b7-9ef6-7d52c4b260f8", "f26ff4b5-df6c-54fb-87d3-1fa334cdd69c", "named"}
	if string(st.State) != "5" || !st.HasState || st.NextSeq != 12 {
		t.Fatalf("state %s has %v next %d; want 5 true 12", st.State, st.HasState, st.NextSeq)
	}
	wantTargets := []string{"@other@x", wantStarts[0], wantStarts[1], "named", "caller"}
	if strings.Join(out.order, ",") != strings.Join(wantTargets, ",") {
		t.Fatalf("targets %v; want %v", out.order, wantTargets)
	}
	for i, tgt := range wantTargets {
		e := out.byTgt[tgt][0]
		seq := int64(8 + i)
		if e.Seq != seq || e.Sender != "@spawner@k1" || e.ID != MessageID("@spawner@k1", seq) {
			t.Errorf("message %d to %s: id %s sender %s seq %d; want seq %d", i, tgt, e.ID, e.Sender, e.Seq, seq)
		}
	}
	if op := out.byTgt["@other@x"][0].Op; op == nil || op.Kind != OpSignal || op.Operation != "ping" || string(op.Input) != "1" || out.byTgt["@other@x"][0].Origin != "@spawner@k1" {
		t.Errorf("signal: %+v", out.byTgt["@other@x"][0])
	}
	for i, sid := range wantStarts {
		evs := out.byTgt[sid][0].Events
		if len(evs) != 1 || evs[0].Type != history.ExecutionStarted || evs[0].InstanceID != sid || evs[0].Name != "child" || !evs[0].Timestamp.Equal(t0) {
			t.Errorf("start %d: %+v", i, evs)
		}
	}
	reply := out.byTgt["caller"][0]
	var got []string
	if len(reply.Events) != 1 || reply.Events[0].Type != history.EntityCompleted || reply.Events[0].TaskID != 5 || reply.TargetExec != "e1" {
		t.Fatalf("reply: %+v", reply)
	}
	if err := json.Unmarshal(reply.Events[0].Result, &got); err != nil || strings.Join(got, ",") != strings.Join(wantStarts, ",") {
		t.Errorf("result %s; want %v", reply.Events[0].Result, wantStarts)
	}

	// Failures roll the state back, drop the sends and reach the caller with the
	// engine's error types.
	for _, c := range []struct{ op, errType, msg string }{
		{"fail", "Error", "refused"},
		{"panic", "panic", "entity operation panicked: boom"},
	} {
		var out outgoing
		st := &entityState{ID: id, State: json.RawMessage("4"), HasState: true, NextSeq: 7}
		env := &Envelope{Origin: "caller|e1", Op: &EntityOp{Kind: OpCall, Operation: c.op, ReplyTo: "caller", ReplyExec: "e1", TaskID: 6}}
		h.applyEntityOp(st, env, opTestEntity, true, nil, &out, t0)
		if string(st.State) != "4" || !st.HasState || st.NextSeq != 8 || strings.Join(out.order, ",") != "caller" {
			t.Fatalf("%s: state %s next %d targets %v; want 4, 8, [caller]", c.op, st.State, st.NextSeq, out.order)
		}
		ev := out.byTgt["caller"][0].Events[0]
		if ev.Type != history.EntityFailed || ev.Failure == nil || ev.Failure.ErrorType != c.errType || !strings.Contains(ev.Failure.ErrorMessage, c.msg) {
			t.Errorf("%s: reply %+v failure %+v", c.op, ev, ev.Failure)
		}
	}

	// Unknown entities fail calls; deleting the state leaves none.
	out = outgoing{}
	st = &entityState{ID: id, State: json.RawMessage("4"), HasState: true}
	h.applyEntityOp(st, &Envelope{Op: &EntityOp{Kind: OpCall, Operation: "x", ReplyTo: "caller"}}, nil, false, nil, &out, t0)
	if f := out.byTgt["caller"][0].Events[0].Failure; f == nil || f.ErrorType != "UnknownEntity" || string(st.State) != "4" {
		t.Errorf("unknown entity: %+v state %s", f, st.State)
	}
	h.applyEntityOp(st, &Envelope{Op: &EntityOp{Kind: OpSignal, Operation: "delete"}}, opTestEntity, true, nil, &out, t0)
	if st.HasState || st.State != nil {
		t.Errorf("after delete: has %v state %s", st.HasState, st.State)
	}
}
