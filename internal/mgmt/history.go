package mgmt

import (
	"github.com/durablego/durablefunctions/internal/history"
	"github.com/durablego/durablefunctions/internal/history/dfjson"
)

// historyPayload renders an execution's history the way DF's status API shows it (see
// dfjson.Render, which durabletest.Replay's parser mirrors).
func historyPayload(events []history.Event, showOutput, showInput bool) []map[string]any {
	return dfjson.Render(events, showOutput, showInput)
}
