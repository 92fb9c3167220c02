package replay

import (
	"context"
	"log/slog"
	"runtime"

	"github.com/google/uuid"
)

func runtimeGoexit() { runtime.Goexit() }

func uuidV5(name string) string {
	return uuid.NewSHA1(uuid.MustParse("9e952958-5e33-4daf-827f-2fa12937b875"), []byte(name)).String()
}

func slogNew(h slog.Handler) *slog.Logger { return slog.New(h) }

// captureHandler collects the messages of the records it receives.
type captureHandler struct{ lines *[]string }

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "step" {
		return nil // engine diagnostics
	}
	*h.lines = append(*h.lines, r.Message)
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }
