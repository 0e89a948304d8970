package live_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-go/parley/channel"
	"github.com/parley-go/parley/channeltest"
	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/livetest"
)

func secretServer(t *testing.T, secrets ...string) *live.Server {
	t.Helper()
	l, err := live.New(live.Config{SecretKeyBase: secrets})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Handle("/counter", func() live.View { return &counter{} }); err != nil {
		t.Fatal(err)
	}
	return l
}

// joinAcross dead-renders /counter on page and joins it on node, as a
// browser does when a load balancer sends the socket to another node (or
// the page outlived a restart).
func joinAcross(t *testing.T, page, node *live.Server) *channeltest.Reply {
	t.Helper()
	resp := livetest.DeadRender(t, page, "/counter")
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	html := string(raw)
	m := regexp.MustCompile(`id="([^"]+)" data-phx-main data-phx-session="([^"]*)" data-phx-static="([^"]*)"`).FindStringSubmatch(html)
	c := regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)"`).FindStringSubmatch(html)
	if m == nil || c == nil {
		t.Fatalf("no container or CSRF token in %s", html)
	}
	header := http.Header{}
	for _, ck := range resp.Cookies() {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	router := &channel.Router{}
	node.Register(router)
	srv, err := channel.NewServer(channel.Config{Router: router, Connect: node.Connect, PubSub: node.PubSub()})
	if err != nil {
		t.Fatal(err)
	}
	client, err := channeltest.DialInfo(t.Context(), srv, &channel.ConnectInfo{Params: url.Values{"_csrf_token": {c[1]}}, Header: header})
	if err != nil {
		t.Fatalf("the socket was refused: %v", err)
	}
	t.Cleanup(client.Close)
	return client.Join(t, "lv:"+m[1], map[string]any{"url": "http://parley.test/counter", "session": m[2], "static": m[3], "params": map[string]any{}}).Reply
}

// TestSecretKeyBase: nodes (or restarts) with one secret accept each
// other's pages; another secret makes the join stale (the page reloads);
// rotation verifies old pages while signing with the new secret.
func TestSecretKeyBase(t *testing.T) {
	oldSecret, newSecret := live.GenerateSecretKeyBase(), live.GenerateSecretKeyBase()
	if len(oldSecret) != 64 || oldSecret == newSecret {
		t.Fatalf("generated %q and %q", oldSecret, newSecret)
	}
	a, b := secretServer(t, oldSecret), secretServer(t, oldSecret)
	if r := joinAcross(t, a, b); r.Status != "ok" {
		t.Fatalf("shared secret: %s %s", r.Status, r.Response)
	}
	other := secretServer(t, newSecret)
	wantStale(t, "another secret", joinAcross(t, a, other))

	rotated := secretServer(t, newSecret, oldSecret)
	if r := joinAcross(t, a, rotated); r.Status != "ok" {
		t.Fatalf("old page on the rotated node: %s %s", r.Status, r.Response)
	}
	if r := joinAcross(t, rotated, other); r.Status != "ok" {
		t.Fatalf("the rotated node signs with the new secret: %s %s", r.Status, r.Response)
	}
	wantStale(t, "a rotated node's page on an old node", joinAcross(t, rotated, a))
}

// TestSecretKeyBaseEnv: with no Config.SecretKeyBase, New reads
// PARLEY_SECRET_KEY_BASE (comma-separated); bad secrets are errors.
func TestSecretKeyBaseEnv(t *testing.T) {
	s1, s2 := live.GenerateSecretKeyBase(), live.GenerateSecretKeyBase()
	t.Setenv(live.EnvSecretKeyBase, " "+s2+" , "+s1+" ")
	a, b := secretServer(t), secretServer(t, s1)
	if r := joinAcross(t, b, a); r.Status != "ok" {
		t.Fatalf("env's second secret verifies: %s %s", r.Status, r.Response)
	}
	if r := joinAcross(t, a, secretServer(t, s2)); r.Status != "ok" {
		t.Fatalf("env's first secret signs: %s %s", r.Status, r.Response)
	}
	if got := live.ParseSecretKeyBase("a,\nb\r\n,, c "); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("ParseSecretKeyBase: %q", got)
	}
	for _, bad := range [][]string{{"short"}, {s1, strings.Repeat("x", 31)}} {
		if _, err := live.New(live.Config{SecretKeyBase: bad}); !errors.Is(err, live.ErrSecretTooShort) {
			t.Errorf("SecretKeyBase %q: %v", bad, err)
		}
	}
	t.Setenv(live.EnvSecretKeyBase, "too-short")
	if _, err := live.New(live.Config{}); !errors.Is(err, live.ErrSecretTooShort) {
		t.Errorf("short env secret: %v", err)
	}
}
