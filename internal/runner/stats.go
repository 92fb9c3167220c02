package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// logStats logs the poller's counters every interval: how many empty polls a minute
// the worker makes is what idling costs (one storage transaction each), and lease
// expiries or redeliveries in a healthy run mean something is too slow.
func (p *Poller) logStats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := p.stats.emptyPolls.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			empty := p.stats.emptyPolls.Load()
			p.logStatsLine("worker stats", empty-last, now.Sub(lastAt))
			last, lastAt = empty, now
		}
	}
}

// StatsLine is the JSON the "worker stats" and "worker stopped" log lines carry in
// their stats attribute (tools such as the benchmark parse it).
type StatsLine struct {
	PollerStats
	// EmptyPollsPerMinute is over the interval since the previous line (0 on the last).
	EmptyPollsPerMinute float64        `json:"emptyPollsPerMinute"`
	Extra               map[string]any `json:"extra,omitempty"`
}

func (p *Poller) logStatsLine(msg string, empty int64, over time.Duration) {
	l := StatsLine{PollerStats: p.Stats()}
	if over > 0 {
		l.EmptyPollsPerMinute = float64(empty) / over.Minutes()
	}
	if p.opts.StatsExtra != nil {
		l.Extra = p.opts.StatsExtra()
	}
	b, _ := json.Marshal(l)
	p.log.Info(msg, "emptyPollsPerMinute", int64(l.EmptyPollsPerMinute+0.5), "leaseExpiries", l.LeaseExpiries,
		"redeliveries", l.Redeliveries, "stats", string(b))
}

// SettingStatsInterval sets how often a standalone worker logs its stats line (a Go
// duration; "0" or "off" never; default DefaultStatsInterval).
const SettingStatsInterval = "DURABLE_STATS_INTERVAL"

// StatsIntervalFromSettings reads SettingStatsInterval for PollerOptions.StatsInterval.
func StatsIntervalFromSettings(getenv func(string) string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(SettingStatsInterval))
	switch v {
	case "":
		return DefaultStatsInterval, nil
	case "0", "off":
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive duration such as 5m, or off, got %q", SettingStatsInterval, v)
	}
	return d, nil
}
