package main

import (
	"io"
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
