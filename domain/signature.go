package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Sign returns the Bitrise-Hook-Signature value for body: "sha256=" and the
// lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the secret
// string as given.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether sig is the signature of body under secret,
// comparing in constant time. Receivers written in Go can use it as is.
func VerifySignature(secret string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}
