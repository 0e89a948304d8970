package presence_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley-go/parley/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wireMeta is a meta as the client sees it.
type wireMeta struct {
	Ref    string `json:"phx_ref"`
	Prev   string `json:"phx_ref_prev"`
	Device string `json:"device"`
	Status string `json:"status"`
}

type wirePresence struct {
	Metas []wireMeta `json:"metas"`
}

type wireDiff struct {
	Joins  map[string]wirePresence `json:"joins"`
	Leaves map[string]wirePresence `json:"leaves"`
}

func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}
