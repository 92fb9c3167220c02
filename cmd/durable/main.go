// Command durable manages the orchestrations and entities of a running durable
// functions app through its management API over HTTP: start, status, list, raise,
// terminate, suspend, resume, restart, purge, signal, entity get/list/delete and
// poison list. Run `durable --help` for usage; the logic lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/durablego/durablefunctions/internal/cli"
)

func main() {
	// Ctrl-C ends a `status --wait` or a slow request cleanly, with a message.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], nil)
	stop()
	os.Exit(code)
}
