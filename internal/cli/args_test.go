package cli

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	type want struct {
		command string
		group   string
		args    []string
		strs    map[string]string
		lists   map[string][]string
		bools   map[string]bool
		help    bool
	}
	cases := []struct {
		name string
		args []string
		want want
		err  string // substring of the usage error; "" for success
	}{
		{name: "flag after positional", args: []string{"status", "abc", "--wait"},
			want: want{command: "status", args: []string{"abc"}, bools: map[string]bool{"wait": true}}},
		{name: "flag before positional", args: []string{"status", "--wait", "abc"},
			want: want{command: "status", args: []string{"abc"}, bools: map[string]bool{"wait": true}}},
		{name: "global flag before command, with value", args: []string{"--url", "http://x:1", "status", "abc", "--wait"},
			want: want{command: "status", args: []string{"abc"}, strs: map[string]string{"url": "http://x:1"}, bools: map[string]bool{"wait": true}}},
		{name: "global flag after command", args: []string{"status", "abc", "--json", "--key=k1"},
			want: want{command: "status", args: []string{"abc"}, strs: map[string]string{"key": "k1"}, bools: map[string]bool{"json": true}}},
		{name: "equals form", args: []string{"status", "--timeout=30s", "abc"},
			want: want{command: "status", args: []string{"abc"}, strs: map[string]string{"timeout": "30s"}}},
		{name: "equals form keeps later equals signs", args: []string{"start", "f", "--input={\"a\":\"b=c\"}"},
			want: want{command: "start", args: []string{"f"}, strs: map[string]string{"input": `{"a":"b=c"}`}}},
		{name: "space form", args: []string{"start", "f", "--id", "my-id", "--input", "[1,2]"},
			want: want{command: "start", args: []string{"f"}, strs: map[string]string{"id": "my-id", "input": "[1,2]"}}},
		{name: "single dash long flag", args: []string{"-json", "list"},
			want: want{command: "list", bools: map[string]bool{"json": true}}},
		{name: "bool with explicit value", args: []string{"status", "x", "--wait=false"},
			want: want{command: "status", args: []string{"x"}, bools: map[string]bool{"wait": false}}},
		{name: "repeated list flag", args: []string{"list", "--status", "Running", "--status=Pending"},
			want: want{command: "list", lists: map[string][]string{"status": {"Running", "Pending"}}}},
		{name: "comma list", args: []string{"list", "--status", "Running, Pending,,Failed"},
			want: want{command: "list", lists: map[string][]string{"status": {"Running", "Pending", "Failed"}}}},
		{name: "repeated string flag: last wins", args: []string{"list", "--top", "5", "--top", "7"},
			want: want{command: "list", strs: map[string]string{"top": "7"}}},
		{name: "double dash ends flags", args: []string{"raise", "--", "-id-", "--odd", `{"x":1}`},
			want: want{command: "raise", args: []string{"-id-", "--odd", `{"x":1}`}}},
		{name: "negative number is positional", args: []string{"signal", "counter_entity", "k", "add", "-5"},
			want: want{command: "signal", args: []string{"counter_entity", "k", "add", "-5"}}},
		{name: "lone dash is positional", args: []string{"raise", "x", "E", "-"},
			want: want{command: "raise", args: []string{"x", "E", "-"}}},
		{name: "group command", args: []string{"entity", "--json", "get", "counter_entity", "k"},
			want: want{command: "entity get", args: []string{"counter_entity", "k"}, bools: map[string]bool{"json": true}}},
		{name: "group command flags", args: []string{"entity", "list", "--name", "counter_entity", "--state"},
			want: want{command: "entity list", strs: map[string]string{"name": "counter_entity"}, bools: map[string]bool{"state": true}}},
		{name: "group alone", args: []string{"entity"}, want: want{group: "entity"}},
		{name: "help for a command", args: []string{"status", "-h"}, want: want{command: "status", help: true}},
		{name: "help long form before the command", args: []string{"--help", "purge"}, want: want{command: "purge", help: true}},
		{name: "help alone", args: []string{"--help"}, want: want{help: true}},
		{name: "nothing", args: nil, want: want{}},

		{name: "unknown flag", args: []string{"status", "x", "--nope"}, err: "unknown flag --nope for status"},
		{name: "flag of another command", args: []string{"list", "--wait"}, err: "unknown flag --wait for list"},
		{name: "command flag before the command", args: []string{"--wait", "status", "x"}, err: "put it after the command name"},
		{name: "unknown flag before the command", args: []string{"--nope", "status"}, err: "unknown flag --nope"},
		{name: "unknown command", args: []string{"fly", "x"}, err: `unknown command "fly"`},
		{name: "unknown group subcommand", args: []string{"entity", "fly"}, err: `unknown command "entity fly"`},
		{name: "missing value", args: []string{"status", "x", "--timeout"}, err: "flag --timeout needs a value"},
		{name: "bad bool value", args: []string{"status", "x", "--wait=maybe"}, err: "wants true or false"},
		{name: "help with a value", args: []string{"status", "--help=1"}, err: "takes no value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := parseArgs(c.args, globalFlags, commandSpecs(), groups())
			if c.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("parseArgs(%q) = %v, want a usage error containing %q", c.args, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q): %v", c.args, err)
			}
			got := want{command: p.Command, group: p.Group, args: p.Args, strs: p.strs, lists: p.lists, bools: p.bools, help: p.Help}
			norm := func(w *want) {
				if w.strs == nil {
					w.strs = map[string]string{}
				}
				if w.lists == nil {
					w.lists = map[string][]string{}
				}
				if w.bools == nil {
					w.bools = map[string]bool{}
				}
			}
			norm(&got)
			w := c.want
			norm(&w)
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("parseArgs(%q)\n got %+v\nwant %+v", c.args, got, w)
			}
		})
	}
}

