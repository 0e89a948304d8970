//go:build race

package soak

// raceEnabled: the race detector's shadow memory grows with the heap and is
// not returned to the OS, so RSS is only reported, not checked, under -race.
const raceEnabled = true
