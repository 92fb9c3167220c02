package storage_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/durablego/durablefunctions/internal/storage"
)

// FuzzEscapeKey: every string escapes to a legal table key and back.
func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"plain", "a/b#c?d\\e%", "\x00\x1f\x7f", "@counter_entity@k", "%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := storage.EscapeKey(s)
		if strings.ContainsAny(e, "/\\#?") || strings.IndexFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			t.Fatalf("EscapeKey(%q) = %q holds a forbidden character", s, e)
		}
		back, err := storage.UnescapeKey(e)
		if err != nil || back != s {
			t.Fatalf("round trip %q -> %q -> %q (%v)", s, e, back, err)
		}
	})
}

// FuzzASCIIJSON: escaping non-ASCII keeps the JSON value.
func FuzzASCIIJSON(f *testing.F) {
	f.Add(`"héllo 🙂"`)
	f.Add(`{"a":"ü","b":[1,"✓"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var want any
		if json.Unmarshal([]byte(s), &want) != nil {
			return
		}
		out := storage.ASCIIJSON([]byte(s))
		for _, c := range out {
			if c >= 0x80 {
				t.Fatalf("non-ASCII byte left in %q", out)
			}
		}
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("escaped JSON invalid: %v (%q)", err, out)
		}
		a, _ := json.Marshal(want)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Fatalf("value changed: %s vs %s", a, b)
		}
	})
}