// TestRunUsageErrors: command lines that are wrong exit 2 with one line on stderr and
// send nothing (the URL points nowhere, so a request would fail with exit 1).
func TestRunUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{nil, "no command given"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"status"}, "status needs ID"},
		{[]string{"status", "a", "b"}, "too many arguments"},
		{[]string{"status", "a", "--timeout", "soon"}, "--timeout wants a duration"},
		{[]string{"start", "f", "--input", "{bad"}, "--input is not valid JSON"},
		{[]string{"raise", "id", "E", "hello"}, `a string needs JSON quotes`},
		{[]string{"signal", "counter_entity", "k", "add", "[1,"}, "operation input is not valid JSON"},
		{[]string{"list", "--status", "Running,Sleeping"}, `unknown --status "Sleeping"`},
		{[]string{"list", "--since", "yesterday"}, "--since wants an ISO 8601 time"},
		{[]string{"list", "--top", "-1"}, "--top wants a count"},
		{[]string{"purge"}, "purge needs an instance ID or --before TIME"},
		{[]string{"purge", "x", "--before", "1h"}, "not both"},
		{[]string{"entity"}, "entity needs a subcommand"},
		{[]string{"--url", "ftp://x", "list"}, "is not an http(s) URL"},
		{[]string{"help", "fly"}, "no help for unknown command"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Run(context.Background(), c.args, &Options{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, HTTPClient: nil})
		if code != ExitUsage || !strings.Contains(errb.String(), c.msg) || strings.Count(errb.String(), "\n") != 1 || !strings.HasPrefix(errb.String(), "durable: ") {
			t.Errorf("durable %q: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, errb.String(), c.msg)
		}
	}
}

// TestRunHelp: help goes to stdout with exit 0, per command and for the tool.
func TestRunHelp(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Commands:", "entity get NAME KEY", "poison list", "--route-prefix"}},
		{[]string{"help"}, []string{"Commands:"}},
		{[]string{"help", "entity", "list"}, []string{"Usage: durable entity list", "--state"}},
		{[]string{"status", "--help"}, []string{"Usage: durable status ID", "--wait", "--timeout DURATION", "--url URL"}},
		{[]string{"purge", "-h"}, []string{"Usage: durable purge", "--before TIME", "--status STATUS"}},
		{[]string{"entity", "-h"}, []string{"durable entity get NAME KEY", "durable entity delete NAME KEY"}},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := Run(context.Background(), c.args, &Options{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != ExitOK || errb.Len() != 0 {
			t.Errorf("durable %q: exit %d, stderr %q", c.args, code, errb.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("durable %q: usage lacks %q:\n%s", c.args, w, out.String())
			}
		}
	}
}

// TestBaseURL: where requests go for --url, $DURABLE_URL and --route-prefix.
func TestBaseURL(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "http://localhost:7071/api/runtime/webhooks/durabletask"},
		{nil, map[string]string{EnvURL: "https://app.example:8443/"}, "https://app.example:8443/api/runtime/webhooks/durabletask"},
		{[]string{"--url", "127.0.0.1:9000"}, map[string]string{EnvURL: "http://ignored"}, "http://127.0.0.1:9000/api/runtime/webhooks/durabletask"},
		{[]string{"--route-prefix", ""}, nil, "http://localhost:7071/runtime/webhooks/durabletask"},
		{[]string{"--route-prefix=/fn/"}, nil, "http://localhost:7071/fn/runtime/webhooks/durabletask"},
		{[]string{"--url", "http://h/api/runtime/webhooks/durabletask/instances/x?code=1"}, nil, "http://h/api/runtime/webhooks/durabletask"},
	}
	for _, c := range cases {
		p, err := parseArgs(append(c.args, "list"), globalFlags, commandSpecs(), groups())
		if err != nil {
			t.Fatal(err)
		}
		cl, err := newClient(p, &Options{Getenv: func(k string) string { return c.env[k] }})
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if cl.base != c.want {
			t.Errorf("%q %v: base %q, want %q", c.args, c.env, cl.base, c.want)
		}
	}
}
