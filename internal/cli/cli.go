// Package cli is the `durable` command-line tool: it manages orchestration instances
// and entities of a running app through the app's Durable Functions management API
// (internal/mgmt, under /<route prefix>/runtime/webhooks/durabletask) over HTTP, and
// nothing else. cmd/durable is its main package; Run lets tests drive it in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit statuses of Run.
const (
	ExitOK      = 0 // the command did what it was asked
	ExitFailure = 1 // the app refused or failed, or could not be reached
	ExitUsage   = 2 // the command line is wrong
)

// DefaultURL is where `make run` and `func start` serve the app.
const DefaultURL = "http://localhost:7071"

// Environment variables read when the matching flag is absent.
const (
	EnvURL = "DURABLE_URL"
	EnvKey = "DURABLE_KEY"
)

// mountPath is where the management API lives below the route prefix.
const mountPath = "/runtime/webhooks/durabletask"

// Options are Run's surroundings; the zero value means the process's own.
type Options struct {
	Stdout, Stderr io.Writer
	// Getenv reads DURABLE_URL and DURABLE_KEY (os.Getenv when nil).
	Getenv func(string) string
	// HTTPClient sends the requests (a client with a 2-minute timeout when nil).
	HTTPClient *http.Client
}

// globalFlags are accepted by every command, anywhere on the line.
var globalFlags = []flagSpec{
	{Name: "url", Kind: stringFlag, Value: "URL", Default: DefaultURL, Usage: "base URL of the app (or $" + EnvURL + ")"},
	{Name: "key", Kind: stringFlag, Value: "KEY", Usage: "function key sent as x-functions-key; management routes need the master key (or $" + EnvKey + ")"},
	{Name: "json", Kind: boolFlag, Usage: "print the JSON the API returned, pretty-printed, instead of tables"},
	{Name: "route-prefix", Kind: stringFlag, Value: "PREFIX", Default: "api", Usage: "the app's HTTP route prefix (host.json extensions.http.routePrefix)"},
}

// Run runs the command line args (without the program name) and returns the exit
// status. Output goes to opts.Stdout; a failure is one line on opts.Stderr.
func Run(ctx context.Context, args []string, opts *Options) int {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}

	p, err := parseArgs(args, globalFlags, commandSpecs(), groups())
	if err == nil {
		err = dispatch(ctx, p, &o)
	}
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		hint := "durable --help"
		if ue.command != "" {
			hint = "durable " + ue.command + " --help"
		}
		fmt.Fprintf(o.Stderr, "durable: %s (see '%s')\n", ue.msg, hint)
		return ExitUsage
	}
	fmt.Fprintf(o.Stderr, "durable: %s\n", oneLine(err.Error()))
	return ExitFailure
}

func dispatch(ctx context.Context, p *parsed, o *Options) error {
	switch {
	case p.Command == "" && p.Group != "":
		if !p.Help {
			return usagef(p.Group, "%s needs a subcommand: %s", p.Group, strings.Join(groups()[p.Group], ", "))
		}
		writeGroupUsage(o.Stdout, p.Group)
		return nil
	case p.Command == "":
		if !p.Help {
			return usagef("", "no command given")
		}
		writeUsage(o.Stdout)
		return nil
	case p.Command == "help":
		return helpCommand(o.Stdout, p.Args)
	}
	c := findCommand(p.Command)
	if p.Help {
		writeCommandUsage(o.Stdout, c)
		return nil
	}
	if len(p.Args) < c.MinArgs {
		return usagef(c.Name, "%s needs %s", c.Name, c.Synopsis)
	}
	if c.MaxArgs >= 0 && len(p.Args) > c.MaxArgs {
		return usagef(c.Name, "too many arguments for %s: %q", c.Name, p.Args[c.MaxArgs:])
	}
	cl, err := newClient(p, o)
	if err != nil {
		return err
	}
	r := &runCtx{client: cl, out: o.Stdout, errOut: o.Stderr, json: p.Bool("json")}
	return c.Run(ctx, r, p)
}

// runCtx is what a command runs with.
type runCtx struct {
	client *client
	out    io.Writer
	errOut io.Writer
	json   bool
}

func newClient(p *parsed, o *Options) (*client, error) {
	raw := p.Str("url")
	if !p.Has("url") {
		raw = o.Getenv(EnvURL)
	}
	if strings.TrimSpace(raw) == "" {
		raw = DefaultURL
	}
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("", "URL %q (--url or $%s) is not an http(s) URL", raw, EnvURL)
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	// A URL that already names the management API (a check-status URL's stem) is
	// used as it is; otherwise the API is below the route prefix.
	if !strings.Contains(strings.ToLower(u.Path), mountPath) {
		prefix := "api"
		if p.Has("route-prefix") {
			prefix = p.Str("route-prefix")
		}
		if prefix = strings.Trim(prefix, "/"); prefix != "" {
			base += "/" + prefix
		}
		base += mountPath
	} else {
		base = base[:strings.Index(strings.ToLower(base), mountPath)+len(mountPath)]
	}
	key := p.Str("key")
	if !p.Has("key") {
		key = o.Getenv(EnvKey)
	}
	return &client{base: base, origin: u.Scheme + "://" + u.Host, key: strings.TrimSpace(key), http: o.HTTPClient}, nil
}

// oneLine keeps a failure to one line on stderr.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}
