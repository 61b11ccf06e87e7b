package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseServeValidatesFlagsAndEnvironment(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name    string
		args    []string
		getenv  func(string) string
		wantErr string
		check   func(t *testing.T, c serveConfig)
	}{
		{name: "defaults", getenv: env(), check: func(t *testing.T, c serveConfig) {
			if c.addr != "127.0.0.1:8080" || c.data != "./data" || c.workers != 256 || c.maxPerHost != 8 ||
				c.sendTimeout != 10*time.Second || c.connectTimeout != 5*time.Second || c.secretGrace != 24*time.Hour {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "env fills flags", getenv: env("HOOKD_ADDR", "127.0.0.1:9", "HOOKD_ALLOW_PRIVATE_TARGETS", "true", "HOOKD_SEND_TIMEOUT", "3s"),
			check: func(t *testing.T, c serveConfig) {
				if c.addr != "127.0.0.1:9" || !c.allowPrivateTargets || c.sendTimeout != 3*time.Second {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "flag beats env", args: []string{"--addr", "127.0.0.1:7"}, getenv: env("HOOKD_ADDR", "127.0.0.1:9"),
			check: func(t *testing.T, c serveConfig) {
				if c.addr != "127.0.0.1:7" {
					t.Errorf("addr = %q", c.addr)
				}
			}},
		{name: "non-loopback needs a token", args: []string{"--addr", "0.0.0.0:8080"}, getenv: env(), wantErr: "--api-token"},
		{name: "non-loopback with a token", args: []string{"--addr", "0.0.0.0:8080", "--api-token", "t"}, getenv: env()},
		{name: "bad bool env", getenv: env("HOOKD_ALLOW_PRIVATE_TARGETS", "maybe"), wantErr: "HOOKD_ALLOW_PRIVATE_TARGETS"},
		{name: "bad duration env", getenv: env("HOOKD_SEND_TIMEOUT", "soon"), wantErr: "HOOKD_SEND_TIMEOUT"},
		{name: "pprof only on loopback", args: []string{"--pprof", "0.0.0.0:6060"}, getenv: env(), wantErr: "loopback"},
		{name: "pprof on loopback", args: []string{"--pprof", "127.0.0.1:6060"}, getenv: env()},
		{name: "stray argument", args: []string{"extra"}, getenv: env(), wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServe(tt.args, tt.getenv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func mapEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPITokenComesFromAFileTheEnvironmentOrTheCommandLine(t *testing.T) {
	lf := writeTokenFile(t, "file-token\n")
	crlf := writeTokenFile(t, "file-token\r\n")
	bare := writeTokenFile(t, "file-token")
	for _, tt := range []struct {
		name      string
		args      []string
		getenv    func(string) string
		wantToken string
		wantWarn  bool
	}{
		{"--api-token-file, one trailing newline removed", []string{"--api-token-file", lf}, mapEnv(), "file-token", false},
		{"a CRLF line ending is one newline", []string{"--api-token-file", crlf}, mapEnv(), "file-token", false},
		{"a file without a newline", []string{"--api-token-file", bare}, mapEnv(), "file-token", false},
		{"HOOKD_API_TOKEN_FILE", nil, mapEnv("HOOKD_API_TOKEN_FILE", lf), "file-token", false},
		{"HOOKD_API_TOKEN", nil, mapEnv("HOOKD_API_TOKEN", "env-token"), "env-token", false},
		{"--api-token warns", []string{"--api-token", "flag-token"}, mapEnv(), "flag-token", true},
		{"--api-token beats HOOKD_API_TOKEN", []string{"--api-token", "flag-token"}, mapEnv("HOOKD_API_TOKEN", "env-token"), "flag-token", true},
		{"--api-token-file beats HOOKD_API_TOKEN_FILE", []string{"--api-token-file", lf}, mapEnv("HOOKD_API_TOKEN_FILE", "/nonexistent"), "file-token", false},
		{"no token", nil, mapEnv(), "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServe(tt.args, tt.getenv, io.Discard)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.apiToken != tt.wantToken {
				t.Errorf("token = %q, want %q", c.apiToken, tt.wantToken)
			}
			if !tt.wantWarn {
				if len(c.warnings) != 0 {
					t.Errorf("warnings = %q, want none", c.warnings)
				}
				return
			}
			if len(c.warnings) != 1 {
				t.Fatalf("warnings = %q, want one about --api-token", c.warnings)
			}
			w := c.warnings[0]
			for _, want := range []string{"--api-token", "process list", "--api-token-file", "HOOKD_API_TOKEN"} {
				if !strings.Contains(w, want) {
					t.Errorf("warning %q does not mention %q", w, want)
				}
			}
			if strings.Contains(w, tt.wantToken) {
				t.Errorf("warning %q shows the token", w)
			}
		})
	}
}

func TestAPITokenFileMistakesAreRefusedWithoutShowingTheToken(t *testing.T) {
	const secret = "s3cr3t-token-value"
	good := writeTokenFile(t, secret+"\n")
	for _, tt := range []struct {
		name    string
		args    []string
		getenv  func(string) string
		wantErr string
	}{
		{"file and --api-token", []string{"--api-token-file", good, "--api-token", secret}, mapEnv(), "--api-token and --api-token-file"},
		{"file and HOOKD_API_TOKEN", []string{"--api-token-file", good}, mapEnv("HOOKD_API_TOKEN", secret), "HOOKD_API_TOKEN and --api-token-file"},
		{"HOOKD_API_TOKEN_FILE and HOOKD_API_TOKEN", nil, mapEnv("HOOKD_API_TOKEN_FILE", good, "HOOKD_API_TOKEN", secret), "HOOKD_API_TOKEN and HOOKD_API_TOKEN_FILE"},
		{"missing file", []string{"--api-token-file", filepath.Join(t.TempDir(), "nope")}, mapEnv(), "--api-token-file"},
		{"empty file", []string{"--api-token-file", writeTokenFile(t, "\n")}, mapEnv(), "empty"},
		{"two trailing newlines", []string{"--api-token-file", writeTokenFile(t, secret+"\n\n")}, mapEnv(), "line break"},
		{"two lines", []string{"--api-token-file", writeTokenFile(t, secret+"\nother\n")}, mapEnv(), "line break"},
		{"trailing space in the environment", nil, mapEnv("HOOKD_API_TOKEN", secret+" "), "HOOKD_API_TOKEN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var usage strings.Builder
			_, err := parseServe(tt.args, tt.getenv, &usage)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(usage.String(), secret) {
				t.Errorf("the token's value was shown: err %q, output %q", err, usage.String())
			}
		})
	}
}

// TestUsageAndErrorsNeverPrintSecrets runs every command's help, a bad
// flag and a usage error with every secret set in the environment, and
// looks for the secrets' values in all that hookd writes.
func TestUsageAndErrorsNeverPrintSecrets(t *testing.T) {
	secrets := map[string]string{
		"HOOKD_API_TOKEN":      "api-token-5fd1c0e2",
		"HOOKD_SECRET_KEY":     "c2VjcmV0LWtleS12YWx1ZS1mb3ItdGVzdHMtMzJieXQ=",
		"HOOKD_RECEIVE_SECRET": "receive-secret-9b7e44aa",
	}
	getenv := func(k string) string { return secrets[k] }
	for _, args := range [][]string{
		{"serve", "--help"},
		{"serve", "-h"},
		{"serve", "--no-such-flag"},
		{"serve", "--max-in-flight", "many"},
		{"serve", "--addr", "nonsense"},
		{"serve", "stray"},
		{"redeliver-failed", "--help"},
		{"redeliver-failed", "--no-such-flag"},
		{"redeliver-failed"}, // required flags missing: prints the usage
		{"receive", "--help"},
		{"receive", "--no-such-flag"},
		{"receive", "--status", "42"},
		{"rebuild", "--help"},
		{"log", "verify", "--help"},
		{"log", "tail", "--help"},
		{"log", "export", "--help"},
		{"log", "stats", "--help"},
		{"log", "-h"},
		{"--help"},
		{"no-such-command"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), args, getenv, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if out == "" {
				t.Fatalf("exit %d and no output; want usage or an error", code)
			}
			for name, v := range secrets {
				if strings.Contains(out, v) {
					t.Errorf("%s's value was printed (exit %d):\n%s", name, code, out)
				}
			}
		})
	}
	t.Run("serve --help still documents the flags and their variables", func(t *testing.T) {
		var stderr strings.Builder
		run(t.Context(), []string{"serve", "--help"}, getenv, io.Discard, &stderr)
		for _, want := range []string{"-api-token", "HOOKD_API_TOKEN", "-api-token-file", "HOOKD_API_TOKEN_FILE"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("serve --help does not mention %q:\n%s", want, stderr.String())
			}
		}
	})
}

func TestServeLogsTheCommandLineTokenWarning(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // start and stop at once: only the start-up log matters here
	var stderr strings.Builder
	const token = "cmdline-token-31f4"
	code := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-token", token, "--log-format", "json"},
		func(string) string { return "" }, io.Discard, &stderr)
	out := stderr.String()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var warned bool
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "--api-token-file") && strings.Contains(line, "process list") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no WARN about --api-token naming --api-token-file:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the token was logged:\n%s", out)
	}
}

