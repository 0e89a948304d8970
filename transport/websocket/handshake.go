package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkUpgrade validates the WebSocket handshake headers; it returns the
// client key or an HTTP status and message.
func checkUpgrade(r *http.Request) (key string, status int, msg string) {
	if r.Method != http.MethodGet {
		return "", http.StatusBadRequest, "websocket: GET required"
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "", http.StatusBadRequest, "websocket: not a websocket handshake"
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		return "", http.StatusBadRequest, "websocket: unsupported version"
	}
	key = r.Header.Get("Sec-Websocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", http.StatusBadRequest, "websocket: bad Sec-WebSocket-Key"
	}
	return key, 0, ""
}

// subprotocols reads the phoenix client's offered subprotocols: whether any
// was offered, and the auth token carried as base64url.bearer.phx.<token>
// (standard base64 without padding).
func subprotocols(r *http.Request) (offered bool, token string, ok bool) {
	ok = true
	for _, v := range r.Header.Values("Sec-Websocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			offered = true
			if rest, found := strings.CutPrefix(p, "base64url.bearer.phx."); found {
				b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
				if err != nil {
					ok = false
					continue
				}
				token = string(b)
			}
		}
	}
	return offered, token, ok
}
