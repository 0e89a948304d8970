package demo

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-go/parley/live"
)

// SecretFileName is the file under the data directory where the demo
// keeps the secret key base it generated on its first start.
const SecretFileName = "secret_key_base"

// resolveSecret picks the secret key base: Config.SecretKeyBase, else
// Config.SecretFile, else PARLEY_SECRET_KEY_BASE (left to live.New), else
// the data directory's secret file, generated on first start. Without a
// data directory, live.New's random secret and warning remain.
func resolveSecret(cfg *Config) ([]string, error) {
	switch {
	case len(cfg.SecretKeyBase) > 0:
		return cfg.SecretKeyBase, nil
	case cfg.SecretFile != "":
		secrets, err := readSecretFile(cfg.SecretFile)
		if err != nil {
			return nil, err
		}
		cfg.Logger.Info("demo: secret key base from -secret-file", "path", cfg.SecretFile)
		return secrets, nil
	case os.Getenv(live.EnvSecretKeyBase) != "":
		cfg.Logger.Info("demo: secret key base from " + live.EnvSecretKeyBase)
		return nil, nil
	case cfg.DataDir == "":
		return nil, nil
	}
	path := filepath.Join(cfg.DataDir, SecretFileName)
	secrets, err := readSecretFile(path)
	if err == nil {
		cfg.Logger.Info("demo: secret key base from the data directory", "path", path)
		return secrets, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	secret := live.GenerateSecretKeyBase()
	// O_EXCL: two nodes started at once on one data directory agree on
	// the first one's secret instead of overwriting it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecretFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("demo: secret key base: %w", err)
	}
	_, werr := f.WriteString(secret + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("demo: secret key base: %w", err)
	}
	cfg.Logger.Info("demo: generated a secret key base; restarts with this data directory keep pages alive", "path", path)
	return []string{secret}, nil
}

// readSecretFile reads secrets from a file: one a line (or
// comma-separated), the first signing.
func readSecretFile(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: secret file: %w", err)
	}
	secrets := live.ParseSecretKeyBase(string(raw))
	if len(secrets) == 0 {
		return nil, fmt.Errorf("demo: secret file %s is empty", path)
	}
	for _, s := range secrets {
		if len(strings.TrimSpace(s)) < live.MinSecretLen {
			return nil, fmt.Errorf("demo: secret file %s: %w", path, live.ErrSecretTooShort)
		}
	}
	return secrets, nil
}

// appKey derives an app's own signing key (its login cookies) from the
// secret key base, so a restart with the same secret keeps users logged
// in. Without a secret of the demo's own, PARLEY_SECRET_KEY_BASE; with
// neither, nil (the app picks a random key).
func appKey(secrets []string, label string) []byte {
	if len(secrets) == 0 {
		secrets = live.ParseSecretKeyBase(os.Getenv(live.EnvSecretKeyBase))
	}
	if len(secrets) == 0 {
		return nil
	}
	h := hmac.New(sha256.New, []byte(secrets[0]))
	h.Write([]byte("parley demo app key: " + label))
	return h.Sum(nil)
}
