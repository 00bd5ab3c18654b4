package ecs

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestAppendTime holds appendTime to time.RFC3339Nano: edges of days,
// months, leap years and the fast range, fractions with trailing zeros,
// other zones, and a spread of random instants.
func TestAppendTime(t *testing.T) {
	times := []time.Time{
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(-1, 0),
		time.Unix(maxFastUnix-1, 999999999),
		time.Unix(maxFastUnix, 0),
		time.Date(2000, 2, 29, 23, 59, 59, 100000000, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 120, time.UTC),
		time.Date(2024, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 27, 14, 16, 14, 500, time.FixedZone("x", -5*3600-30*60)),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		times = append(times, time.Unix(r.Int64N(maxFastUnix+86400), r.Int64N(1e9)))
		times = append(times, time.Unix(r.Int64N(maxFastUnix), r.Int64N(1000)*1e6)) // milliseconds
	}
	for _, tm := range times {
		want := tm.UTC().Format(time.RFC3339Nano)
		if got := string(appendTime(nil, tm)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	if allocs := testing.AllocsPerRun(10, func() { appendTime(make([]byte, 0, 64)[:0], time.Now()) }); allocs > 1 {
		t.Errorf("appendTime allocates %v times", allocs)
	}
}

func BenchmarkAppendTime(b *testing.B) {
	buf := make([]byte, 0, 64)
	t := time.Now()
	b.Run("appendTime", func(b *testing.B) {
		for b.Loop() {
			buf = appendTime(buf[:0], t)
		}
	})
	b.Run("AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = t.UTC().AppendFormat(buf[:0], time.RFC3339Nano)
		}
	})
}

// FuzzAppendTime holds appendTime to time.RFC3339Nano for any instant.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(maxFastUnix-1), int64(999999999))
	f.Add(int64(951868799), int64(100000000))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec)
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(time.RFC3339Nano); got != want {
			t.Fatalf("appendTime(%d, %d) = %s, want %s", sec, nsec, got, want)
		}
	})
}
