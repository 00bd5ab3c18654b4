//go:build race

package detection

// raceEnabled: the race detector changes escape analysis, so allocation
// counts are only meaningful without it.
const raceEnabled = true
