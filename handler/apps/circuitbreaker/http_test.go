package circuitbreaker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestRequestInputs(t *testing.T) {
	stamp := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		action  string
		body    string
		want    string // exact input JSON; "" = no input
		wantErr string
	}{
		{name: "failure without body is stamped", action: "failure", want: `{"at":"2024-05-01T12:00:00Z"}`},
		{name: "failure with blank body", action: "failure", body: " \n", want: `{"at":"2024-05-01T12:00:00Z"}`},
		{name: "failure with null time", action: "failure", body: `{"at":null}`, want: `{"at":"2024-05-01T12:00:00Z"}`},
		{name: "failure with time", action: "failure", body: `{"at":"2024-01-02T03:04:05+01:00"}`, want: `{"at":"2024-01-02T03:04:05+01:00"}`},
		{name: "failure with bad time", action: "failure", body: `{"at":"noon"}`, wantErr: "RFC 3339"},
		{name: "failure with unknown field", action: "failure", body: `{"when":"x"}`, wantErr: "unknown field"},
		{name: "failure with bad JSON", action: "failure", body: `{"at":`, wantErr: "body must be empty or"},
		{name: "failure with trailing data", action: "failure", body: `{} {}`, wantErr: "unexpected data"},
		{name: "configure", action: "configure", body: `{"threshold":3,"windowSeconds":60}`, want: `{"threshold":3,"windowSeconds":60}`},
		{name: "configure one setting", action: "configure", body: `{"windowSeconds":5}`, want: `{"windowSeconds":5}`},
		{name: "configure without body", action: "configure", wantErr: "body must be"},
		{name: "configure empty object", action: "configure", body: `{}`, wantErr: "needs threshold"},
		{name: "configure zero threshold", action: "configure", body: `{"threshold":0}`, wantErr: "threshold must be between 1"},
		{name: "configure negative window", action: "configure", body: `{"threshold":2,"windowSeconds":-5}`, wantErr: "windowSeconds must be between 1"},
		{name: "configure fractional threshold", action: "configure", body: `{"threshold":2.5}`, wantErr: "positive whole numbers"},
		{name: "configure string threshold", action: "configure", body: `{"threshold":"3"}`, wantErr: "positive whole numbers"},
		{name: "configure typo", action: "configure", body: `{"treshold":3}`, wantErr: `unknown field "treshold"`},
		{name: "configure bad JSON", action: "configure", body: `{"threshold":`, wantErr: "body must be"},
		{name: "success ignores body", action: "success", body: `anything`},
		{name: "reset", action: "reset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act, ok := actions[c.action]
			if !ok {
				t.Fatalf("no action %q", c.action)
			}
			got, err := act.input([]byte(c.body), stamp)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("input %s, want %s", got, c.want)
			}
		})
	}
}

func TestActionsSignalRealOperations(t *testing.T) {
	for verb, act := range actions {
		ctx := &fakeContext{}
		in, err := act.input(nil, t0)
		if verb == "configure" {
			in, err = act.input([]byte(`{"threshold":1}`), t0)
		}
		if err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		if err := ctx.apply(act.operation, string(in)); err != nil {
			t.Errorf("action %s signals %q, which the entity rejects: %v", verb, act.operation, err)
		}
	}
}

func TestStatusOf(t *testing.T) {
	opened := `"openedAt":"2024-05-01T10:00:00Z"`
	cases := []struct {
		name    string
		exists  bool
		state   string
		want    string
		wantErr bool
	}{
		{name: "no state", want: `{"name":"db","state":"closed","failures":0,"threshold":5,"windowSeconds":60}`},
		{name: "open", exists: true,
			state: `{"state":"open","failures":["2024-05-01T09:59:00Z","2024-05-01T10:00:00Z"],"threshold":2,"windowSeconds":30,` + opened + `}`,
			want:  `{"name":"db","state":"open","failures":2,"threshold":2,"windowSeconds":30,` + opened + `}`},
		{name: "corrupt", exists: true, state: `[1]`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := statusOf("db", c.exists, json.RawMessage(c.state))
			if c.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			b, _ := json.Marshal(st)
			if err != nil || string(b) != c.want {
				t.Fatalf("got %s (%v), want %s", b, err, c.want)
			}
		})
	}
}
