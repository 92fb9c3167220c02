// Command handler is the sample function app of durable functions for Go: the
// counter, scoreboard, bank, circuit breaker, async HTTP job and the orchestration
// patterns, built on the public packages durable and funcapp.
//
// Under the Functions host (func start, Azure) it is started by the host, which sets
// FUNCTIONS_CUSTOMHANDLER_PORT; started without it (make run, containers) it runs
// standalone. `go run ./handler -gen` writes the function folders from the
// registrations; `-gen-check` fails when they drift.
package main

import "github.com/durablego/durablefunctions/handler/apps"

func main() { apps.App().Main() }