func TestMinFreeDiskParses(t *testing.T) {
	const total = 100 << 30
	for _, c := range []struct {
		in      string
		reserve uint64
		enabled bool
	}{
		{"", 256 << 20, true}, // the default: 256 MiB on a large filesystem
		{"1GiB", 1 << 30, true},
		{"512MB", 512e6, true},
		{"2g", 2 << 30, true},
		{"1048576", 1 << 20, true},
		{"10%", total / 10, true},
		{"0", 0, false},
	} {
		env := func(k string) string {
			if k == "HOOKD_MIN_FREE_DISK" {
				return c.in
			}
			return ""
		}
		cfg, err := parseServe(nil, env, io.Discard)
		if err != nil {
			t.Fatalf("HOOKD_MIN_FREE_DISK=%q: %v", c.in, err)
		}
		if got := cfg.minFreeDisk.reserve(total); cfg.minFreeDisk.enabled() != c.enabled || (c.enabled && got != c.reserve) {
			t.Errorf("%q: reserve %d enabled %v, want %d %v", c.in, got, cfg.minFreeDisk.enabled(), c.reserve, c.enabled)
		}
	}
	for _, bad := range []string{"lots", "-1GB", "120%", "5 %%"} {
		if _, err := parseServe([]string{"--min-free-disk", bad}, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("--min-free-disk %q was accepted", bad)
		}
	}
}

func TestMaxConnectionsFlagAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		want    int
		wantErr string
	}{
		{want: 0},
		{args: []string{"--max-connections", "500"}, want: 500},
		{env: map[string]string{"HOOKD_MAX_CONNECTIONS": "700"}, want: 700},
		{args: []string{"--max-connections", "-1"}, wantErr: "--max-connections must be at least 1"},
	} {
		getenv := func(k string) string { return tc.env[k] }
		c, err := parseServe(tc.args, getenv, &strings.Builder{})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v %v: error %v, want %q", tc.args, tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.maxConnections != tc.want {
			t.Errorf("%v %v: %d, %v; want %d", tc.args, tc.env, c.maxConnections, err, tc.want)
		}
	}
}
