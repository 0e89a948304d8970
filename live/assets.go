package live

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

//go:embed static
var static embed.FS

// ClientFS returns Parley's own browser files, embedded in the binary:
//
//	live.js      the bootstrap: starts the phoenix_live_view client on the
//	             page's socket, with the hooks of window.ParleyHooks
//	live.css     DefaultLayout's styles (the "Reconnecting…" notice)
//	favicon.svg  DefaultLayout's icon
//
// The root package's Endpoint serves them at /assets/parley/ (see
// Endpoint.ServeClientAssets), beside the phoenix and phoenix_live_view npm
// packages' browser builds, which live.js imports from /assets/phoenix/ and
// /assets/phoenix_live_view/.
func ClientFS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// The embedded tree always has "static"; this cannot happen.
		panic(err)
	}
	return sub
}

// AssetsPrefix is where the Endpoint serves [ClientFS].
const AssetsPrefix = "/assets/parley/"

// assetURL returns AssetsPrefix+name with a content-hash query (?v=...), so
// that the Endpoint may let browsers cache it for good.
func assetURL(name string) string {
	b, err := fs.ReadFile(ClientFS(), name)
	if err != nil {
		return AssetsPrefix + name
	}
	return AssetsPrefix + name + "?v=" + ContentHash(b)
}

// ContentHash is the version of an asset's content used in ?v= queries and
// ETags: the first 12 hex digits of its SHA-256.
func ContentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}
