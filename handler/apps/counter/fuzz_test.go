package counter

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzAddValue feeds arbitrary query strings and bodies to the add parser: it must
// never panic, and must accept exactly what it documents.
func FuzzAddValue(f *testing.F) {
	f.Add("value=3", "")
	f.Add("", `{"value": 40}`)
	f.Add("", `{"value": 1.5}`)
	f.Add("value=abc", "")
	f.Add("", `{"value":`)
	f.Fuzz(func(t *testing.T, query, body string) {
		r := &http.Request{Method: "POST", URL: &url.URL{Path: "/api/counter/add", RawQuery: query}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
		n, err := addValue(r)
		if err == nil && r.URL.Query().Has("value") && strings.TrimSpace(r.URL.Query().Get("value")) == "" {
			t.Fatalf("empty value accepted as %s", n)
		}
	})
}
