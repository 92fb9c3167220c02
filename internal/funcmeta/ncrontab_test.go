package funcmeta

import (
	"strings"
	"testing"
	"time"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestScheduleNext(t *testing.T) {
	cases := []struct {
		expr  string
		after string
		want  []string // successive occurrences
	}{
		{"*/5 * * * * *", "2024-01-01T00:00:00Z", []string{"2024-01-01T00:00:05Z", "2024-01-01T00:00:10Z"}},
		{"0 */5 * * * *", "2024-01-01T00:03:10Z", []string{"2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z"}},
		{"0 0 * * * *", "2024-01-01T23:59:59Z", []string{"2024-01-02T00:00:00Z", "2024-01-02T01:00:00Z"}},
		{"0 30 9 * * 1-5", "2024-11-29T10:00:00Z", []string{"2024-12-02T09:30:00Z", "2024-12-03T09:30:00Z"}},
		{"0 30 9 * * MON-FRI", "2024-11-29T09:29:59Z", []string{"2024-11-29T09:30:00Z", "2024-12-02T09:30:00Z"}},
		{"0 0 12 * * sat,SUN", "2024-11-29T00:00:00Z", []string{"2024-11-30T12:00:00Z", "2024-12-01T12:00:00Z", "2024-12-07T12:00:00Z"}},
		{"0 0 0 1 JAN,jul *", "2024-02-01T00:00:00Z", []string{"2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"}},
		{"0 0 0 31 * *", "2024-01-31T00:00:00Z", []string{"2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z"}},
		{"0 0 0 29 2 *", "2024-03-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
		// NCRONTAB requires day and day of week to match (not either).
		{"0 0 0 13 * 5", "2024-01-01T00:00:00Z", []string{"2024-09-13T00:00:00Z", "2024-12-13T00:00:00Z"}},
		{"5/15 0 0 * * *", "2024-01-01T00:00:00Z", []string{"2024-01-01T00:00:05Z", "2024-01-01T00:00:20Z", "2024-01-01T00:00:35Z", "2024-01-01T00:00:50Z", "2024-01-02T00:00:05Z"}},
		{"0 10-20/5 * * * *", "2024-01-01T00:00:00Z", []string{"2024-01-01T00:10:00Z", "2024-01-01T00:15:00Z", "2024-01-01T00:20:00Z", "2024-01-01T01:10:00Z"}},
		{"0 0 0 1 1 *", "2024-12-31T23:59:59Z", []string{"2025-01-01T00:00:00Z"}},
		// Five fields: no seconds, fires at second 0.
		{"*/10 * * * *", "2024-01-01T00:00:30Z", []string{"2024-01-01T00:10:00Z"}},
		// Sub-second input is truncated and the result is strictly later.
		{"* * * * * *", "2024-01-01T00:00:00.5Z", []string{"2024-01-01T00:00:01Z"}},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			s, err := ParseSchedule(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(c.after)
			if strings.Contains(c.after, ".") {
				at, _ = time.Parse(time.RFC3339Nano, c.after)
			}
			for _, w := range c.want {
				at = s.Next(at)
				if !at.Equal(utc(w)) || at.Location() != time.UTC {
					t.Fatalf("Next = %v, want %s", at, w)
				}
			}
		})
	}
}

func TestScheduleNextConvertsToUTC(t *testing.T) {
	s, err := ParseSchedule("0 0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	paris := time.FixedZone("CET", 3600)
	// 09:30 in Paris is 08:30 UTC, so the next 09:00 UTC is the same day.
	got := s.Next(time.Date(2024, 1, 10, 9, 30, 0, 0, paris))
	if want := utc("2024-01-10T09:00:00Z"); !got.Equal(want) {
		t.Errorf("Next = %v, want %v", got, want)
	}
}

func TestIntervalSchedule(t *testing.T) {
	cases := []struct {
		expr string
		want time.Duration
	}{
		{"00:05:00", 5 * time.Minute},
		{"00:00:30", 30 * time.Second},
		{"1.00:00:00", 24 * time.Hour},
	}
	for _, c := range cases {
		s, err := ParseSchedule(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if d, ok := s.Interval(); !ok || d != c.want {
			t.Errorf("%s: Interval = %v, %v", c.expr, d, ok)
		}
		base := utc("2024-01-01T00:00:00Z")
		if got := s.Next(base); !got.Equal(base.Add(c.want)) {
			t.Errorf("%s: Next = %v", c.expr, got)
		}
		if s.String() != c.expr {
			t.Errorf("String = %q", s.String())
		}
	}
	cron, _ := ParseSchedule("0 * * * * *")
	if _, ok := cron.Interval(); ok {
		t.Error("cron schedule reports an interval")
	}
	var nilSched *Schedule
	if !nilSched.Next(time.Now()).IsZero() || nilSched.String() != "" {
		t.Error("nil schedule")
	}
}

func TestParseScheduleErrors(t *testing.T) {
	cases := []struct {
		expr string
		want string
	}{
		{"", "6 NCRONTAB fields"},
		{"* * * *", "6 NCRONTAB fields"},
		{"* * * * * * *", "6 NCRONTAB fields"},
		{"60 * * * * *", "second field"},
		{"* 60 * * * *", "minute field"},
		{"* * 24 * * *", "hour field"},
		{"* * * 0 * *", "day field"},
		{"* * * 32 * *", "day field"},
		{"* * * * 13 *", "month field"},
		{"* * * * * 7", "day of week field"},
		{"* * * * * MON-SUN", "lower value"},
		{"* * * * FOO *", "month field"},
		{"*/0 * * * * *", "step"},
		{"1,,2 * * * * *", "empty"},
		{"? * * * * *", "NCRONTAB has no"},
		{"* * * L * *", "NCRONTAB has no"},
		{"0 0 0 30 2 *", "never fires"},
		{"00:00:00", "positive"},
		{"-00:05:00", "positive"},
		{"five", "neither NCRONTAB nor a TimeSpan"},
	}
	for _, c := range cases {
		_, err := ParseSchedule(c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) err = %v, want it to mention %q", c.expr, err, c.want)
		}
	}
}
