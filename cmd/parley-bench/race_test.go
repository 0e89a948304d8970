//go:build race

package main

// raceEnabled: the tests run under -race, so TestLiveSmoke builds the
// tool with -race too and a data race in its client fails the test.
const raceEnabled = true
