package funcmeta

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTimeSpan parses a .NET TimeSpan string the way host.json values are
// written: "hh:mm", "hh:mm:ss[.fffffff]", "d.hh:mm[:ss[.fffffff]]" or a bare
// day count "d", each optionally negative. Hours must be 0-23 and minutes and
// seconds 0-59: .NET reads "24:00:00" as 24 days, a trap we refuse rather than
// reproduce.
func ParseTimeSpan(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("invalid TimeSpan %q: %s", orig, why)
	}
	if s == "" {
		return bad("empty")
	}
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	var days, hours, mins, secs, frac int64
	if !strings.Contains(s, ":") {
		d, err := parseDigits(s)
		if err != nil {
			return bad("expected d, hh:mm, hh:mm:ss or d.hh:mm:ss")
		}
		days = d
	} else {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return bad("too many ':' separated parts")
		}
		first := parts[0]
		if i := strings.IndexByte(first, '.'); i >= 0 {
			d, err := parseDigits(first[:i])
			if err != nil {
				return bad("bad day count")
			}
			days = d
			first = first[i+1:]
		}
		var err error
		if hours, err = parseDigits(first); err != nil || hours > 23 {
			return bad("hours must be 0-23 (write days as d.hh:mm:ss)")
		}
		if mins, err = parseDigits(parts[1]); err != nil || mins > 59 {
			return bad("minutes must be 0-59")
		}
		if len(parts) == 3 {
			sec := parts[2]
			if i := strings.IndexByte(sec, '.'); i >= 0 {
				f := sec[i+1:]
				if len(f) == 0 || len(f) > 7 {
					return bad("fraction must have 1-7 digits")
				}
				if frac, err = parseDigits(f + strings.Repeat("0", 7-len(f))); err != nil {
					return bad("bad fraction")
				}
				sec = sec[:i]
			}
			if secs, err = parseDigits(sec); err != nil || secs > 59 {
				return bad("seconds must be 0-59")
			}
		}
	}
	const maxDays = int64(math.MaxInt64 / int64(24*time.Hour))
	if days > maxDays-1 {
		return bad("out of range")
	}
	d := time.Duration(days)*24*time.Hour +
		time.Duration(hours)*time.Hour +
		time.Duration(mins)*time.Minute +
		time.Duration(secs)*time.Second +
		time.Duration(frac)*100 // one .NET tick is 100ns
	if neg {
		d = -d
	}
	return d, nil
}

// parseDigits accepts only ASCII digits, because strconv would also take signs.
func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
