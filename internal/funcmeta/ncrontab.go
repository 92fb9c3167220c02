package funcmeta

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a timer trigger schedule: an NCRONTAB expression or a constant
// interval. It is immutable and safe for concurrent use.
type Schedule struct {
	expr     string
	interval time.Duration
	// Bit i of a field is set when value i matches.
	sec, min, hour, dom, month, dow uint64
}

type cronField struct {
	name     string
	lo, hi   int
	names    map[string]int
	fieldPtr func(*Schedule) *uint64
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

	cronFields = []cronField{
		{"second", 0, 59, nil, func(s *Schedule) *uint64 { return &s.sec }},
		{"minute", 0, 59, nil, func(s *Schedule) *uint64 { return &s.min }},
		{"hour", 0, 23, nil, func(s *Schedule) *uint64 { return &s.hour }},
		{"day", 1, 31, nil, func(s *Schedule) *uint64 { return &s.dom }},
		{"month", 1, 12, monthNames, func(s *Schedule) *uint64 { return &s.month }},
		{"day of week", 0, 6, dayNames, func(s *Schedule) *uint64 { return &s.dow }},
	}
)

// ParseSchedule parses a timerTrigger schedule as the Functions timer extension
// does: six NCRONTAB fields "sec min hour day month dayOfWeek" (five fields,
// without seconds, are also accepted, meaning second 0), or a single TimeSpan
// such as "00:05:00" meaning a constant interval. Fields take *, values, names
// (JAN-DEC, SUN-SAT), ranges a-b, lists a,b and steps */n, a-b/n or a/n (a to
// the field maximum). Like NCRONTAB, a schedule restricting both day and day of
// week fires only on days matching both.
func ParseSchedule(expr string) (*Schedule, error) {
	fields := strings.Fields(expr)
	switch len(fields) {
	case 1:
		d, err := ParseTimeSpan(fields[0])
		if err != nil {
			return nil, fmt.Errorf("schedule %q is neither NCRONTAB nor a TimeSpan: %w", expr, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("schedule %q: interval must be positive", expr)
		}
		return &Schedule{expr: strings.TrimSpace(expr), interval: d}, nil
	case 5:
		fields = append([]string{"0"}, fields...)
	case 6:
	default:
		return nil, fmt.Errorf("schedule %q: want 6 NCRONTAB fields (sec min hour day month dayOfWeek), got %d", expr, len(fields))
	}
	s := &Schedule{expr: strings.Join(fields, " ")}
	for i, f := range cronFields {
		bits, err := parseCronField(fields[i], f)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %s field: %w", expr, f.name, err)
		}
		*f.fieldPtr(s) = bits
	}
	if !s.hasValidDate() {
		return nil, fmt.Errorf("schedule %q never fires: no month has the requested day", expr)
	}
	return s, nil
}

func parseCronField(text string, f cronField) (uint64, error) {
	var bits uint64
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			return 0, fmt.Errorf("empty list item in %q", text)
		}
		step := 1
		rng := item
		if i := strings.IndexByte(item, '/'); i >= 0 {
			n, err := strconv.Atoi(item[i+1:])
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad step in %q", item)
			}
			step = n
			rng = item[:i]
		}
		var lo, hi int
		switch {
		case rng == "*":
			lo, hi = f.lo, f.hi
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = cronValue(a, f); err != nil {
				return 0, err
			}
			if hi, err = cronValue(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q must begin with the lower value", rng)
			}
		default:
			v, err := cronValue(rng, f)
			if err != nil {
				return 0, err
			}
			lo, hi = v, v
			if step > 1 {
				hi = f.hi
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func cronValue(s string, f cronField) (int, error) {
	if f.names != nil {
		if v, ok := f.names[strings.ToUpper(s)]; ok {
			return v, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("bad value %q (NCRONTAB has no ?, L, W or #)", s)
	}
	if v < f.lo || v > f.hi {
		return 0, fmt.Errorf("value %d out of range %d-%d", v, f.lo, f.hi)
	}
	return v, nil
}

// daysInMonth is the longest each month gets (February in leap years).
var daysInMonth = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func (s *Schedule) hasValidDate() bool {
	for m := 1; m <= 12; m++ {
		if s.month&(1<<uint(m)) == 0 {
			continue
		}
		for d := 1; d <= daysInMonth[m]; d++ {
			if s.dom&(1<<uint(d)) != 0 {
				return true
			}
		}
	}
	return false
}

// searchYears bounds Next. Any (month, day) pair that exists falls on every
// weekday within a few decades, so 400 years (a full Gregorian cycle) cannot
// miss an occurrence of a schedule that ParseSchedule accepted.
const searchYears = 400

// Next returns the first occurrence strictly after after, in UTC, truncated to
// whole seconds. For an interval schedule it is after plus the interval, which
// is how the timer extension runs constant schedules. A nil schedule yields the
// zero time.
func (s *Schedule) Next(after time.Time) time.Time {
	if s == nil {
		return time.Time{}
	}
	if s.interval > 0 {
		return after.UTC().Add(s.interval)
	}
	t := after.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.Year() + searchYears
	has := func(bits uint64, v int) bool { return bits&(1<<uint(v)) != 0 }
	for t.Year() <= limit {
		if !has(s.month, int(t.Month())) {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !has(s.dom, t.Day()) || !has(s.dow, int(t.Weekday())) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !has(s.hour, t.Hour()) {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
			continue
		}
		if !has(s.min, t.Minute()) {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
			continue
		}
		if !has(s.sec, t.Second()) {
			t = t.Add(time.Second)
			continue
		}
		return t
	}
	return time.Time{}
}

// Interval reports the constant interval of a TimeSpan schedule.
func (s *Schedule) Interval() (time.Duration, bool) {
	if s == nil || s.interval <= 0 {
		return 0, false
	}
	return s.interval, true
}

// String returns the expression the schedule was parsed from (with a seconds
// field added to a five-field expression).
func (s *Schedule) String() string {
	if s == nil {
		return ""
	}
	return s.expr
}
