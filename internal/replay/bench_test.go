package replay

import (
	"testing"

	"github.com/durablego/durablefunctions/durable"
)

// BenchmarkReplay1000 replays the history of a 1,000-activity fan-out and applies its
// last episode, which is what a worker does for every batch of completions.
func BenchmarkReplay1000(b *testing.B) {
	w := newWorld(b, 1)
	w.noCheck = true
	w.maxBatch = 100
	w.orchs["FanOut"] = fanOut
	w.acts["Square"] = square
	in := w.start("FanOut", "bench", 1000, nil)
	w.run()
	if in.status != durable.StatusCompleted {
		b.Fatalf("recording: %s", in.status)
	}
	eps := episodes(in.hist)
	last := eps[len(eps)-1]
	past, newEvents := in.hist[:last[0]], incoming(in.hist[last[0]:last[1]])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Execute(fanOut, past, newEvents, Options{})
		if r.Status != durable.StatusCompleted {
			b.Fatal(r.Status)
		}
	}
	b.ReportMetric(float64(len(past)), "events/replay")
}
