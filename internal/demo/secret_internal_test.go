package demo

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-go/parley/live"
)

// TestResolveSecret: the demo generates a secret into the data directory
// once and reads it back on every later start; -secret-file and the
// environment come first; bad files are clear errors.
func TestResolveSecret(t *testing.T) {
	t.Setenv(live.EnvSecretKeyBase, "")
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	first, err := resolveSecret(&Config{DataDir: dir, Logger: log})
	if err != nil || len(first) != 1 || len(first[0]) < live.MinSecretLen {
		t.Fatalf("first start: %q %v", first, err)
	}
	info, err := os.Stat(filepath.Join(dir, SecretFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}
	again, err := resolveSecret(&Config{DataDir: dir, Logger: log})
	if err != nil || !slices.Equal(first, again) {
		t.Fatalf("restart: %q %v, want %q", again, err, first)
	}
	if other, _ := resolveSecret(&Config{DataDir: t.TempDir(), Logger: log}); slices.Equal(other, first) {
		t.Fatal("two data directories generated one secret")
	}

	file := filepath.Join(t.TempDir(), "secret")
	s1, s2 := live.GenerateSecretKeyBase(), live.GenerateSecretKeyBase()
	if err := os.WriteFile(file, []byte(s1+"\n"+s2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := resolveSecret(&Config{DataDir: dir, SecretFile: file, Logger: log})
	if err != nil || !slices.Equal(got, []string{s1, s2}) {
		t.Fatalf("-secret-file: %q %v", got, err)
	}
	if err := os.WriteFile(file, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveSecret(&Config{SecretFile: file, Logger: log}); !errors.Is(err, live.ErrSecretTooShort) {
		t.Errorf("short secret file: %v", err)
	}
	if _, err := resolveSecret(&Config{SecretFile: filepath.Join(dir, "missing"), Logger: log}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing secret file: %v", err)
	}
	t.Setenv(live.EnvSecretKeyBase, s2)
	if got, err := resolveSecret(&Config{DataDir: dir, Logger: log}); err != nil || got != nil {
		t.Errorf("env: %q %v, want nil (live.New reads the environment)", got, err)
	}
}
