package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
)

func TestPrefixFilter(t *testing.T) {
	cases := []struct {
		prefix string
		want   []string
	}{
		{"q-a-", []string{"PartitionKey ge 'q-a-'", "PartitionKey lt 'q-a.'"}},
		{"@counter@", []string{"PartitionKey ge '@counter@'", "PartitionKey lt '@counterA'"}},
		{"it's", []string{"PartitionKey ge 'it''s'", "PartitionKey lt 'it''t'"}},
		{"ends~", []string{"PartitionKey ge 'ends~'"}},         // no ASCII successor: lower bound only
		{"caf\u00e9", []string{"PartitionKey ge 'caf\u00e9'"}}, // non-ASCII last byte
	}
	for _, c := range cases {
		if got := prefixFilter("PartitionKey", c.prefix); !reflect.DeepEqual(got, c.want) {
			t.Errorf("prefixFilter(%q) = %q, want %q", c.prefix, got, c.want)
		}
	}
}

// TestEscapedPrefix: an escaped id starts with the escaped prefix exactly when the id
// starts with the prefix, which is what pushing the prefix filter down relies on.
func TestEscapedPrefix(t *testing.T) {
	ids := []string{"a/b", "a%2Fb", "a%", "a%25", "a#1", "ab", "a", "a/", "%", "%%"}
	prefixes := []string{"a", "a/", "a%", "a%2", "a%25", "%", "a#"}
	for _, id := range ids {
		for _, p := range prefixes {
			want := strings.HasPrefix(id, p)
			if got := strings.HasPrefix(storage.EscapeKey(id), storage.EscapeKey(p)); got != want {
				t.Errorf("id %q prefix %q: escaped match %v, want %v", id, p, got, want)
			}
		}
	}
}

func TestContinuationRoundTrip(t *testing.T) {
	for _, tok := range []string{"", "pk", "pk\nrk", "1!24!QGNvdW50ZXI-\n1!4!IQ--"} {
		got, err := decodeContinuation(encodeContinuation(tok))
		if err != nil || got != tok {
			t.Errorf("round trip of %q: %q, %v", tok, got, err)
		}
	}
	// "garbage" and "abcd" are valid base64: only the checksum tells them apart from a
	// token this package made (storage answers an empty page for a made-up token).
	for _, bad := range []string{"%%%", "not base64!", "garbage", "abcd", encodeContinuation("pk\nrk")[1:]} {
		if _, err := decodeContinuation(bad); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("decodeContinuation(%q) = %v, want ErrInvalidQuery", bad, err)
		}
	}
}

func TestODataTime(t *testing.T) {
	got := odataTime(time.Date(2024, 3, 5, 10, 11, 12, 123456789, time.FixedZone("x", 3600)))
	if want := "datetime'2024-03-05T09:11:12.1234567Z'"; got != want {
		t.Fatalf("odataTime = %s, want %s", got, want)
	}
}
