// Package sealer encrypts hook secrets at rest with AES-256-GCM, so the
// event log, the views and backups of them never hold a secret in clear.
package sealer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hookd/hookd/internal/fsutil"
)

// KeyFileName is the key file created in the data directory when no key is
// given in the environment.
const KeyFileName = "secret.key"

// sealedPrefix versions the sealed form, so a new scheme can be told apart.
const sealedPrefix = "v1:"

// ErrOpen means a sealed secret could not be decrypted: the wrong key, or
// the value was altered.
var ErrOpen = errors.New("sealer: cannot open sealed secret (wrong HOOKD_SECRET_KEY or key file?)")

// Sealer seals and opens secrets with one 256-bit key.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealer: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret, bound to context (the hook's slug), so a sealed
// value copied onto another hook does not open.
func (s *Sealer) Seal(secret, context string) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("sealer: nonce: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(context))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same context.
func (s *Sealer) Open(sealed, context string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", ErrOpen
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize() {
		return "", ErrOpen
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// ParseKey reads a key given as 64 hex digits or as base64 of 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("a key must be 32 bytes, as 64 hex digits or base64 (e.g. from `openssl rand -base64 32`)")
}

// LoadKey returns the key from envKey if set, else from the key file in
// dataDir, creating it (mode 0600) with a random key the first time.
// It reports where the key came from, for the start-up log.
func LoadKey(envKey, dataDir string) (key []byte, source string, err error) {
	if envKey != "" {
		k, err := ParseKey(envKey)
		if err != nil {
			return nil, "", fmt.Errorf("HOOKD_SECRET_KEY: %w", err)
		}
		return k, "HOOKD_SECRET_KEY", nil
	}
	path := filepath.Join(dataDir, KeyFileName)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, "", fmt.Errorf("key file %s: %w", path, err)
		}
		return k, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("read key file: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("sync key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, "", fmt.Errorf("close key file: %w", err)
	}
	// The file's name must be as durable as its bytes: secrets sealed with
	// this key are fsynced to the log next, and a key lost in a crash would
	// make every one of them unreadable.
	if err := fsutil.SyncDir(dataDir); err != nil {
		return nil, "", fmt.Errorf("sync key file's directory: %w", err)
	}
	return k, path + " (created)", nil
}
