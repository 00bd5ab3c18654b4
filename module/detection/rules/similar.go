package rules

import (
	"sort"

	"github.com/spawnbeat/spawnbeat/module/detection/engine"
)

// maxSimilar bounds the suggestions for one misspelt field.
const maxSimilar = 3

// similarFields returns the fields spawnbeat fills whose names are closest
// to name, at most two edits away (one for names under eight bytes), where
// swapping two neighbouring characters is one edit: the likely meaning of
// a misspelling, as Elasticsearch's "Unknown column [x], did you mean
// [y]?" offers. Only the closest are returned, sorted, at most maxSimilar.
func similarFields(name string) []string {
	limit := 2
	if len(name) < 8 {
		limit = 1
	}
	best := limit
	var out []string
	for _, f := range engine.ECSFields() {
		// Exact up to best; anything farther is no candidate.
		switch d := editDistance(name, f, best+1); {
		case d < best:
			best, out = d, append(out[:0], f)
		case d == best:
			out = append(out, f)
		}
	}
	sort.Strings(out)
	if len(out) > maxSimilar {
		out = out[:maxSimilar]
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and swaps of neighbours, in bytes),
// or any value >= limit once it must reach limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	// Three rows of the dynamic programme: two back, one back, this one.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
