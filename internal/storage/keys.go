package storage

import (
	"fmt"
	"strings"
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

// MaxKeyLength is the largest escaped key we accept; Azure allows 1 KiB per key and we
// keep room for the prefixes the engine adds to row keys.
const MaxKeyLength = 900

// ValidateKey checks that s can be stored as a key once escaped.
func ValidateKey(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	if len(EscapeKey(s)) > MaxKeyLength {
		return fmt.Errorf("%s is too long (%d bytes escaped, at most %d)", what, len(EscapeKey(s)), MaxKeyLength)
	}
	return nil
}
