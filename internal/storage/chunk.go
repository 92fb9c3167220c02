package storage

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// A table property holds at most 64 KiB, and strings are counted in UTF-16, so large
// JSON values are split into chunks of at most chunkBytes bytes of UTF-8 (which is at
// most as many UTF-16 units) over the properties name, name_1, name_2, ....
const (
	chunkBytes = 30000
	// MaxChunkedBytes keeps a row under the 1 MiB entity limit with room for other
	// properties (UTF-16 doubles ASCII on the wire accounting).
	MaxChunkedBytes = 15 * chunkBytes
)

// SetChunked stores the JSON value data under name, splitting it over several
// properties when large. Non-ASCII characters are stored as \u escapes: that keeps the
// UTF-16 size equal to the byte size, and Azurite corrupts multi-byte characters that
// straddle its request-body chunks (seen with azurite 3.35.0).
func SetChunked(props map[string]any, name string, data []byte) error {
	data = ASCIIJSON(data)
	if len(data) > MaxChunkedBytes {
		return fmt.Errorf("storage: value %s is %d bytes, more than the %d a row can hold", name, len(data), MaxChunkedBytes)
	}
	n := 0
	for len(data) > 0 || n == 0 {
		cut := len(data)
		if cut > chunkBytes {
			cut = chunkBytes
			for cut > 0 && !utf8.RuneStart(data[cut]) {
				cut--
			}
		}
		key := name
		if n > 0 {
			key = fmt.Sprintf("%s_%d", name, n)
		}
		props[key] = string(data[:cut])
		data = data[cut:]
		n++
	}
	if n > 1 {
		props[name+"_n"] = int32(n)
	}
	return nil
}

// GetChunked reassembles a value stored by SetChunked; nil if absent.
func GetChunked(r *Row, name string) []byte {
	first, ok := r.Props[name].(string)
	if !ok {
		return nil
	}
	n := int(r.Int(name + "_n"))
	if n <= 1 {
		return []byte(first)
	}
	out := []byte(first)
	for i := 1; i < n; i++ {
		out = append(out, r.String(fmt.Sprintf("%s_%d", name, i))...)
	}
	return out
}

// ASCIIJSON rewrites every non-ASCII character of a JSON text as a \u escape, which
// leaves its meaning unchanged (non-ASCII can only occur inside JSON strings).
func ASCIIJSON(b []byte) []byte {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/2)
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			out = append(out, b[0])
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, "\\u%04x\\u%04x", r1, r2)
			continue
		}
		out = fmt.Appendf(out, "\\u%04x", r)
	}
	return out
}
