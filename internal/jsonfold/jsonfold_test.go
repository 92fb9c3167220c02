package jsonfold

import (
	"encoding/json"
	"testing"
)

func TestLookup(t *testing.T) {
	m := map[string]json.RawMessage{"Name": json.RawMessage(`1`), "NAME": json.RawMessage(`2`), "other": json.RawMessage(`3`)}
	tests := []struct {
		key  string
		want string
		ok   bool
	}{
		{"Name", "1", true},  // exact match first
		{"name", "2", true},  // "NAME" < "Name": the smallest folded match
		{"OTHER", "3", true}, // case-insensitive
		{"missing", "", false},
	}
	for _, tt := range tests {
		v, ok := Lookup(m, tt.key)
		if ok != tt.ok || string(v) != tt.want {
			t.Errorf("Lookup(%q) = %s, %v; want %s, %v", tt.key, v, ok, tt.want, tt.ok)
		}
	}
}
