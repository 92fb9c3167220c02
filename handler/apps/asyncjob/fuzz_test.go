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
		if err1 != nil || err2 != nil || end.Before(start) {
			t.Fatalf("accepted %q..%q as %+v", s, e, q)
		}
	})
}

func TestParseRangeMessages(t *testing.T) {
	cases := []struct{ s, e, msg string }{
		{"", "01/01/2025", "Empty start date."},
		{"1/1/25", "01/01/2025", "Invalid start date format."},
		{"01/01/2025", "", "Empty end date."},
		{"01/01/2025", "2025-01-02", "Invalid end date format."},
		{"02/01/2025", "01/01/2025", "Invalid date range."},
	}
	for _, c := range cases {
		if _, err := ParseRange(c.s, c.e); err == nil || err.Error() != c.msg {
			t.Errorf("ParseRange(%q, %q) = %v, want %q", c.s, c.e, err, c.msg)
		}
	}
	if q, err := ParseRange(" 01/02/2025 ", "01/02/2025"); err != nil || q.Start != "2025-02-01" || q.End != "2025-02-01" {
		t.Fatalf("one-day range: %+v %v", q, err)
	}
}
