package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const tokenUsage = `Usage:
  hookd token create --name N --scopes S[,S] --apps A[,A] [--expires T] [--server URL] [--token ADMIN]
                     issue an API token; prints it once, on its own line (keep it: it cannot be shown again)
  hookd token list   [--server URL] [--token ADMIN]    the issued tokens, revoked ones too, without secrets
  hookd token revoke ID [--server URL] [--token ADMIN] revoke a token: it opens nothing from the next request on

Scopes: ingest (report build events), apps:read (read hooks, delivery items, build events),
apps:write (apps:read, and change hooks, redeliver, test), admin (everything, every app).
--apps lists app slugs, or "*" for every app. --token is an admin token (env HOOKD_API_TOKEN).
`

// tokenCommand runs "hookd token ...", through a running server's API:
// tokens are events in its log, so only the server issues them.
func tokenCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, tokenUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	server := fs.String("server", envDefault(getenv, "HOOKD_SERVER", "http://127.0.0.1:8080"), "the hookd server's base URL (env HOOKD_SERVER)")
	token := fs.String("token", "", "an admin API token (env HOOKD_API_TOKEN)")
	name := fs.String("name", "", "create: who or what uses the token (\"ci\", \"alice\")")
	scopes := fs.String("scopes", "", "create: comma-separated scopes: ingest, apps:read, apps:write, admin")
	apps := fs.String("apps", "", `create: comma-separated app slugs, or "*" for every app`)
	expires := fs.String("expires", "", `create: when the token stops working: an RFC 3339 time or a duration from now ("720h"); default never`)
	asJSON := fs.Bool("json", false, "print the server's answer as it came")
	// Flags may come after the positional ID: parse around it.
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if !isFlagSet(fs, "token") {
		*token = getenv("HOOKD_API_TOKEN")
	}
	c, err := newAPIClient(*server, *token)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		if len(positional) > 0 {
			return fmt.Errorf("unexpected argument %q", positional[0])
		}
		return tokenCreate(ctx, c, *name, *scopes, *apps, *expires, *asJSON, stdout, stderr)
	case "list":
		if len(positional) > 0 {
			return fmt.Errorf("unexpected argument %q", positional[0])
		}
		return tokenList(ctx, c, *asJSON, stdout)
	case "revoke":
		if len(positional) != 1 {
			fmt.Fprint(stderr, "hookd token revoke: give the token's id (hookd token list shows it), not the token\n")
			return errUsage
		}
		return tokenRevoke(ctx, c, positional[0], *asJSON, stdout)
	}
	fmt.Fprintf(stderr, "hookd token: unknown command %q\n\n%s", args[0], tokenUsage)
	return errUsage
}

// tokenJSON is a token as the API answers it.
type tokenJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	Apps      []string   `json:"apps"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Token     string     `json:"token"`
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func tokenCreate(ctx context.Context, c *apiClient, name, scopes, apps, expires string, asJSON bool, stdout, stderr io.Writer) error {
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--name", name}, {"--scopes", scopes}, {"--apps", apps}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s required (hookd token -h)", strings.Join(missing, ", "))
	}
	body := map[string]any{"name": name, "scopes": splitList(scopes), "apps": splitList(apps)}
	if expires != "" {
		at, err := parseUntil(expires, time.Now())
		if err != nil {
			return err
		}
		body["expires_at"] = at.UTC().Format(time.RFC3339)
	}
	var out struct{ Data tokenJSON }
	raw, err := c.call(ctx, http.MethodPost, "/v0.1/admin/tokens", body, &out)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	t := out.Data
	fmt.Fprintf(stderr, "issued token %s (%q): %s for %s, %s.\nThe token is on the next line, shown this once: keep it.\n",
		t.ID, t.Name, strings.Join(t.Scopes, ", "), strings.Join(t.Apps, ", "), expiry(t.ExpiresAt))
	_, err = fmt.Fprintln(stdout, t.Token)
	return err
}

func expiry(at *time.Time) string {
	if at == nil {
		return "never expires"
	}
	return "expires " + at.UTC().Format(time.RFC3339)
}

func tokenList(ctx context.Context, c *apiClient, asJSON bool, stdout io.Writer) error {
	var all []tokenJSON
	var raws []json.RawMessage
	next := ""
	for {
		q := url.Values{"limit": {"200"}}
		if next != "" {
			q.Set("next", next)
		}
		var page struct {
			Data   []json.RawMessage `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if _, err := c.call(ctx, http.MethodGet, "/v0.1/admin/tokens?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, r := range page.Data {
			var t tokenJSON
			if err := json.Unmarshal(r, &t); err != nil {
				return fmt.Errorf("the server's answer is not what hookd sends: %w", err)
			}
			all, raws = append(all, t), append(raws, r)
		}
		if next = page.Paging.Next; next == "" {
			break
		}
	}
	if asJSON {
		for _, r := range raws {
			if _, err := fmt.Fprintf(stdout, "%s\n", r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tAPPS\tCREATED\tEXPIRES\tREVOKED")
	for _, t := range all {
		exp, rev := "never", "-"
		if t.ExpiresAt != nil {
			exp = t.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if t.RevokedAt != nil {
			rev = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), strings.Join(t.Apps, ","),
			t.CreatedAt.UTC().Format(time.RFC3339), exp, rev)
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, c *apiClient, id string, asJSON bool, stdout io.Writer) error {
	if strings.HasPrefix(id, "hkd_") {
		return fmt.Errorf("that is a token, not a token's id: give the id that hookd token list shows (and treat that token as exposed)")
	}
	var out struct{ Data tokenJSON }
	raw, err := c.call(ctx, http.MethodDelete, "/v0.1/admin/tokens/"+url.PathEscape(id), nil, &out)
	if err != nil {
		return err
	}
	if asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	_, err = fmt.Fprintf(stdout, "revoked token %s (%q)\n", out.Data.ID, out.Data.Name)
	return err
}

// parseUntil reads an RFC 3339 time, or a positive duration from now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: want an RFC 3339 time such as 2027-01-01T00:00:00Z, or a positive duration from now such as 720h", s)
}

// apiClient calls a running server's API for the commands that change it
// through the API: JSON in, JSON out, the server's message on failure.
type apiClient struct {
	base  string // without a trailing slash
	token string // never printed
	http  *http.Client
}

func newAPIClient(server, token string) (*apiClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("--server %q: want the server's base URL, such as http://127.0.0.1:8080", server)
	}
	return &apiClient{base: strings.TrimRight(u.String(), "/"), token: token, http: &http.Client{Timeout: time.Minute}}, nil
}

// call sends body (nil: none) as JSON and decodes a 2xx answer into out;
// it returns the answer's bytes as they came.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not reach the server: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the server's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, msg)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, fmt.Errorf("the server's answer is not what hookd sends (%v): %.200s", err, raw)
	}
	return raw, nil
}
