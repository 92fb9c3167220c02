package e2e

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/durabletest"
	"github.com/durablego/durablefunctions/handler/apps/patterns"
)

// goldenHistory is the chaining sample's history as the management API serves it,
// which durabletest's replay tests run against. UPDATE_GOLDEN=1 rewrites it.
const goldenHistory = "../../durabletest/testdata/chaining_history.json"

// TestGoldenChainingHistory runs the chaining sample on the real engine, fetches its
// history through the management API and checks that durabletest.Replay accepts it
// against the real code; with UPDATE_GOLDEN=1 it saves it as the golden file.
func TestGoldenChainingHistory(t *testing.T) {
	h := newHarness(t, nil)
	w := h.startWorker()
	api := w.Server.URL + mgmtPath
	id, _ := mgmtStart(t, api, "chaining", "golden-chaining", "")
	mgmtWait(t, api, id, "Completed", 30*time.Second)
	r := do(t, "GET", api+"/instances/"+url.PathEscape(id)+"?showHistory=true&showHistoryOutput=true&showInput=true", "")
	if r.Status != 200 {
		t.Fatalf("status %d %s", r.Status, r.Body)
	}
	reg := durable.NewRegistry()
	patterns.Register(reg)
	if err := durabletest.Replay(reg, "", r.Body); err != nil {
		t.Fatalf("the engine's own history does not replay: %v\n%s", err, r.Body)
	}
	if os.Getenv("UPDATE_GOLDEN") == "" {
		return
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, r.Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	if err := os.MkdirAll(filepath.Dir(goldenHistory), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenHistory, pretty.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", goldenHistory)
}
