package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parley-go/parley/channel"
)

// FuzzDecodeEvent feeds the LiveView "event" payload decoder (the JSON
// envelope, then the form or object value) with arbitrary client bytes.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"click","event":"inc","value":{"by":"2"}}`))
	f.Add([]byte(`{"type":"form","event":"save","value":"user%5Bname%5D=ana&a[]=1&a[]=2","meta":{"_target":"user[name]"}}`))
	f.Add([]byte(`{"type":"form","event":"save","value":{"not":"a string"}}`))
	f.Add([]byte(`{"type":"keyup","event":"k","value":null,"cid":3}`))
	f.Add([]byte(`{"type":"form","value":"a[b][c][d]=1&a[b]=2&%zz"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p eventPayload
		if json.Unmarshal(data, &p) != nil {
			return
		}
		e, err := decodeEvent(p)
		if err != nil {
			return
		}
		if e.Params == nil {
			t.Fatalf("decoded event without params: %q", data)
		}
		if _, err := json.Marshal(e.Params); err != nil {
			t.Fatalf("params not encodable: %v (%q)", err, data)
		}
	})
}

// FuzzConnect feeds the live socket's connect hook with arbitrary CSRF
// tokens and cookie headers: only the token signed for the cookie's secret
// may pass.
func FuzzConnect(f *testing.F) {
	s, err := New(Config{SecretKeyBase: []string{string(bytes.Repeat([]byte{3}, 32))}})
	if err != nil {
		f.Fatal(err)
	}
	// A fixed clock: tokens signed by earlier runs (kept in the fuzz cache)
	// must not count as "other tokens that pass"; only this one is valid.
	s.signer.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	const secret = "0123456789abcdefghijklmnop"
	good, _ := s.signer.Sign(purposeCSRF, secret)
	session, _ := s.signer.Sign(purposeSession, sessionClaims{ID: "phx-1"})
	f.Add(good, csrfCookie+"="+secret)
	f.Add(good, csrfCookie+"=other-secret-of-22-chars")
	f.Add(session, csrfCookie+"="+secret)
	f.Add("", "")
	f.Add("a.b", csrfCookie+"=; x=y")
	f.Fuzz(func(t *testing.T, token, cookie string) {
		info := &channel.ConnectInfo{Params: url.Values{"_csrf_token": {token}}, Header: http.Header{"Cookie": {cookie}}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		assigns, err := s.Connect(ctx, info)
		if err != nil {
			t.Fatalf("Connect refused the socket: %v", err)
		}
		if e, _ := assigns[csrfErrorAssign].(string); (e != "") != (s.checkCSRF(token, info.Header) != nil) {
			t.Fatalf("assign %q disagrees with checkCSRF", e)
		}
		if err := s.checkCSRF(token, info.Header); err != nil {
			if !errors.Is(err, ErrCSRF) {
				t.Fatalf("refusal is not ErrCSRF: %v", err)
			}
			return
		}
		if token != good {
			t.Fatalf("a token other than the signed one passed: %q with cookie %q", token, cookie)
		}
	})
}
