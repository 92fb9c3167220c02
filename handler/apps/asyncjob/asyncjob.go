// Package asyncjob is the async HTTP API pattern: a client submits a query job, gets a
// status URI at once, and polls it while an orchestration runs the query.
//
//	GET /api/submit/query?s=01/02/2025&e=28/02/2025 -> 200 {"statusUri": ".../api/status/<id>"} (and Location)
//	GET /api/status/<id>                           -> {"id", "status", "result"}
//
// Dates are read day first, as the article's parser reads them: 10/08/2021, 1/8/2021,
// 10-08-2021, 2021-08-10 and 10 Aug 2021 are all the 10th of August 2021. A range
// shorter than one day is refused.
//
// The job's activity counts the distinct identificationNumber values of the audit
// table's rows whose PartitionKey (a date as YYYY-MM-DD) is in the range and whose
// CertNumber is not empty.
package asyncjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/durablego/durablefunctions/durable"
	"github.com/durablego/durablefunctions/funcapp"
)

// Names of the sample's orchestrator and activity.
const (
	Orchestrator = "query_job"
	Activity     = "query_audit"
)

// DefaultTable is the audit table's name unless AUDIT_TABLE says otherwise.
const DefaultTable = "audit"

// keyLayout is the table's PartitionKey format (sortable, and free of '/', which table
// keys cannot hold).
const keyLayout = "2006-01-02"

// dateLayouts are the forms the query parameters may take, day before month (Go's
// single-digit layouts also accept two digits).
var dateLayouts = []string{
	"2/1/2006", "2-1-2006", "2.1.2006", "2006-1-2", "2006/1/2",
	"2 Jan 2006", "2 January 2006", "2-Jan-2006", "Jan 2 2006", "January 2 2006", "Jan 2, 2006", "January 2, 2006",
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05",
}

// parseDate reads one date, day first; the time of day, if any, counts.
func parseDate(s string) (time.Time, bool) {
	s = strings.Join(strings.Fields(s), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Query is the job's input.
type Query struct {
	Start string `json:"start"` // YYYY-MM-DD
	End   string `json:"end"`
}

// Register adds the job's orchestrator and activity to app. The activity reads the
// audit table named by the AUDIT_TABLE setting (DefaultTable when unset) from the
// app's storage account.
func Register(app *funcapp.App) {
	var audit *aztables.Client
	app.OnStart(func(ctx context.Context, env funcapp.Env) error {
		table := env.Getenv("AUDIT_TABLE")
		if table == "" {
			table = DefaultTable
		}
		audit = env.Table(table)
		return nil
	})
	reg := app.Registry()
	reg.AddOrchestrator(Orchestrator, func(ctx durable.OrchestrationContext) (any, error) {
		var q Query
		if err := ctx.GetInput(&q); err != nil {
			return nil, err
		}
		var n int
		err := ctx.CallActivity(Activity, q, &durable.ActivityOptions{Retry: &durable.RetryPolicy{
			MaxAttempts: 3, FirstRetryInterval: 2 * time.Second, BackoffCoefficient: 2,
		}}).Await(&n)
		return n, err
	})
	reg.AddActivity(Activity, func(ctx durable.ActivityContext) (any, error) {
		var q Query
		if err := ctx.GetInput(&q); err != nil {
			return nil, err
		}
		return CountDistinct(ctx, audit, q)
	})
}

// CountDistinct runs the audit query and counts distinct identificationNumber values.
func CountDistinct(ctx context.Context, table *aztables.Client, q Query) (int, error) {
	filter := fmt.Sprintf("PartitionKey ge %s and PartitionKey le %s and CertNumber ne ''", quote(q.Start), quote(q.End))
	sel := "identificationNumber"
	pager := table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Select: &sel})
	seen := map[string]bool{}
	for pager.More() {
		page, err := pager.NextPage(ctx)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.ErrorCode == string(aztables.TableNotFound) {
			return 0, nil // no audit table yet: no audit records
		}
		if err != nil {
			return 0, fmt.Errorf("query the audit table: %w", err)
		}
		for _, raw := range page.Entities {
			var row map[string]any
			if err := json.Unmarshal(raw, &row); err != nil {
				return 0, fmt.Errorf("audit row: %w", err)
			}
			if v, ok := row["identificationNumber"]; ok && v != nil {
				seen[fmt.Sprint(v)] = true
			}
		}
	}
	return len(seen), nil
}

// quote is an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ParseRange validates the s and e query parameters, with the sample's messages.
func ParseRange(s, e string) (Query, error) {
	s, e = strings.TrimSpace(s), strings.TrimSpace(e)
	if s == "" {
		return Query{}, errors.New("Empty start date.")
	}
	start, ok := parseDate(s)
	if !ok {
		return Query{}, errors.New("Invalid start date format.")
	}
	if e == "" {
		return Query{}, errors.New("Empty end date.")
	}
	end, ok := parseDate(e)
	if !ok {
		return Query{}, errors.New("Invalid end date format.")
	}
	if end.Sub(start) < 24*time.Hour {
		return Query{}, errors.New("Invalid date range.")
	}
	return Query{Start: start.Format(keyLayout), End: end.Format(keyLayout)}, nil
}

// Submit serves GET /api/submit/query.
func Submit(c durable.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := ParseRange(r.URL.Query().Get("s"), r.URL.Query().Get("e"))
		if err != nil {
			funcapp.WriteErrorf(w, http.StatusBadRequest, "%s", err.Error())
			return
		}
		in, _ := durable.Marshal(q)
		id, ok := funcapp.Start(c, w, r, Orchestrator, in)
		if !ok {
			return
		}
		uri := funcapp.BaseURL(r) + "/api/status/" + id
		w.Header().Set("Location", uri)
		// 200, as the article's submit answers: the job runs, the body says where to look.
		funcapp.WriteJSON(w, http.StatusOK, map[string]string{"statusUri": uri})
	})
}
