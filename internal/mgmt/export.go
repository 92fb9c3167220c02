package mgmt

import (
	"encoding/json"

	"github.com/durablego/durablefunctions/internal/history"
)

// HistoryJSON renders events in the JSON shape of the management API's showHistory
// (what the public client's status and durabletest.Replay use).
func HistoryJSON(events []history.Event, showOutput, showInput bool) (json.RawMessage, error) {
	return json.Marshal(historyPayload(events, showOutput, showInput))
}
