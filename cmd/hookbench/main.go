// Command hookbench measures hookd against the machine's own limit: each
// scenario runs hookd (the real binary, in its own process, for the HTTP
// scenarios; its packages in-process for the log and the views) and a
// baseline doing the same work without hookd, and prints both with their
// ratio as a Markdown table and one JSON line per scenario on stdout.
// Progress goes to stderr. See `hookbench -h` and docs/benchmarks.md.
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
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without process globals, so the quick test can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "hookbench: %v\n", err)
		return 2
	}
	b := newBench(cfg, stderr)
	err = b.run(ctx)
	// After the run cleaned up: a reader that goes away early cannot
	// leave data or processes behind.
	writeReport(stdout, b.results)
	if err != nil {
		fmt.Fprintf(stderr, "hookbench: %v\n", err)
		return 1
	}
	return 0
}
