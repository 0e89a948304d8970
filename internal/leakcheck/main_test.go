package leakcheck

import "testing"

// TestMain holds leakcheck's own tests to the rule they check: each one
// ends the goroutines and servers it starts.
func TestMain(m *testing.M) { Main(m) }
