package engine

import (
	"reflect"
	"testing"

	"github.com/durablego/durablefunctions/internal/storage"
)

// TestInboxOps: a commit deletes the consumed rows that are in storage and inserts
// the rows handed over in memory that it did not consume, and nothing else.
func TestInboxOps(t *testing.T) {
	stored := func(rk string) *inboxRow { return &inboxRow{rk: rk, env: &Envelope{ID: rk[1:]}} }
	memory := func(rk string) *inboxRow { return &inboxRow{rk: rk, env: &Envelope{ID: rk[1:]}, unstored: true} }
	tests := []struct {
		name     string
		inbox    []*inboxRow
		consumed []string
		want     []string // kind:rowkey
	}{
		{"stored rows consumed", []*inboxRow{stored("ia"), stored("ib")}, []string{"ia", "ib"}, []string{"delete:ia", "delete:ib"}},
		{"stored row left", []*inboxRow{stored("ia"), stored("ib")}, []string{"ia"}, []string{"delete:ia"}},
		{"memory row consumed", []*inboxRow{memory("ia")}, []string{"ia"}, nil},
		{"memory row left", []*inboxRow{stored("ia"), memory("ib")}, []string{"ia"}, []string{"delete:ia", "insert:ib"}},
		{"nothing consumed", []*inboxRow{stored("ia"), memory("ib")}, nil, []string{"insert:ib"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &partition{pk: "pk", inbox: tt.inbox}
			ops, err := p.inboxOps(tt.consumed)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, op := range ops {
				kind := map[storage.OpKind]string{storage.OpDelete: "delete", storage.OpInsert: "insert"}[op.Kind]
				if op.Row.PartitionKey != "pk" {
					t.Fatalf("op on partition %q", op.Row.PartitionKey)
				}
				got = append(got, kind+":"+op.Row.RowKey)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ops %v, want %v", got, tt.want)
			}
		})
	}
}
