package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// redeliverFailed asks a running server to redeliver every failed delivery
// item of a hook since a time, once each, through its API (the server
// holds the data directory, so this cannot go to the log directly).
func redeliverFailed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redeliver-failed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envDefault(getenv, "HOOKD_SERVER", "http://127.0.0.1:8080"), "the hookd server's base URL (env HOOKD_SERVER)")
	app := fs.String("app", "", "the app slug (required)")
	hook := fs.String("hook", "", "the webhook slug (required)")
	sinceFlag := fs.String("since", "", `redeliver failed items created at or after this: an RFC 3339 time ("2026-03-01T10:00:00Z") or a duration back from now ("2h") (required)`)
	// Not the flag's default: the usage text would print it.
	token := fs.String("token", "", "the API token, if the server requires one (env HOOKD_API_TOKEN)")
	asJSON := fs.Bool("json", false, "print the server's answer as it came")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if !isFlagSet(fs, "token") {
		*token = getenv("HOOKD_API_TOKEN")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookd redeliver-failed: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--app", *app}, {"--hook", *hook}, {"--since", *sinceFlag}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "hookd redeliver-failed: %s required\n", strings.Join(missing, ", "))
		fs.Usage()
		return errUsage
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return err
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	path := "/v0.1/apps/" + url.PathEscape(*app) + "/outgoing-webhooks/" + url.PathEscape(*hook) + "/redeliver-failed"
	var out struct {
		Message string `json:"message"`
		Data    struct {
			Requested int      `json:"requested"`
			Slugs     []string `json:"slugs"`
		} `json:"data"`
	}
	raw, err := c.call(ctx, http.MethodPost, path, map[string]string{"since": since.UTC().Format(time.RFC3339Nano)}, &out)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	fmt.Fprintf(stdout, "%s\n", out.Message)
	for _, s := range out.Data.Slugs {
		fmt.Fprintf(stdout, "%s\n", s)
	}
	return nil
}

// parseSince reads an RFC 3339 time, or a positive duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, errors.New("--since: a duration must be positive (how far back from now)")
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time such as 2026-03-01T10:00:00Z, or a duration back from now such as 2h", s)
}
