package engine

import "testing"

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "1.0", -1},
		{"1.0", "", 1},
		{"1.0", "1.0", 0},
		{"1.2", "1.10", -1}, // numeric, not lexical
		{"2", "10", -1},
		{"1.0", "1.0.0", -1}, // System.Version: a missing part is older
		{"2.0.1", "2.0.0.9", 1},
		{"v1-release", "V1-RELEASE", 0}, // not numeric: case-insensitive strings
		{"2025-01-01", "2025-02-01", -1},
		{"1.a", "1.0", 1}, // mixed: string order
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		cfg     Versioning
		version string
		ok      bool
	}{
		{Versioning{}, "9.0", true}, // no default version: no matching
		{Versioning{DefaultVersion: "2.0"}, "1.0", true},
		{Versioning{DefaultVersion: "2.0"}, "", true},
		{Versioning{DefaultVersion: "2.0"}, "3.0", false},
		{Versioning{DefaultVersion: "2.0", MatchStrategy: VersionMatchStrict}, "1.0", false},
		{Versioning{DefaultVersion: "2.0", MatchStrategy: VersionMatchStrict}, "2.0", true},
		{Versioning{DefaultVersion: "2.0", MatchStrategy: VersionMatchNone}, "3.0", true},
	}
	for _, tc := range tests {
		h := &Hub{cfg: Config{Versioning: tc.cfg}}
		if err := h.checkVersion(&orchState{Version: tc.version}); (err == nil) != tc.ok {
			t.Errorf("%+v with instance version %q: err %v, want ok=%v", tc.cfg, tc.version, err, tc.ok)
		}
	}
}
