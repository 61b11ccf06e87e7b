package sealer_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/sealer"
)

func newSealer(t *testing.T, fill byte) *sealer.Sealer {
	t.Helper()
	s, err := sealer.New(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	for _, secret := range []string{"s3cret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", " pä ss ", strings.Repeat("k", 256), "x"} {
		sealed, err := s.Seal(secret, "hook-1")
		if err != nil {
			t.Fatalf("Seal(%q): %v", secret, err)
		}
		// (A one-letter secret turns up in random base64 by chance.)
		if len(secret) >= 6 && strings.Contains(sealed, secret) {
			t.Errorf("sealed form %q contains the secret %q", sealed, secret)
		}
		got, err := s.Open(sealed, "hook-1")
		if err != nil || got != secret {
			t.Errorf("Open(Seal(%q)) = %q, %v", secret, got, err)
		}
	}
}

func TestSealingTwiceGivesDifferentValues(t *testing.T) {
	s := newSealer(t, 1)
	a, _ := s.Seal("same", "hook-1")
	b, _ := s.Seal("same", "hook-1")
	if a == b {
		t.Errorf("two seals of one secret are equal (%q): the nonce is not fresh", a)
	}
}

func TestOpenFailsWithWrongKeyContextOrTampering(t *testing.T) {
	s := newSealer(t, 1)
	sealed, err := s.Seal("s3cret", "hook-1")
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
		if err != nil {
			t.Fatalf("sealed form %q is not v1: and raw base64: %v", sealed, err)
		}
		if i < 0 {
			i += len(raw)
		}
		raw[i] ^= 0x01
		return "v1:" + base64.RawStdEncoding.EncodeToString(raw)
	}
	tests := []struct {
		name    string
		opener  *sealer.Sealer
		sealed  string
		context string
	}{
		{"wrong key", newSealer(t, 2), sealed, "hook-1"},
		{"wrong context", s, sealed, "hook-2"},
		{"empty context", s, sealed, ""},
		{"nonce changed", s, flip(0), "hook-1"},
		{"ciphertext changed", s, flip(12), "hook-1"},
		{"tag changed", s, flip(-1), "hook-1"},
		{"truncated", s, sealed[:len(sealed)-4], "hook-1"},
		{"shorter than a nonce", s, "v1:AAAA", "hook-1"},
		{"no version prefix", s, strings.TrimPrefix(sealed, "v1:"), "hook-1"},
		{"unknown version", s, "v2:" + strings.TrimPrefix(sealed, "v1:"), "hook-1"},
		{"not base64", s, "v1:***", "hook-1"},
		{"clear text", s, "s3cret", "hook-1"},
		{"empty", s, "", "hook-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opener.Open(tt.sealed, tt.context)
			if !errors.Is(err, sealer.ErrOpen) {
				t.Errorf("Open = %q, %v; want ErrOpen", got, err)
			}
			if got != "" {
				t.Errorf("Open returned %q along with its error", got)
			}
		})
	}
}

func TestNewRejectsKeysThatAreNot32Bytes(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := sealer.New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte key: no error", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(0xf0 + i) // bytes that give + and / in base64
	}
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"hex lower", hex.EncodeToString(key), true},
		{"hex upper", strings.ToUpper(hex.EncodeToString(key)), true},
		{"hex with newline", hex.EncodeToString(key) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(key), true},
		{"base64 with newline, as openssl prints it", base64.StdEncoding.EncodeToString(key) + "\n", true},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(key), true},
		{"base64 url-safe", base64.URLEncoding.EncodeToString(key), true},
		{"empty", "", false},
		{"hex of 31 bytes", hex.EncodeToString(key[:31]), false},
		{"hex of 33 bytes", hex.EncodeToString(append(key, 1)), false},
		{"64 chars not hex", strings.Repeat("z", 64), false},
		{"base64 of 16 bytes", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"base64 of 48 bytes", base64.StdEncoding.EncodeToString(append(key, key[:16]...)), false},
		{"passphrase", "correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sealer.ParseKey(tt.input)
			if !tt.ok {
				if err == nil {
					t.Errorf("ParseKey(%q) = %x, want an error", tt.input, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, key) {
				t.Errorf("ParseKey(%q) = %x, %v; want %x", tt.input, got, err, key)
			}
		})
	}
}

func TestLoadKeyCreatesKeyFileOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, sealer.KeyFileName)
	first, source, err := sealer.LoadKey("", dir)
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if len(first) != 32 {
		t.Fatalf("key of %d bytes, want 32", len(first))
	}
	if !strings.Contains(source, path) {
		t.Errorf("source %q does not name the key file %s", source, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	if bytes.Equal(first, make([]byte, 32)) {
		t.Error("the created key is all zeros")
	}

	second, source2, err := sealer.LoadKey("", dir)
	if err != nil {
		t.Fatalf("second LoadKey: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("second LoadKey gave another key: %x, first %x", second, first)
	}
	if source2 != path {
		t.Errorf("second source %q, want %q (read, not created)", source2, path)
	}

	// What one start sealed, the next one opens.
	a, _ := sealer.New(first)
	b, _ := sealer.New(second)
	sealed, _ := a.Seal("s3cret", "h")
	if got, err := b.Open(sealed, "h"); err != nil || got != "s3cret" {
		t.Errorf("a secret sealed before a restart opens as %q, %v", got, err)
	}

	// Another data dir gets another key.
	other, _, err := sealer.LoadKey("", t.TempDir())
	if err != nil || bytes.Equal(other, first) {
		t.Errorf("a second data dir got key %x (err %v), the same as the first", other, err)
	}
}

func TestLoadKeyFromEnvironmentWinsAndCreatesNoFile(t *testing.T) {
	dir := t.TempDir()
	envKey := bytes.Repeat([]byte{0xab}, 32)
	got, source, err := sealer.LoadKey(hex.EncodeToString(envKey), dir)
	if err != nil || !bytes.Equal(got, envKey) || source != "HOOKD_SECRET_KEY" {
		t.Fatalf("LoadKey(env) = %x, %q, %v; want the env key", got, source, err)
	}
	if _, err := os.Stat(filepath.Join(dir, sealer.KeyFileName)); !os.IsNotExist(err) {
		t.Errorf("a key file exists (%v) although the key came from the environment", err)
	}

	// With a key file present, the environment still wins.
	fileKey, _, err := sealer.LoadKey("", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err = sealer.LoadKey(base64.StdEncoding.EncodeToString(envKey), dir)
	if err != nil || !bytes.Equal(got, envKey) || bytes.Equal(got, fileKey) {
		t.Errorf("LoadKey(env) with a key file = %x, %v; want the env key %x", got, err, envKey)
	}
}

func TestLoadKeyRejectsBadKeys(t *testing.T) {
	dir := t.TempDir()
	_, _, err := sealer.LoadKey("too-short", dir)
	if err == nil || !strings.Contains(err.Error(), "HOOKD_SECRET_KEY") {
		t.Errorf("bad env key: error %v, want one naming HOOKD_SECRET_KEY", err)
	}
	if err != nil && strings.Contains(err.Error(), "too-short") {
		t.Errorf("error %q repeats the key", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, sealer.KeyFileName)); !os.IsNotExist(statErr) {
		t.Error("a bad env key fell back to creating a key file")
	}

	path := filepath.Join(dir, sealer.KeyFileName)
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sealer.LoadKey("", dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt key file: error %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage\n" {
		t.Errorf("a corrupt key file was overwritten with %q; losing the key loses every secret", b)
	}
}
