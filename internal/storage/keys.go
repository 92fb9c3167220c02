package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// EscapeKey makes any string usable as a PartitionKey or RowKey. Table keys cannot hold
// '/', '\\', '#', '?' or control characters, so those and '%' itself are percent-encoded;
// the mapping is reversible by UnescapeKey and preserves the order of ASCII letters and
// digits, which keeps range queries on prefixes meaningful.
func EscapeKey(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '/' || c == '\\' || c == '#' || c == '?' || c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' || c == '/' || c == '\\' || c == '#' || c == '?' || c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// UnescapeKey reverses EscapeKey.
func UnescapeKey(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in key %q", s)
		}
		var v byte
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &v); err != nil {
			return "", fmt.Errorf("bad escape in key %q", s)
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

// MaxKeyLength is the longest key Azure Tables stores: 1 KiB, counted in UTF-16
// (512 code units; Azurite checks the same 512). Keys are measured here in UTF-8 bytes
// of the escaped form, which are never fewer than its UTF-16 code units, so a key
// that passes fits on both.
const MaxKeyLength = 512

// ValidateKey checks that s can be stored as a whole key once escaped.
func ValidateKey(what, s string) error { return ValidateKeyMax(what, s, MaxKeyLength) }

// ValidateKeyMax checks that s is valid UTF-8 (the service would silently replace
// invalid bytes, so two different strings would name one row) and at most max bytes
// once escaped. Callers that embed s in longer keys pass the room that is left.
func ValidateKeyMax(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	if n := len(EscapeKey(s)); n > max {
		return fmt.Errorf("%s is too long (%d bytes once escaped, at most %d)", what, n, max)
	}
	return nil
}
