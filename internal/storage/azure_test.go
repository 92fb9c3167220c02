package storage_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/durablego/durablefunctions/internal/storage"
	"github.com/durablego/durablefunctions/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

func TestTableRoundTripAndConditionalWrites(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	acct := testenv.Shared(t).Account(t)
	tbl, err := acct.Table(ctx, testenv.HubName("st")+"Rows")
	if err != nil {
		t.Fatal(err)
	}
	pk := storage.EscapeKey("a/b#c?d\\e%")
	row := &storage.Row{PartitionKey: pk, RowKey: "!", Props: map[string]any{"S": "x", "N": int64(1) << 40, "B": true, "T": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	big := `"` + strings.Repeat("é🙂", 20000) + `"` // a JSON string of 120,000 bytes: needs chunks
	if err := storage.SetChunked(row.Props, "Big", []byte(big)); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Insert(ctx, row); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Insert(ctx, row); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second insert: want ErrConflict, got %v", err)
	}
	got, err := tbl.Get(ctx, pk, "!")
	if err != nil {
		t.Fatal(err)
	}
	if got.String("S") != "x" || got.Int("N") != 1<<40 || !got.Bool("B") || !got.Time("T").Equal(row.Props["T"].(time.Time)) {
		t.Fatalf("round trip mismatch: %+v", got.Props)
	}
	var back, want string
	if err := json.Unmarshal(storage.GetChunked(got, "Big"), &back); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(big), &want)
	if back != want {
		t.Fatalf("chunked value did not round-trip: %d bytes back", len(back))
	}
	etag := got.ETag
	if err := tbl.Replace(ctx, got, etag); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Replace(ctx, got, etag); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale replace: want ErrConflict, got %v", err)
	}

	// A batch whose If-Match is stale writes nothing and reports a conflict.
	ops := []storage.Op{
		{Kind: storage.OpReplace, Row: got, ETag: etag},
		{Kind: storage.OpInsert, Row: &storage.Row{PartitionKey: pk, RowKey: "i1", Props: map[string]any{"V": "1"}}},
	}
	err = tbl.Batch(ctx, pk, ops)
	var be *storage.BatchError
	if !errors.Is(err, storage.ErrConflict) || !errors.As(err, &be) {
		t.Fatalf("stale batch: want BatchError conflict, got %v", err)
	}
	if _, err := tbl.Get(ctx, pk, "i1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("failed batch wrote a row: %v", err)
	}
	cur, _ := tbl.Get(ctx, pk, "!")
	ops[0].ETag = cur.ETag
	if err := tbl.Batch(ctx, pk, ops); err != nil {
		t.Fatal(err)
	}
	rows, err := tbl.QueryPartition(ctx, pk)
	if err != nil || len(rows) != 2 || rows[0].RowKey != "!" || rows[1].RowKey != "i1" {
		t.Fatalf("partition query: %v %d", err, len(rows))
	}
	// Inserting an existing row inside a batch is a conflict too.
	err = tbl.Batch(ctx, pk, []storage.Op{{Kind: storage.OpInsert, Row: &storage.Row{PartitionKey: pk, RowKey: "i0", Props: map[string]any{}}}, {Kind: storage.OpInsert, Row: &storage.Row{PartitionKey: pk, RowKey: "i1", Props: map[string]any{}}}})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate insert in batch: want conflict, got %v", err)
	}
	// Deleting a missing row in a batch is ErrNotFound.
	err = tbl.Batch(ctx, pk, []storage.Op{{Kind: storage.OpDelete, Row: &storage.Row{PartitionKey: pk, RowKey: "nope"}}})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing delete in batch: want not found, got %v", err)
	}
}

func TestQueueSendReceiveDelete(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	acct := testenv.Shared(t).Account(t)
	q, err := acct.Queue(ctx, testenv.HubName("q")+"-work")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, `{"w":"x"}`, 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, `{"w":"later"}`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 32, 5*time.Second)
	if err != nil || len(msgs) != 1 || msgs[0].Text != `{"w":"x"}` || msgs[0].DequeueCount != 1 {
		t.Fatalf("receive: %v %+v", err, msgs)
	}
	if err := q.Extend(ctx, msgs[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	n, err := q.Length(ctx)
	if err != nil || n != 1 {
		t.Fatalf("length: %d %v", n, err)
	}
}

func TestEscapeKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "a/b", `back\slash`, "hash#q?", "100%", "ctl\x01\n", "@counter_entity@key", "ünïcode/✓"} {
		e := storage.EscapeKey(s)
		if strings.ContainsAny(e, "/\\#?\x01\n") {
			t.Errorf("EscapeKey(%q) = %q still holds a forbidden character", s, e)
		}
		back, err := storage.UnescapeKey(e)
		if err != nil || back != s {
			t.Errorf("round trip %q -> %q -> %q (%v)", s, e, back, err)
		}
	}
}

func TestConnectionStrings(t *testing.T) {
	s, err := storage.ParseConnectionString("UseDevelopmentStorage=true")
	if err != nil || s.TableURL != "http://127.0.0.1:10002/devstoreaccount1" || s.QueueURL != "http://127.0.0.1:10001/devstoreaccount1" || !s.UsesSharedKey() {
		t.Fatalf("dev storage: %+v %v", s, err)
	}
	s, err = storage.ParseConnectionString("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net")
	if err != nil || s.TableURL != "https://acct.table.core.windows.net" || s.QueueURL != "https://acct.queue.core.windows.net" {
		t.Fatalf("account: %+v %v", s, err)
	}
	env := map[string]string{"AzureWebJobsStorage__accountName": "acct", "AzureWebJobsStorage__credential": "managedidentity", "AzureWebJobsStorage__clientId": "cid"}
	s, err = storage.ResolveConnection("AzureWebJobsStorage", func(k string) string { return env[k] })
	if err != nil || s.UsesSharedKey() || s.QueueURL != "https://acct.queue.core.windows.net" || s.Credential != "managedidentity" || s.ClientID != "cid" {
		t.Fatalf("identity: %+v %v", s, err)
	}
	env = map[string]string{"AzureWebJobsStorage__tableServiceUri": "https://x.table.core.windows.net/", "AzureWebJobsStorage__queueServiceUri": "https://x.queue.core.windows.net"}
	s, err = storage.ResolveConnection("AzureWebJobsStorage", func(k string) string { return env[k] })
	if err != nil || s.TableURL != "https://x.table.core.windows.net" {
		t.Fatalf("service uris: %+v %v", s, err)
	}
	if _, err := storage.ResolveConnection("AzureWebJobsStorage", func(string) string { return "" }); err == nil {
		t.Fatal("missing connection accepted")
	}
	if _, err := storage.ParseConnectionString("AccountName=x"); err == nil {
		t.Fatal("connection string without key accepted")
	}
}
