package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Figure is one measured number. Ratio compares it with the raw Azurite baseline
// measured in the same run, so that figures from a loaded machine stay comparable:
// the engine and the baseline suffer the same load.
type Figure struct {
	Group string  `json:"group"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Ratio is Value divided by the baseline named in Baseline (0 when none applies).
	Ratio    float64 `json:"ratio,omitempty"`
	Baseline string  `json:"baseline,omitempty"`
	Note     string  `json:"note,omitempty"`
	// Status is "" for a measured figure, else why there is no number ("timeout",
	// "error"): a figure the engine could not produce is reported, not left out.
	Status string `json:"status,omitempty"`

	ratio *ratio
}

// PhaseResult is what one phase of the run cost, kept in the JSON so that a figure that
// looks wrong can be traced to the storage requests behind it.
type PhaseResult struct {
	Name       string  `json:"name"`
	Seconds    float64 `json:"seconds"`
	Requests   int64   `json:"requests"`
	EmptyPolls int64   `json:"emptyPolls"`
	BenchReads int64   `json:"benchReads"`
	// PeakQueued is the most messages seen in the engine's queues (sampled every 500 ms).
	PeakQueued int `json:"peakQueued"`
	// Stalls counts queue-length samples that took over a second: moments when
	// Azurite answered late, overloaded or stalled (LongestStall seconds at most).
	Stalls       int              `json:"stalls,omitempty"`
	LongestStall float64          `json:"longestStall,omitempty"`
	ByKind       map[string]int64 `json:"byKind"`
	Error        string           `json:"error,omitempty"`
}

// Report is the JSON document the run writes.
type Report struct {
	Date       string         `json:"date"`
	Go         string         `json:"go"`
	OS         string         `json:"os"`
	Cores      int            `json:"cores"`
	GOMAXPROCS int            `json:"gomaxprocs"`
	Azurite    string         `json:"azurite"`
	Mode       string         `json:"mode"`
	Settings   map[string]any `json:"settings"`
	Seconds    float64        `json:"seconds"`
	// SettleSeconds is the part of Seconds spent waiting for the engine's queues to
	// empty between measurements.
	SettleSeconds float64  `json:"settleSeconds"`
	Figures       []Figure `json:"figures"`
	// Baseline is the mean of the baseline passes, which BaselinePasses lists.
	Baseline       map[string]float64   `json:"baseline"`
	BaselinePasses []map[string]float64 `json:"baselinePasses"`
	// RequestsByKind is the engine's account over the whole run (the benchmark's own
	// status and state reads included, as table.get); RawRequestsByKind is the baseline's.
	RequestsByKind    map[string]int64 `json:"requestsByKind"`
	RawRequestsByKind map[string]int64 `json:"rawRequestsByKind"`
	Phases            []PhaseResult    `json:"phases"`
	Problems          []string         `json:"problems,omitempty"`
}

// ratio says which raw figure an engine figure is compared with. Ratios are filled in
// at the end of the run, against the mean of the baseline passes measured before and
// after the engine figures: the machine's load drifts while the run goes on.
type ratio struct {
	base func(*rawBaseline) float64
	name func(base float64) string
}

// against attaches the ratio spec to f.
func against(f Figure, name string, base func(*rawBaseline) float64) Figure {
	f.ratio = &ratio{base: base, name: func(float64) string { return name }}
	return f
}

// fillRatios computes every figure's ratio; without a baseline there are none rather
// than ratios to nothing.
func fillRatios(figs []Figure, r *rawBaseline) {
	if r == nil {
		return
	}
	for i := range figs {
		f := &figs[i]
		if f.ratio == nil || f.Status != "" || math.IsNaN(f.Value) {
			continue
		}
		if base := f.ratio.base(r); base > 0 {
			f.Ratio = f.Value / base
			f.Baseline = f.ratio.name(base)
		}
	}
}

// printTable writes the one table of the run: every figure in the order measured,
// grouped, with its ratio and the baseline the ratio uses.
func printTable(w io.Writer, figs []Figure) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\tratio\tnote")
	fmt.Fprintln(tw, "------\t-----\t----\t-----\t----")
	group := ""
	for _, f := range figs {
		if f.Group != group {
			group = f.Group
			fmt.Fprintf(tw, "[%s]\t\t\t\t\n", group)
		}
		val := formatValue(f.Value)
		if f.Status != "" {
			val = strings.ToUpper(f.Status)
		}
		ratio := ""
		if f.Ratio != 0 {
			ratio = fmt.Sprintf("%.3gx", f.Ratio)
		}
		note := f.Note
		if f.Baseline != "" {
			if note != "" {
				note = "ratio to " + f.Baseline + "; " + note
			} else {
				note = "ratio to " + f.Baseline
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Name, val, f.Unit, ratio, note)
	}
	tw.Flush()
}

func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ms renders a duration in milliseconds with two decimals.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
