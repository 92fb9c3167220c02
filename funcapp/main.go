package funcapp

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/gen"
	"github.com/durablego/durablefunctions/internal/runner"
)

// Main runs the app and exits: it never returns. It is what an app's main calls.
//
// Under the Functions host, which sets FUNCTIONS_CUSTOMHANDLER_PORT, it serves the
// host's invocation requests on 127.0.0.1. Otherwise it runs standalone: it serves the
// HTTP routes of the function folders itself, enforcing their authLevel with keys from
// the settings, and polls their queues. Settings come from the environment and from
// local.settings.json's Values, as func start reads them.
//
// Flags: -gen writes the function folders the registrations imply (and host.json if
// missing); -gen-check exits 1 naming every folder and field that disagrees; -root
// sets the app folder; -addr the standalone listen address; -list-poison prints the
// poisoned messages. Run with -h for the rest.
func (a *App) Main() {
	os.Exit(a.run(os.Args[1:], os.Stdout, os.Stderr))
}

func (a *App) run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "", "function app root holding host.json (default: the current folder or its parent)")
	addr := fs.String("addr", "", "standalone listen address (default :7071, or $PORT / $HTTP_PORT)")
	standalone := fs.Bool("standalone", false, "run standalone even if FUNCTIONS_CUSTOMHANDLER_PORT is set")
	lease := fs.Duration("lease", runner.DefaultLease, "standalone: how long a message is held while processed (crash recovery delay)")
	debug := fs.Bool("debug", false, "debug logging")
	listPoison := fs.Bool("list-poison", false, "print the poisoned messages and why they were poisoned (JSON lines), then exit")
	genFlag := fs.Bool("gen", false, "write the function folders the app's registrations imply, then exit")
	genCheck := fs.Bool("gen-check", false, "check the function folders against the app's registrations, then exit (1 when they disagree)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *genFlag || *genCheck {
		dir := *root
		if dir == "" {
			dir, _ = os.Getwd()
		}
		if *genFlag {
			changed, err := gen.Write(dir, a.def)
			if err != nil {
				fmt.Fprintln(stderr, "gen:", err)
				return 1
			}
			for _, c := range changed {
				fmt.Fprintln(stdout, "wrote", c)
			}
			if len(changed) == 0 {
				fmt.Fprintln(stdout, "function folders are up to date")
			}
			return 0
		}
		if err := gen.Check(dir, a.def); err != nil {
			fmt.Fprintln(stderr, "gen-check: the function folders disagree with the app's registrations:")
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "gen-check: function folders match the registrations")
		return 0
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	if err := a.serve(log, stdout, *root, *addr, *standalone, *lease, *listPoison); err != nil {
		log.Error("handler stopped", "err", err)
		return 1
	}
	return 0
}

func (a *App) serve(log *slog.Logger, stdout io.Writer, root, addr string, standalone bool, lease time.Duration, listPoison bool) error {
	dir, err := findRoot(root)
	if err != nil {
		return err
	}
	if err := loadLocalSettings(filepath.Join(dir, "local.settings.json")); err != nil {
		return err
	}
	hostPort := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	hosted := hostPort != "" && !standalone

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fa, err := app.New(ctx, app.Options{Root: dir, Getenv: os.Getenv, Logger: log, Def: a.def})
	if err != nil {
		return err
	}
	if listPoison {
		recs, err := fa.Hub.ListPoison(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}

	var h http.Handler
	listen := addr
	if hosted {
		if h, err = fa.HostHandler(); err != nil {
			return err
		}
		listen = "127.0.0.1:" + hostPort
	} else {
		if h, err = fa.StandaloneHandler(); err != nil {
			return err
		}
		if listen == "" {
			listen = ":" + firstNonEmpty(os.Getenv("HTTP_PORT"), os.Getenv("PORT"), "7071")
		}
		if !fa.Keys.Configured() && !fa.Keys.DevMode {
			log.Warn("no function keys configured (FUNCTIONS_MASTER_KEY, FUNCTIONS_HOST_KEYS): routes that need a key answer 401")
		}
	}
	sopts, err := runner.ServerOptionsFromSettings(os.Getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := runner.NewServer(h, sopts)
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	mode := "host"
	workersDone := make(chan struct{})
	if !hosted {
		mode = "standalone"
		statsEvery, err := runner.StatsIntervalFromSettings(os.Getenv)
		if err != nil {
			return err
		}
		go func() {
			defer close(workersDone)
			errc <- fa.RunWorkers(ctx, &runner.PollerOptions{Lease: lease, StatsInterval: statsEvery})
		}()
	} else {
		close(workersDone)
	}
	log.Info("handler ready", "mode", mode, "listen", ln.Addr().String(), "root", dir, "functions", len(fa.Meta.Functions))
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	// Let episodes in progress finish (and the workers log their last stats).
	select {
	case <-workersDone:
	case <-shutdown.Done():
	}
	return err
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// findRoot locates the app root: the flag, else the current folder or its parent
// (the host may start the binary from the app root or from its own folder).
func findRoot(flagRoot string) (string, error) {
	cands := []string{flagRoot}
	if flagRoot == "" {
		wd, _ := os.Getwd()
		exe, _ := os.Executable()
		cands = []string{wd, filepath.Dir(wd), filepath.Dir(exe), filepath.Dir(filepath.Dir(exe))}
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "host.json")); err == nil {
			return filepath.Abs(c)
		}
	}
	return "", fmt.Errorf("host.json not found (looked in %v); pass -root", cands)
}

// loadLocalSettings applies local.settings.json "Values" as func start does, without
// overriding variables already set.
func loadLocalSettings(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var ls struct {
		Values map[string]any `json:"Values"`
	}
	if err := json.Unmarshal(b, &ls); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range ls.Values {
		if _, set := os.LookupEnv(k); set {
			continue
		}
		os.Setenv(k, fmt.Sprint(v))
	}
	return nil
}
