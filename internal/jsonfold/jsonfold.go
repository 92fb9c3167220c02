// Package jsonfold looks up JSON object keys the way the Functions host's .NET
// configuration and binding code does: case-insensitively.
package jsonfold

import (
	"encoding/json"
	"sort"
	"strings"
)

// Lookup finds key in m exactly, else case-insensitively. When several keys fold to
// the same name the lexically smallest wins, so the result is deterministic.
func Lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	var matches []string
	for k := range m {
		if strings.EqualFold(k, key) {
			matches = append(matches, k)
		}
	}
	if len(matches) == 0 {
		return nil, false
	}
	sort.Strings(matches)
	return m[matches[0]], true
}
