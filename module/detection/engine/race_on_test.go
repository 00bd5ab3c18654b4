//go:build race

package engine_test

// raceEnabled: the race detector changes escape analysis, so allocation
// counts are only meaningful without it.
const raceEnabled = true
