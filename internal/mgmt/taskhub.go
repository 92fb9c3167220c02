package mgmt

import (
	"net/http"
	"time"

	"github.com/durablego/durablefunctions/internal/engine"
	"github.com/durablego/durablefunctions/internal/httpx"
)

// TaskHubPayload is the answer of GET taskhub: the hub's name and the depth of each of
// its queues, poison queues included. DF has no such route; dashboards and the CLI
// use it to see backlogs and poisoned work at a glance.
type TaskHubPayload struct {
	TaskHub string              `json:"taskHub"`
	Queues  []engine.QueueDepth `json:"queues"`
}

// PoisonPayload is one poisoned message in the answer of GET poison.
type PoisonPayload struct {
	Queue     string `json:"queue"`
	MessageID string `json:"messageId"`
	Reason    string `json:"reason"`
	Text      string `json:"text"`
	Time      string `json:"time"`
}

// taskHub serves GET taskhub.
func (a *api) taskHub(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) != 0 {
		notFound(w, r)
		return
	}
	if !allow(w, r, http.MethodGet) {
		return
	}
	qs, err := a.hub.QueueDepths(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, TaskHubPayload{TaskHub: a.hub.TaskHubName(), Queues: qs})
}

// poison serves GET poison[?top=N]: the recorded poison messages, newest first.
func (a *api) poison(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) != 0 {
		notFound(w, r)
		return
	}
	if !allow(w, r, http.MethodGet) {
		return
	}
	top, err := queryInt(r, "top")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	recs, err := a.hub.ListPoisonNewest(r.Context(), top)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]PoisonPayload, 0, len(recs))
	for _, p := range recs {
		out = append(out, PoisonPayload{Queue: p.Queue, MessageID: p.MessageID, Reason: p.Reason, Text: p.Text, Time: p.At.UTC().Format(time.RFC3339)})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
