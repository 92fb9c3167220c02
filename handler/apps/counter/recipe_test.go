package counter

import (
	"testing"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
)

// TestCounterRecipe: the entity behaves as DF's counter recipe, whoever signals it:
// add without input (or with null) adds 1, add and reset answer the new value, get the
// current one, and an unknown operation answers {"error": "Unsupported operation: X"}
// and leaves the state alone.
func TestCounterRecipe(t *testing.T) {
	run, err := durabletest.RunEntity(Entity, durable.NewEntityID(EntityName, "k"), nil,
		durabletest.Op{Name: "add"},
		durabletest.Op{Name: "add", Input: nil},
		durabletest.Op{Name: "add", Input: 5},
		durabletest.Op{Name: "get"},
		durabletest.Op{Name: "multiply", Input: 3},
		durabletest.Op{Name: "reset"},
		durabletest.Op{Name: "Get"},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1`, `2`, `7`, `7`, `{"error":"Unsupported operation: multiply"}`, `0`, `0`}
	for i, op := range run.Ops {
		if op.Err != nil {
			t.Fatalf("%s failed: %v", op.Operation, op.Err)
		}
		if string(op.Result) != want[i] {
			t.Errorf("op %d %s: result %s, want %s", i, op.Operation, op.Result, want[i])
		}
	}
	if got := string(run.Ops[4].State); got != "7" {
		t.Errorf("state after an unsupported operation: %s, want 7", got)
	}
	var v int64
	if err := run.GetState(&v); err != nil || v != 0 {
		t.Fatalf("final state %d %v", v, err)
	}
}
