package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
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

// refusal is a handshake refused before the upgrade: the HTTP status, the
// message of the response body, and extra response headers.
type refusal struct {
	status int
	msg    string
	header http.Header
}

// checkUpgrade validates the opening handshake strictly, as RFC 6455
// §4.2.1 asks of a server: an HTTP/1.1 (or later) GET without a body, an
// Upgrade header listing the token "websocket", a Connection header listing
// "Upgrade" (both token lists, case-insensitive), exactly one
// Sec-WebSocket-Key that decodes to 16 bytes, and Sec-WebSocket-Version 13
// (else 426 with the version we speak, §4.4). It returns the client key, or
// the refusal.
//
// A request with a body is refused: once the connection is upgraded the
// bytes after the headers are WebSocket frames, so a body would be read as
// frames that an intermediary took for request content.
func checkUpgrade(r *http.Request) (key string, ref *refusal) {
	bad := func(msg string) (string, *refusal) {
		return "", &refusal{status: http.StatusBadRequest, msg: "websocket: " + msg}
	}
	switch {
	case !r.ProtoAtLeast(1, 1):
		return bad("HTTP/1.1 or later required, got " + r.Proto)
	case r.Method != http.MethodGet:
		return bad("GET required, got " + r.Method)
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		return bad("an upgrade request must not carry a body")
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return bad("not a websocket handshake: Upgrade lacks websocket")
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return bad("not a websocket handshake: Connection lacks Upgrade")
	}
	if v := r.Header.Values("Sec-Websocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return "", &refusal{status: http.StatusUpgradeRequired, msg: "websocket: unsupported version: 13 required",
			header: http.Header{"Sec-Websocket-Version": {"13"}}}
	}
	keys := r.Header.Values("Sec-Websocket-Key")
	if len(keys) != 1 {
		return bad(fmt.Sprintf("exactly one Sec-WebSocket-Key required, got %d", len(keys)))
	}
	key = strings.TrimSpace(keys[0])
	if b, err := base64.StdEncoding.Strict().DecodeString(key); err != nil || len(b) != 16 {
		return bad("Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return key, nil
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
