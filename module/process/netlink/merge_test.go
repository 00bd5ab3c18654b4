package netlink

import (
	"slices"
	"testing"
)

// TestMergeBefore checks the merge of the exec socket's and the side
// socket's events: by timestamp, a side event first on a tie (a fork
// before its child's exec), and what is not older than the cutoff held
// back in each list's own order.
func TestMergeBefore(t *testing.T) {
	ev := func(what What, pid int, ts uint64) Event { return Event{What: what, TGID: pid, Timestamp: ts} }
	polled := []Event{ev(WhatExec, 2, 20), ev(WhatExec, 3, 30), ev(WhatExec, 5, 50), ev(WhatExec, 4, 45)}
	side := []Event{ev(WhatFork, 2, 10), ev(WhatFork, 3, 30), ev(WhatExit, 2, 40), ev(WhatExit, 3, 60), ev(WhatFork, 5, 48)}
	stamps := func(evs []Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Timestamp)
		}
		return out
	}
	for _, tc := range []struct {
		name                 string
		cutoff               uint64
		merged, pRest, sRest []uint64
	}{
		{"all older", 100, []uint64{10, 20, 30, 30, 40, 50, 45, 60, 48}, nil, nil},
		{"cut at 46", 46, []uint64{10, 20, 30, 30, 40, 45}, []uint64{50}, []uint64{60, 48}},
		{"nothing older", 5, nil, []uint64{20, 30, 50, 45}, []uint64{10, 30, 40, 60, 48}},
	} {
		merged, pRest, sRest := mergeBefore(tc.cutoff, polled, side, nil, nil, nil)
		if got := stamps(merged); !slices.Equal(got, tc.merged) {
			t.Errorf("%s: merged %v, want %v", tc.name, got, tc.merged)
		}
		if got := stamps(pRest); !slices.Equal(got, tc.pRest) {
			t.Errorf("%s: exec socket's rest %v, want %v", tc.name, got, tc.pRest)
		}
		if got := stamps(sRest); !slices.Equal(got, tc.sRest) {
			t.Errorf("%s: side socket's rest %v, want %v", tc.name, got, tc.sRest)
		}
	}
	// On a tie the fork comes first.
	merged, _, _ := mergeBefore(100, polled[1:2], side[1:2], nil, nil, nil)
	if merged[0].What != WhatFork || merged[1].What != WhatExec {
		t.Errorf("tie at 30: %v then %v, want the fork first", merged[0].What, merged[1].What)
	}
}
