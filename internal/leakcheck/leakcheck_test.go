package leakcheck

import (
	"net"
	"net/http"
	"net/http/httptest"
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

// TestWaitReportsNetworkRead leaves a server running that holds a
// connection open: its accept loop and the goroutine serving the
// connection block in network reads, with no frame of this module on their
// stacks. Wait must report them, and nothing once the server is closed.
func TestWaitReportsNetworkRead(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	nc, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A request line without its end: the serving goroutine waits for the
	// rest in a read.
	if _, err := nc.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	leaked := Wait(200 * time.Millisecond)
	for _, want := range []string{"net/http.(*Server).Serve", "net/http.(*conn).serve", "internal/poll.runtime_pollWait"} {
		if !strings.Contains(leaked, want) {
			t.Errorf("an open server's %s was not reported; got:\n%s", want, leaked)
		}
	}
	hs.CloseClientConnections()
	hs.Close()
	if leaked := Wait(2 * time.Second); leaked != "" {
		t.Fatalf("goroutines reported after the server closed:\n%s", leaked)
	}
}
