// Command hookd is the outgoing-webhook service: `hookd serve` runs it,
// `hookd rebuild` rebuilds its views from the event log, `hookd log` reads
// the log, `hookd redeliver-failed` asks a server for a bulk redelivery
// and `hookd receive` is a local receiver for trying hooks.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `hookd: outgoing webhooks for build events

Usage:
  hookd serve   [flags]         run the HTTP API and the dispatcher
  hookd rebuild --server URL    rebuild a running server's views online, beside the live ones (--token T)
  hookd rebuild --data DIR      drop the views and rebuild them from the event log (server stopped)
  hookd log verify --server URL | --data DIR   check the event log's hash chain, report the first broken link
  hookd log tail|export|stats --server URL | --data DIR   read the event log of a running server
                                (or, --data, of a stopped one); "hookd log -h"
  hookd log import --data DIR < F   restore an export into a new, empty data directory
  hookd redeliver-failed --app A --hook H --since T [--server URL] [--token T]
                                redeliver a hook's failed deliveries since T, once each (through the API)
  hookd token create|list|revoke --server URL --token ADMIN ...
                                issue, list and revoke scoped API tokens; "hookd token -h"
  hookd receive [--addr 127.0.0.1:9000] [--secret S]
                                a local receiver that prints webhooks and checks their signatures

Run "hookd COMMAND -h" for a command's flags.
`

// run is main without process globals, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], getenv, stderr)
	case "rebuild":
		err = rebuild(ctx, args[1:], getenv, stdout, stderr)
	case "log":
		return logCommand(ctx, args[1:], getenv, stdout, stderr)
	case "redeliver-failed":
		err = redeliverFailed(ctx, args[1:], getenv, stdout, stderr)
	case "receive":
		err = receive(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		err = tokenCommand(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "hookd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
