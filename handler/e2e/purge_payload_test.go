package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

// ppBig is a value well over the 32 KiB inline limit, so it is stored as payload rows.
var ppBig = strings.Repeat("payload-", 80<<10) // 640 KiB

// TestPurgeRemovesPayloadRows: purging an instance (alone, by filter, a parent and its
// sub-orchestration in either order) and deleting an entity leave no row of its
// partition behind, large values' payload rows included; and a sub-orchestration
// whose parent was purged first still completes, its large input intact.
func TestPurgeRemovesPayloadRows(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startCustomWorker(testRoot(t, "pp_entity"), func(reg *durable.Registry) {
		reg.AddOrchestrator("pp_big", func(ctx durable.OrchestrationContext) (any, error) {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return nil, err
			}
			var out string
			if err := ctx.CallActivity("pp_echo", in, nil).Await(&out); err != nil {
				return nil, err
			}
			return out, nil
		})
		reg.AddActivity("pp_echo", func(ctx durable.ActivityContext) (any, error) {
			var s string
			if err := ctx.GetInput(&s); err != nil {
				return nil, err
			}
			return s + "!", nil
		})
		reg.AddOrchestrator("pp_parent", func(ctx durable.OrchestrationContext) (any, error) {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return nil, err
			}
			var out string
			err := ctx.CallSubOrchestrator("pp_child", in, &durable.SubOrchestratorOptions{InstanceID: ctx.InstanceID() + "-child"}).Await(&out)
			return out, err
		})
		reg.AddOrchestrator("pp_child", func(ctx durable.OrchestrationContext) (any, error) {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return nil, err
			}
			if err := ctx.WaitForExternalEvent("go", 2*time.Minute).Await(nil); err != nil {
				return nil, err
			}
			return strings.ToUpper(in), nil
		})
		reg.AddEntity("pp_entity", func(ctx durable.EntityContext) error {
			var in string
			if err := ctx.GetInput(&in); err != nil {
				return err
			}
			return ctx.SetState(in)
		})
	})
	hub := w.App.Hub
	ctx := testenv.Context(t, 4*time.Minute)
	bigJSON, _ := json.Marshal(ppBig)

	rowsOf := func(t *testing.T, id string) []string {
		t.Helper()
		rows, err := hub.Instances().QueryPartition(ctx, storage.EscapeKey(id))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.RowKey)
		}
		return keys
	}
	payloadRows := func(keys []string) int {
		n := 0
		for _, k := range keys {
			if strings.HasPrefix(k, "p") {
				n++
			}
		}
		return n
	}
	assertEmpty := func(t *testing.T, id string) {
		t.Helper()
		if keys := rowsOf(t, id); len(keys) != 0 {
			t.Fatalf("partition of %s still holds %d rows after purge: %.300v", id, len(keys), keys)
		}
	}
	start := func(t *testing.T, name, id string) {
		t.Helper()
		if _, err := hub.StartOrchestration(ctx, name, id, bigJSON); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(t *testing.T, id string, want durable.RuntimeStatus) *engine.InstanceStatus {
		t.Helper()
		var last *engine.InstanceStatus
		eventually(t, 60*time.Second, id+" "+string(want), func() (bool, string) {
			s, err := hub.GetStatus(ctx, id, nil)
			if err != nil {
				return false, err.Error()
			}
			if s.RuntimeStatus == durable.StatusFailed && want != durable.StatusFailed {
				t.Fatalf("%s failed: %s", id, s.Output)
			}
			last = s
			return s.RuntimeStatus == want, string(s.RuntimeStatus)
		})
		return last
	}
	purge := func(t *testing.T, id string) {
		t.Helper()
		if n, err := hub.Purge(ctx, id); err != nil || n != 1 {
			t.Fatalf("purge %s: %d %v", id, n, err)
		}
	}

	t.Run("one instance", func(t *testing.T) {
		start(t, "pp_big", "pp-one")
		wait(t, "pp-one", durable.StatusCompleted)
		if n := payloadRows(rowsOf(t, "pp-one")); n == 0 {
			t.Fatal("the test is void: the instance stored no payload rows")
		}
		purge(t, "pp-one")
		assertEmpty(t, "pp-one")
	})

	t.Run("by filter", func(t *testing.T) {
		from := time.Now().UTC().Add(-time.Second)
		ids := []string{"pp-f-1", "pp-f-2"}
		for _, id := range ids {
			start(t, "pp_big", id)
		}
		for _, id := range ids {
			wait(t, id, durable.StatusCompleted)
		}
		if n, err := hub.PurgeByFilter(ctx, from, time.Time{}, nil); err != nil || n != len(ids) {
			t.Fatalf("purge by filter: %d %v", n, err)
		}
		for _, id := range ids {
			assertEmpty(t, id)
		}
	})

	t.Run("sub-orchestration purged first", func(t *testing.T) {
		parent, child := "pp-p1", "pp-p1-child"
		start(t, "pp_parent", parent)
		wait(t, child, durable.StatusRunning)
		if err := hub.RaiseEvent(ctx, child, "go", nil); err != nil {
			t.Fatal(err)
		}
		wait(t, parent, durable.StatusCompleted)
		purge(t, child)
		assertEmpty(t, child)
		// The parent's history and output must not depend on the child's rows.
		s, err := hub.GetStatus(ctx, parent, &engine.StatusOptions{ShowHistory: true})
		if err != nil {
			t.Fatalf("parent status after the child's purge: %v", err)
		}
		var out string
		if err := json.Unmarshal(s.Output, &out); err != nil || out != strings.ToUpper(ppBig) {
			t.Fatalf("parent output (%d bytes) is not the child's result: %v", len(out), err)
		}
		purge(t, parent)
		assertEmpty(t, parent)
	})

	t.Run("parent purged first", func(t *testing.T) {
		parent, child := "pp-p2", "pp-p2-child"
		start(t, "pp_parent", parent)
		wait(t, child, durable.StatusRunning)
		if err := hub.Terminate(ctx, parent, "purge test"); err != nil {
			t.Fatal(err)
		}
		wait(t, parent, durable.StatusTerminated)
		purge(t, parent)
		assertEmpty(t, parent)
		// The child replays from its own rows only.
		if err := hub.RaiseEvent(ctx, child, "go", nil); err != nil {
			t.Fatal(err)
		}
		s := wait(t, child, durable.StatusCompleted)
		var out string
		if err := json.Unmarshal(s.Output, &out); err != nil || out != strings.ToUpper(ppBig) {
			t.Fatalf("child output (%d bytes) is not its upper-cased input: %v", len(out), err)
		}
		var in string
		if err := json.Unmarshal(s.Input, &in); err != nil || in != ppBig {
			t.Fatalf("child input (%d bytes) lost: %v", len(in), err)
		}
		// The child's result to the purged parent is dropped, payload and all.
		eventually(t, 30*time.Second, "late messages to the purged parent dropped", func() (bool, string) {
			keys := rowsOf(t, parent)
			return len(keys) == 0, fmt.Sprint(keys)
		})
		purge(t, child)
		assertEmpty(t, child)
	})

	t.Run("entity delete", func(t *testing.T) {
		for _, c := range []struct {
			key, idemKey string
			left         []string // rows that must stay
		}{
			{"plain", "", nil},
			// An entity that remembers an idempotency key keeps its checkpoint and the
			// key's mark row (s...), but not the payload rows.
			{"keyed", "k-1", []string{"!"}},
		} {
			id := durable.NewEntityID("pp_entity", c.key)
			var opts *engine.SignalOptions
			if c.idemKey != "" {
				opts = &engine.SignalOptions{IdempotencyKey: c.idemKey}
			}
			if err := hub.SignalEntity(ctx, id, "set", bigJSON, opts); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "entity holds the value", func() (bool, string) {
				s, err := hub.ReadEntity(ctx, id)
				return err == nil && s.Exists, fmt.Sprint(err)
			})
			if n := payloadRows(rowsOf(t, id.String())); n == 0 {
				t.Fatal("the test is void: the entity stored no payload rows")
			}
			if ok, err := hub.DeleteEntity(ctx, id); err != nil || !ok {
				t.Fatalf("delete %s: %v %v", id, ok, err)
			}
			var marks, others []string
			for _, k := range rowsOf(t, id.String()) {
				if strings.HasPrefix(k, "s") {
					marks = append(marks, k)
				} else {
					others = append(others, k)
				}
			}
			if strings.Join(others, " ") != strings.Join(c.left, " ") {
				t.Fatalf("entity %s: rows %v (and marks %v) after delete, want %v", c.key, others, marks, c.left)
			}
			if (c.idemKey != "") != (len(marks) > 0) {
				t.Fatalf("entity %s: mark rows %v after delete (idempotency key %q)", c.key, marks, c.idemKey)
			}
			if s, err := hub.ReadEntity(ctx, id); err != nil || s.Exists {
				t.Fatalf("entity %s after delete: %+v %v", c.key, s, err)
			}
		}
	})

	t.Run("empty entity clean-up", func(t *testing.T) {
		// An idle empty entity whose partition holds only a leftover payload row.
		id := durable.NewEntityID("pp_entity", "idle")
		pk := storage.EscapeKey(id.String())
		old := time.Now().UTC().Add(-48 * time.Hour)
		cp := &storage.Row{PartitionKey: pk, RowKey: "!", Props: map[string]any{
			"Kind": "entity", "Name": id.Name, "Key": id.Key, "HasState": false, "Created": old, "Modified": old, "NextSeq": int64(0)}}
		garbage := &storage.Row{PartitionKey: pk, RowKey: "p" + strings.Repeat("0", 64) + "|0000", Props: map[string]any{"D": `"x"`}}
		for _, r := range []*storage.Row{cp, garbage} {
			if err := hub.Instances().Insert(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		res, err := hub.CleanEntityStorage(ctx, &engine.CleanOptions{RemoveEmptyEntities: true})
		if err != nil || res.EmptyEntitiesRemoved != 1 {
			t.Fatalf("clean-up: %+v %v", res, err)
		}
		assertEmpty(t, id.String())
	})
}
