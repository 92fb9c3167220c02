package asyncjob

import (
	"testing"
	"time"
)

func FuzzParseRange(f *testing.F) {
	f.Add("01/02/2025", "28/02/2025")
	f.Add("", "")
	f.Add("31/02/2025", "01/03/2025")
	f.Add("2025-02-01", "x")
	f.Fuzz(func(t *testing.T, s, e string) {
		q, err := ParseRange(s, e)
		if err != nil {
			return
		}
		start, err1 := time.Parse(keyLayout, q.Start)
		end, err2 := time.Parse(keyLayout, q.End)
		if err1 != nil || err2 != nil || end.Sub(start) < 24*time.Hour {
			t.Fatalf("accepted %q..%q as %+v", s, e, q)
		}
	})
}

func TestParseRangeMessages(t *testing.T) {
	cases := []struct{ s, e, msg string }{
		{"", "01/01/2025", "Empty start date."},
		{"someday", "01/01/2025", "Invalid start date format."},
		{"01/01/2025", "", "Empty end date."},
		{"01/01/2025", "31/02/2025", "Invalid end date format."},
		{"02/01/2025", "01/01/2025", "Invalid date range."},
		{"01/02/2025", "01/02/2025", "Invalid date range."}, // shorter than one day
		{"2021-08-10T08:00:00", "2021-08-11T07:00:00", "Invalid date range."},
	}
	for _, c := range cases {
		if _, err := ParseRange(c.s, c.e); err == nil || err.Error() != c.msg {
			t.Errorf("ParseRange(%q, %q) = %v, want %q", c.s, c.e, err, c.msg)
		}
	}
}

// TestParseRangeDayFirst: the forms the article's parser reads, day before month.
func TestParseRangeDayFirst(t *testing.T) {
	for _, s := range []string{"10/08/2021", "10/8/2021", "10-08-2021", "2021-08-10", "10 Aug 2021", "10 August 2021", " 10  Aug 2021 "} {
		q, err := ParseRange(s, "1/9/2021")
		if err != nil || q.Start != "2021-08-10" || q.End != "2021-09-01" {
			t.Errorf("ParseRange(%q, 1/9/2021) = %+v, %v; want 2021-08-10..2021-09-01", s, q, err)
		}
	}
	if q, err := ParseRange("1/8/2021", "2/8/2021"); err != nil || q.Start != "2021-08-01" || q.End != "2021-08-02" {
		t.Errorf("one-day range 1/8/2021..2/8/2021: %+v %v", q, err)
	}
}
