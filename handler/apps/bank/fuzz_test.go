package bank

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzTransferBody: the transfer body parser never panics and accepts only valid transfers.
func FuzzTransferBody(f *testing.F) {
	f.Add(`{"from":"a","to":"b","amount":10}`)
	f.Add(`{"from":"a","to":"a","amount":10}`)
	f.Add(`{"amount":-1}`)
	f.Fuzz(func(t *testing.T, body string) {
		var tr Transfer
		dec := json.NewDecoder(bytes.NewReader([]byte(body)))
		dec.DisallowUnknownFields()
		if dec.Decode(&tr) != nil || tr.Validate() != nil {
			return
		}
		if tr.Amount <= 0 || tr.From == tr.To || tr.From == "" {
			t.Fatalf("accepted %q", body)
		}
	})
}
