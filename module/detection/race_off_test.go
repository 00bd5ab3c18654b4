//go:build !race

package detection

const raceEnabled = false
