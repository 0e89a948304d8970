package live

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// EnvSecretKeyBase is the environment variable [New] reads the secret key
// base from when Config.SecretKeyBase is empty: one secret, or several
// separated by commas (the first signs, all verify).
const EnvSecretKeyBase = "PARLEY_SECRET_KEY_BASE"

// MinSecretLen is the shortest secret key base accepted, in bytes.
const MinSecretLen = 32

// ErrSecretTooShort refuses a secret key base under MinSecretLen bytes.
var ErrSecretTooShort = errors.New("live: secret key base must be at least 32 bytes (make one with `openssl rand -base64 48`)")

// GenerateSecretKeyBase returns a new random secret key base: 64
// characters of URL-safe base64 (48 random bytes), like `mix phx.gen.secret`.
func GenerateSecretKeyBase() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseSecretKeyBase splits a list of secrets as EnvSecretKeyBase and
// secret files hold them: separated by commas or newlines, surrounding
// space trimmed, empty entries skipped.
func ParseSecretKeyBase(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// deriveKey derives the token signing key from one secret key base (the
// role of Plug.Crypto.KeyGenerator in Phoenix): HMAC-SHA256 of a fixed
// label. Every token's MAC also covers its purpose (session, static,
// flash, CSRF), so one derived key serves all of them without any token
// verifying for another purpose.
func deriveKey(secret string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte("parley live token signing key v1"))
	return h.Sum(nil)
}

// secretKeys resolves Config.SecretKeyBase, then EnvSecretKeyBase; with
// neither, it returns a random key and ephemeral true.
func secretKeys(secrets []string) (keys [][]byte, ephemeral bool, err error) {
	if len(secrets) == 0 {
		secrets = ParseSecretKeyBase(os.Getenv(EnvSecretKeyBase))
	}
	if len(secrets) == 0 {
		return [][]byte{deriveKey(GenerateSecretKeyBase())}, true, nil
	}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, false, fmt.Errorf("%w: secret %d of %d has %d", ErrSecretTooShort, i+1, len(secrets), len(s))
		}
		keys = append(keys, deriveKey(s))
	}
	return keys, false, nil
}
