package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func parked(stop chan struct{}) { <-stop }

func TestWaitReportsAndClears(t *testing.T) {
	stop := make(chan struct{})
	go parked(stop)
	leaked := Wait(100 * time.Millisecond)
	if !strings.Contains(leaked, "leakcheck.parked") {
		t.Fatalf("a parked goroutine was not reported; got:\n%s", leaked)
	}
	close(stop)
	if leaked := Wait(2 * time.Second); leaked != "" {
		t.Fatalf("goroutines reported after they ended:\n%s", leaked)
	}
}
