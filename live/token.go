package live

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token errors. Both make a join fail with {reason: "stale"}.
var (
	ErrTokenInvalid = errors.New("live: token invalid")
	ErrTokenExpired = errors.New("live: token expired")
)

var strictB64 = base64.RawURLEncoding.Strict()

// Signer signs and verifies opaque tokens with HMAC-SHA256. The first key
// signs; every key verifies, so keys can be rotated: put the new key first
// and drop the old one once its tokens have expired.
type Signer struct {
	keys   [][]byte
	maxAge time.Duration
	now    func() time.Time
}

// NewSigner returns a Signer. Each key must be at least 32 bytes.
func NewSigner(maxAge time.Duration, keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("live: no signing key")
	}
	for _, k := range keys {
		if len(k) < 32 {
			return nil, errors.New("live: signing keys must be at least 32 bytes")
		}
	}
	return &Signer{keys: keys, maxAge: maxAge, now: time.Now}, nil
}

// Sign returns a token carrying v (JSON-encoded) for purpose. A token
// signed for one purpose never verifies for another.
func (s *Signer) Sign(purpose string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("live: sign: %w", err)
	}
	msg := binary.BigEndian.AppendUint64(nil, uint64(s.now().Unix()))
	msg = append(msg, body...)
	mac := s.mac(s.keys[0], purpose, msg)
	return base64.RawURLEncoding.EncodeToString(msg) + "." + base64.RawURLEncoding.EncodeToString(mac), nil
}

// Verify checks token for purpose and decodes its payload into v.
func (s *Signer) Verify(purpose, token string, v any) error {
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return ErrTokenInvalid
	}
	// Strict: one spelling per token (no stray bits in the last character,
	// and no CR or LF, which encoding/base64 skips even in strict mode).
	if strings.ContainsAny(token, "\r\n") {
		return ErrTokenInvalid
	}
	msg, err1 := strictB64.DecodeString(enc)
	mac, err2 := strictB64.DecodeString(sig)
	if err1 != nil || err2 != nil || len(msg) < 8 {
		return ErrTokenInvalid
	}
	valid := false
	for _, k := range s.keys {
		if hmac.Equal(mac, s.mac(k, purpose, msg)) {
			valid = true
			break
		}
	}
	if !valid {
		return ErrTokenInvalid
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(msg[:8])), 0)
	if age := s.now().Sub(issued); age > s.maxAge || age < -time.Minute {
		return ErrTokenExpired
	}
	if err := json.Unmarshal(msg[8:], v); err != nil {
		return fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	return nil
}

func (s *Signer) mac(key []byte, purpose string, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)
}
