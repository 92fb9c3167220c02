// Command handler is the Azure Functions custom handler of durable functions for Go.
//
// Under the Functions host (func start, Azure) it is started by the host, which sets
// FUNCTIONS_CUSTOMHANDLER_PORT: it then serves the host's invocation requests on
// 127.0.0.1. Started without that variable (make run, containers) it runs standalone:
// it serves the HTTP routes of the function folders itself, with function keys, and
// polls their queues.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/durablego/durablefunctions/internal/app"
	"github.com/durablego/durablefunctions/internal/runner"
)

func main() {
	if err := run(); err != nil {
		slog.Error("handler stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	root := flag.String("root", "", "function app root holding host.json (default: the current folder or its parent)")
	addr := flag.String("addr", "", "standalone listen address (default :7071, or $PORT / $HTTP_PORT)")
	standalone := flag.Bool("standalone", false, "run standalone even if FUNCTIONS_CUSTOMHANDLER_PORT is set")
	lease := flag.Duration("lease", 30*time.Second, "standalone: how long a message is held while processed (crash recovery delay)")
	debug := flag.Bool("debug", false, "debug logging")
	listPoison := flag.Bool("list-poison", false, "print the poisoned messages and why they were poisoned (JSON lines), then exit")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	dir, err := findRoot(*root)
	if err != nil {
		return err
	}
	if err := loadLocalSettings(filepath.Join(dir, "local.settings.json")); err != nil {
		return err
	}
	hostPort := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	hosted := hostPort != "" && !*standalone

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, app.Options{Root: dir, Getenv: os.Getenv, Logger: log})
	if err != nil {
		return err
	}

	if *listPoison {
		recs, err := a.Hub.ListPoison(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}

	var h http.Handler
	listen := *addr
	if hosted {
		if h, err = a.HostHandler(); err != nil {
			return err
		}
		listen = "127.0.0.1:" + hostPort
	} else {
		if h, err = a.StandaloneHandler(); err != nil {
			return err
		}
		if listen == "" {
			listen = ":" + firstNonEmpty(os.Getenv("HTTP_PORT"), os.Getenv("PORT"), "7071")
		}
		if !a.Keys.Configured() && !a.Keys.DevMode {
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
	if !hosted {
		mode = "standalone"
		go func() {
			errc <- a.RunWorkers(ctx, &runner.PollerOptions{Lease: *lease})
		}()
	}
	log.Info("handler ready", "mode", mode, "listen", ln.Addr().String(), "root", dir, "functions", len(a.Meta.Functions))
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
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
