package parley

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/parley-go/parley/live"
)

// Client asset roots: where [Endpoint.ServeClientAssets] serves Parley's
// bootstrap and the npm packages' browser builds.
const (
	AssetsParley          = live.AssetsPrefix
	AssetsPhoenix         = "/assets/phoenix/"
	AssetsPhoenixLiveView = "/assets/phoenix_live_view/"
)

// ErrNoNodeModules is returned (wrapped, with the fix) when the phoenix
// client packages are not found.
var ErrNoNodeModules = errors.New("parley: no node_modules with the phoenix and phoenix_live_view packages")

// FindNodeModules returns the first node_modules directory in dir or above
// it that holds the browser builds of both the phoenix and the
// phoenix_live_view npm packages (dir "" is the working directory).
func FindNodeModules(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("parley: %w", err)
		}
		dir = wd
	}
	start, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("parley: %w", err)
	}
	for d := start; ; {
		nm := filepath.Join(d, "node_modules")
		if checkNodeModules(nm) == nil {
			return nm, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%w in %s or above: run `npm install phoenix@1.8 phoenix_live_view@1.2` in your module, "+
				"or set parley.Config.NodeModules (or parley.Config.BundledClient if you bundle your own JS)", ErrNoNodeModules, start)
		}
		d = parent
	}
}

// checkNodeModules tells whether nm holds both client packages.
func checkNodeModules(nm string) error {
	for _, f := range []string{"phoenix/priv/static/phoenix.mjs", "phoenix_live_view/priv/static/phoenix_live_view.esm.js"} {
		if _, err := os.Stat(filepath.Join(nm, filepath.FromSlash(f))); err != nil {
			return fmt.Errorf("%w: %s lacks %s: run `npm install phoenix@1.8 phoenix_live_view@1.2`", ErrNoNodeModules, nm, f)
		}
	}
	return nil
}

// ServeClientAssets mounts what a LiveView or channel page loads:
// Parley's embedded bootstrap ([live.ClientFS]) at /assets/parley/, and,
// unless Config.BundledClient is set, the browser builds of the phoenix
// and phoenix_live_view npm packages (their priv/static directories in
// Config.NodeModules) at /assets/phoenix/ and /assets/phoenix_live_view/.
// [Endpoint.Live] calls it; call it yourself for channel-only pages. It
// mounts once; later calls return the first call's result.
//
// The files are read into memory once. Directories (and anything but a
// regular file) answer 404: no listings. Every file carries an ETag of its
// content hash; a request whose ?v= query is that hash (as DefaultLayout's
// script URLs are) may be cached for a year.
func (e *Endpoint) ServeClientAssets() error {
	e.assetsOnce.Do(func() { e.assetsErr = e.serveClientAssets() })
	return e.assetsErr
}

func (e *Endpoint) serveClientAssets() error {
	own, err := live.StaticFiles(live.ClientFS())
	if err != nil {
		return fmt.Errorf("parley: client assets: %w", err)
	}
	if err := e.Handle("GET "+AssetsParley, http.StripPrefix(AssetsParley, own)); err != nil {
		return err
	}
	if e.cfg.BundledClient {
		return nil
	}
	nm := e.cfg.NodeModules
	if nm == "" {
		if nm, err = FindNodeModules(""); err != nil {
			return err
		}
	} else if err := checkNodeModules(nm); err != nil {
		return err
	}
	for prefix, pkg := range map[string]string{AssetsPhoenix: "phoenix", AssetsPhoenixLiveView: "phoenix_live_view"} {
		files, err := live.StaticFiles(os.DirFS(filepath.Join(nm, pkg, "priv", "static")))
		if err != nil {
			return fmt.Errorf("parley: %s assets: %w", pkg, err)
		}
		if err := e.Handle("GET "+prefix, http.StripPrefix(prefix, files)); err != nil {
			return err
		}
	}
	e.cfg.Logger.Debug("parley: serving client assets", "node_modules", nm)
	return nil
}
