package live

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSigner(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	now := time.Unix(1_800_000_000, 0)
	old, err := NewSigner(time.Hour, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	old.now = func() time.Time { return now }
	tok, err := old.Sign("session", map[string]string{"id": "phx-1"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := old.Verify("session", tok, &got); err != nil || got["id"] != "phx-1" {
		t.Fatalf("verify: %v %v", got, err)
	}
	// Rotation: the new signer signs with the new key and still accepts the old.
	rotated, _ := NewSigner(time.Hour, newKey, oldKey)
	rotated.now = old.now
	if err := rotated.Verify("session", tok, &got); err != nil {
		t.Fatalf("rotated signer refused an old token: %v", err)
	}
	fresh, _ := rotated.Sign("session", 1)
	if err := old.Verify("session", fresh, new(int)); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("old signer accepted a token of an unknown key: %v", err)
	}
	if err := old.Verify("static", tok, &got); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a session token verified as a static token: %v", err)
	}
	// Forge: a different payload under the original signature.
	body, sig, _ := strings.Cut(tok, ".")
	forgedBody, _ := old.Sign("session", map[string]string{"id": "phx-2"})
	forged := strings.SplitN(forgedBody, ".", 2)[0] + "." + sig
	if forged == tok || body == strings.SplitN(forgedBody, ".", 2)[0] {
		t.Fatal("the forgery is not a different token")
	}
	if err := old.Verify("session", forged, &got); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("forged token: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if err := old.Verify("session", tok, &got); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := NewSigner(time.Hour, []byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestVerifyRefusesOtherSpellings(t *testing.T) {
	s, _ := NewSigner(time.Hour, bytes.Repeat([]byte{7}, 32))
	tok, _ := s.Sign("session", map[string]int{"a": 1})
	// The signature's last character carries 2 unused bits (32 bytes → 43
	// characters); setting them spells the same bytes differently.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	other := tok[:len(tok)-1] + string(alphabet[last|1])
	if other == tok {
		other = tok[:len(tok)-1] + string(alphabet[last|2])
	}
	var v any
	if err := s.Verify("session", other, &v); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("a second spelling of a valid token: %v", err)
	}
	if err := s.Verify("session", tok, &v); err != nil {
		t.Fatal(err)
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := NewSigner(time.Hour, bytes.Repeat([]byte{7}, 32))
	// A fixed clock: the only valid token is the one signed here, whatever
	// the day the fuzzer runs.
	s.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	good, _ := s.Sign("session", map[string]int{"a": 1})
	f.Add(good)
	f.Add("")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) {
		var v any
		err := s.Verify("session", tok, &v)
		if err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if err == nil && tok != good {
			t.Fatalf("a token other than the signed one verified: %q", tok)
		}
	})
}
