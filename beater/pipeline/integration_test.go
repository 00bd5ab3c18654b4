package pipeline

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spawnbeat/spawnbeat/config/bytesize"
	"github.com/spawnbeat/spawnbeat/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestIntegrationDiskFull puts events into a disk queue on a tiny tmpfs,
// far below max_size, until the file system is full: Put must fail with
// ENOSPC, counted, without leaving a torn record, and every event it did
// accept must come back; once acknowledgements free segments, Put works
// again.
func TestIntegrationDiskFull(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name        string
		segmentSize bytesize.Size
	}{
		{name: "many segments fit", segmentSize: 16 << 10},
		// One segment could outgrow the file system: its space can only be
		// reused by deleting it before its successor exists.
		{name: "segment larger than the file system", segmentSize: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testDiskFull(t, tt.segmentSize) })
	}
	t.Run("TryPut", testDiskFullTryPut)
}

// mountTiny mounts a 128 KiB tmpfs on a temporary directory.
func mountTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=128k,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// testDiskFullTryPut fills the file system with TryPut, the capture's call,
// which accepts events before the writer finds out that they do not fit:
// those are counted as rejected, the rest come back in order, nothing is
// torn, and once everything is acknowledged TryPut works again.
func testDiskFullTryPut(t *testing.T) {
	cfg := diskConfig(mountTiny(t))
	cfg.SegmentSize = 16 << 10
	cfg.MaxSize = 4 << 20
	q, err := OpenDisk(cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close() }()
	fill := func(from int) (accepted []Event) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for i := from; q.Stats().Rejected == 0; i++ {
			if time.Now().After(deadline) {
				t.Fatal("no write failed on a full 128 KiB file system")
			}
			ev := bigEvent(i, 480)
			if q.TryPut(ev) {
				accepted = append(accepted, ev)
			}
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // let the writer run
			}
		}
		return accepted
	}
	accepted := fill(0)
	flushNow(q)
	st := q.Stats()
	written := len(accepted) - int(st.Rejected)
	if st.EventsIn != uint64(written) || st.Events != int64(written) || written <= 0 {
		t.Fatalf("Stats() = %+v after %d accepted: want the rejected ones taken out", st, len(accepted))
	}
	got := drain(t, q, 50)
	if diff := cmp.Diff(ids(accepted[:written]), ids(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := q.Stats(); st.TornSkipped != 0 {
		t.Errorf("TornSkipped = %d: a failed write left a torn record", st.TornSkipped)
	}
	// Everything acknowledged: the segments are recycled and there is room.
	more := 0
	for i := range 20 {
		if q.TryPut(bigEvent(100000+i, 480)) {
			more++
		}
	}
	flushNow(q)
	if st := q.Stats(); st.Events != int64(more) || more == 0 {
		t.Errorf("after acknowledging all: %d accepted, Stats() = %+v; want them all in the file", more, st)
	}
}

func testDiskFull(t *testing.T, segmentSize bytesize.Size) {
	cfg := diskConfig(mountTiny(t))
	cfg.SegmentSize = segmentSize
	cfg.MaxSize = 4 << 20 // well above what the file system holds
	q, err := OpenDisk(cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = q.Close() }()

	fill := func(from int) []Event {
		t.Helper()
		var accepted []Event
		for i := from; i < from+10000; i++ {
			ev := bigEvent(i, 480)
			err := q.Put(context.Background(), ev)
			if errors.Is(err, syscall.ENOSPC) {
				return accepted
			}
			if err != nil {
				t.Fatalf("Put = %v, want nil or ENOSPC", err)
			}
			accepted = append(accepted, ev)
		}
		t.Fatal("10000 events fit in a 128 KiB file system")
		return nil
	}
	accepted := fill(0)
	if st := q.Stats(); st.Rejected != 1 || st.EventsIn != uint64(len(accepted)) {
		t.Errorf("Stats() = %+v, want 1 rejected and %d in", st, len(accepted))
	}
	half := len(accepted) / 2
	got := drainN(t, q, half)
	if _, err := q.Get(context.Background(), 1, 1, 0); err != nil { // one handed out, then abandoned
		t.Fatal(err)
	}
	q.Rewind()
	if segmentSize < 64<<10 {
		// Acknowledged sealed segments are gone: there is room again.
		more := fill(len(accepted))
		if len(more) == 0 {
			t.Fatal("no Put succeeded after acknowledgements freed segments")
		}
		accepted = append(accepted, more...)
	}
	got = append(got, drain(t, q, 50)...)
	if diff := cmp.Diff(ids(accepted), ids(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := q.Stats(); st.TornSkipped != 0 {
		t.Errorf("TornSkipped = %d: a failed write left a torn record", st.TornSkipped)
	}

	// With everything acknowledged, even the segment being written is
	// recycled. Segment boundaries fall differently on the second filling,
	// so allow some slack; without recycling not one Put would succeed.
	if more := fill(0); len(more) < len(accepted)/4 {
		t.Errorf("after acknowledging all, only %d Puts succeeded (first filling %d)", len(more), len(accepted))
	}
}

// drainN takes and acknowledges n events from q.
func drainN(t *testing.T, q Queue, n int) []Event {
	t.Helper()
	var got []Event
	for len(got) < n {
		b, err := q.Get(context.Background(), 1, n-len(got), 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cloneEvents(b.Events)...)
		if err := q.Ack(b); err != nil {
			t.Fatal(err)
		}
	}
	return got
}
