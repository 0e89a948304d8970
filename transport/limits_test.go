package transport_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley-go/parley/transport"
)

func TestConnLimiter(t *testing.T) {
	l := transport.NewConnLimiter(3)
	if l.Max() != 3 {
		t.Fatalf("Max %d, want 3", l.Max())
	}
	// Concurrent acquires from one address: exactly Max succeed, whatever
	// the port.
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if l.Acquire(fmt.Sprintf("10.0.0.1:%d", 1000+i)) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 || l.Open("10.0.0.1:1") != 3 {
		t.Fatalf("%d acquired, %d open; want 3 and 3", ok.Load(), l.Open("10.0.0.1:1"))
	}
	// Another address, IPv6 included, has its own count.
	if !l.Acquire("[2001:db8::1]:443") || !l.Acquire("10.0.0.2:5") {
		t.Fatal("another address refused")
	}
	if got := l.Open("[2001:db8::1]:9"); got != 1 {
		t.Fatalf("IPv6 address open %d, want 1", got)
	}
	// A release frees one slot; releasing down to zero forgets the address.
	l.Release("10.0.0.1:1000")
	if !l.Acquire("10.0.0.1:2000") || l.Acquire("10.0.0.1:2001") {
		t.Fatal("after one release, want exactly one more acquire")
	}
	for range 3 {
		l.Release("10.0.0.1:1")
	}
	if got := l.Open("10.0.0.1:1"); got != 0 {
		t.Fatalf("open after releasing all: %d", got)
	}
	l.Release("10.0.0.1:1") // an extra release does not go negative
	for range 3 {
		if !l.Acquire("10.0.0.1:3000") {
			t.Fatal("refused under the limit after an extra release")
		}
	}
	if l.Acquire("10.0.0.1:3000") {
		t.Fatal("allowed over the limit after an extra release")
	}
}

func TestConnLimiterOff(t *testing.T) {
	l := transport.NewConnLimiter(0)
	if l != nil {
		t.Fatal("NewConnLimiter(0) is not nil")
	}
	for range 1000 {
		if !l.Acquire("10.0.0.1:1") {
			t.Fatal("a nil limiter refused")
		}
	}
	l.Release("10.0.0.1:1")
	if l.Max() != 0 || l.Open("10.0.0.1:1") != 0 {
		t.Fatal("a nil limiter counts")
	}
}

func ExampleConnLimiter() {
	l := transport.NewConnLimiter(2)
	fmt.Println(l.Acquire("192.0.2.7:50001"), l.Acquire("192.0.2.7:50002"), l.Acquire("192.0.2.7:50003"))
	l.Release("192.0.2.7:50001")
	fmt.Println(l.Acquire("192.0.2.7:50004"), l.Acquire("198.51.100.1:40000"))
	// Output:
	// true true false
	// true true
}
