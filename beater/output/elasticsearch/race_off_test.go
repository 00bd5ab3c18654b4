//go:build !race

package elasticsearch

// raceEnabled shrinks the largest delivery test: the race detector slows
// the in-process test server about tenfold.
const raceEnabled = false
