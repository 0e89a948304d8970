package live

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
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

// assetFiles serves the regular files of a tree, held in memory.
type assetFiles map[string]*assetFile

type assetFile struct {
	body    []byte
	etag    string
	version string
	ctype   string
	mod     time.Time
}

// StaticFiles returns a handler of the regular files of fsys, read into
// memory once (keep the tree small: browser assets). A request names a
// file by its slash-separated path relative to fsys's root (mount it with
// http.StripPrefix); directories, and anything but a regular file, answer
// 404: no listings. Every file carries an ETag of its [ContentHash]; a
// request whose ?v= query is that hash may be cached for a year
// (immutable), any other must revalidate. The Endpoint serves Parley's and
// the npm packages' client files with it; apps may serve theirs too.
func StaticFiles(fsys fs.FS) (http.Handler, error) {
	files, err := loadAssets(fsys)
	if err != nil {
		return nil, fmt.Errorf("live: static files: %w", err)
	}
	return files, nil
}

// loadAssets reads every regular file of fsys.
func loadAssets(fsys fs.FS) (assetFiles, error) {
	files := assetFiles{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var mod time.Time
		if info, err := d.Info(); err == nil {
			mod = info.ModTime()
		}
		v := ContentHash(body)
		files[p] = &assetFile{body: body, version: v, etag: `"` + v + `"`, ctype: assetType(p), mod: mod}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

func assetType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".map":
		return "application/json"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (a assetFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	if r.URL.Query().Get("v") == f.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	http.ServeContent(w, r, "", f.mod, bytes.NewReader(f.body))
}
