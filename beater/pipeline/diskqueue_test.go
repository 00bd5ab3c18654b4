package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spawnbeat/spawnbeat/config/bytesize"
)

func diskConfig(dir string) DiskConfig {
	cfg := DefaultDiskConfig()
	cfg.Path = dir
	cfg.Fsync = FsyncNever // tests simulate crashes, not power loss
	return cfg
}

func openDisk(t testing.TB, cfg DiskConfig) *DiskQueue {
	t.Helper()
	q, err := OpenDisk(cfg, "", nil)
	if err != nil {
		t.Fatalf("OpenDisk(%s) = %v", cfg.Path, err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, f := range segFiles(t, dir) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

func TestDiskQueueReopen(t *testing.T) {
	tests := []struct {
		name        string
		fsync       string
		segmentSize bytesize.Size
		n, acked    int
		batch       int
	}{
		{name: "one segment", fsync: FsyncNever, segmentSize: DefaultSegmentSize, n: 100, acked: 50, batch: 7},
		{name: "many segments", fsync: FsyncNever, segmentSize: MinSegmentSize, n: 400, acked: 200, batch: 16},
		{name: "fsync always", fsync: FsyncAlways, segmentSize: MinSegmentSize, n: 60, acked: 30, batch: 10},
		{name: "fsync interval", fsync: FsyncInterval, segmentSize: MinSegmentSize, n: 60, acked: 31, batch: 1},
		{name: "nothing acked", fsync: FsyncNever, segmentSize: MinSegmentSize, n: 60, acked: 0, batch: 10},
		{name: "everything acked", fsync: FsyncNever, segmentSize: MinSegmentSize, n: 60, acked: 60, batch: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := diskConfig(t.TempDir())
			cfg.Fsync, cfg.SegmentSize, cfg.FsyncInterval = tt.fsync, tt.segmentSize, 10*time.Millisecond
			want := testEvents(0, tt.n)
			q := openDisk(t, cfg)
			putAll(t, q, want)
			var first []Event
			for len(first) < tt.acked {
				b, err := q.Get(context.Background(), 1, min(tt.batch, tt.acked-len(first)), 0)
				if err != nil {
					t.Fatalf("Get() = %v", err)
				}
				first = append(first, cloneEvents(b.Events)...)
				if err := q.Ack(b); err != nil {
					t.Fatalf("Ack() = %v", err)
				}
			}
			// A batch handed out but not acknowledged must come back.
			if tt.acked < tt.n {
				if _, err := q.Get(context.Background(), 1, 3, 0); err != nil {
					t.Fatalf("Get() = %v", err)
				}
			}
			if diff := cmp.Diff(want[:tt.acked], first, cmpEmpty); diff != "" {
				t.Fatalf("first run (-want +got):\n%s", diff)
			}
			if st := q.Stats(); tt.fsync != FsyncNever && st.Fsyncs == 0 && tt.fsync == FsyncAlways {
				t.Errorf("Fsyncs = 0 with fsync %q", tt.fsync)
			}
			if err := q.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}

			q2 := openDisk(t, cfg)
			if st := q2.Stats(); st.Events != int64(tt.n-tt.acked) {
				t.Errorf("Stats().Events after reopen = %d, want %d", st.Events, tt.n-tt.acked)
			}
			got := drain(t, q2, tt.batch)
			if diff := cmp.Diff(want[tt.acked:], got, cmpEmpty); diff != "" {
				t.Errorf("after reopen (-want +got):\n%s", diff)
			}
			if st := q2.Stats(); st.TornSkipped != 0 || st.Events != 0 || st.Bytes != 0 {
				t.Errorf("Stats() after draining = %+v, want no torn records, empty", st)
			}
		})
	}
}

// cmpEmpty makes a nil and an empty event list equal.
var cmpEmpty = cmp.FilterValues(func(a, b []Event) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

func TestDiskQueueLocked(t *testing.T) {
	cfg := diskConfig(t.TempDir())
	openDisk(t, cfg)
	if _, err := OpenDisk(cfg, "", nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenDisk of the same directory = %v, want ErrLocked", err)
	}
}

func TestDiskQueuePath(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name, path, dataDir, want string
		wantErr                   error
	}{
		{name: "default under path.data", dataDir: data, want: filepath.Join(data, DefaultDiskDirName)},
		{name: "default under path.data with slash", dataDir: data + "/", want: filepath.Join(data, DefaultDiskDirName)},
		{name: "explicit path wins", path: filepath.Join(data, "q"), dataDir: "/nonexistent", want: filepath.Join(data, "q")},
		{name: "neither", wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := diskConfig(tt.path)
			q, err := OpenDisk(cfg, tt.dataDir, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenDisk() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer func() { _ = q.Close() }()
			if q.Path() != tt.want {
				t.Errorf("Path() = %q, want %q", q.Path(), tt.want)
			}
			if _, err := os.Stat(filepath.Join(tt.want, lockFileName)); err != nil {
				t.Errorf("lock file: %v", err)
			}
		})
	}
}

func TestDiskQueueSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	evs := make([]Event, 80)
	for i := range evs {
		evs[i] = Event{ID: testEvent(i).ID, Body: []byte(strings.Repeat("b", 480))}
	}
	putAll(t, q, evs)
	segs := len(segFiles(t, dir))
	// About 8 records of ~500 bytes fit in a 4 KiB segment.
	if segs < 9 || segs > 12 {
		t.Fatalf("%d segment files for 80 records of ~500 bytes in 4 KiB segments, want about 10", segs)
	}
	if st := q.Stats(); st.DiskBytes != diskUsage(t, dir) {
		t.Errorf("Stats().DiskBytes = %d, files hold %d", st.DiskBytes, diskUsage(t, dir))
	}
	prev := segs
	var got []Event
	for q.Stats().Events > 0 {
		b, err := q.Get(context.Background(), 1, 5, 0)
		if err != nil {
			t.Fatalf("Get() = %v", err)
		}
		got = append(got, cloneEvents(b.Events)...)
		if err := q.Ack(b); err != nil {
			t.Fatalf("Ack() = %v", err)
		}
		n := len(segFiles(t, dir))
		if n > prev {
			t.Fatalf("segment files grew from %d to %d while only acknowledging", prev, n)
		}
		prev = n
		if st := q.Stats(); st.DiskBytes != diskUsage(t, dir) {
			t.Fatalf("Stats().DiskBytes = %d, files hold %d", st.DiskBytes, diskUsage(t, dir))
		}
	}
	if diff := cmp.Diff(evs, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := len(segFiles(t, dir)); n != 1 {
		t.Errorf("%d segment files after acknowledging everything, want 1 (the one being written)", n)
	}
	// The segment being written is freed by the next roll once fully acked.
	putAll(t, q, evs[:20])
	got = drain(t, q, 100)
	if diff := cmp.Diff(evs[:20], got); diff != "" {
		t.Errorf("second round (-want +got):\n%s", diff)
	}
	if n := len(segFiles(t, dir)); n > 2 {
		t.Errorf("%d segment files after acknowledging everything again, want at most 2", n)
	}
}

func TestDiskQueueFsyncPolicy(t *testing.T) {
	tests := []struct {
		policy string
		// fsyncs expected after 5 puts and 1 ack, before Close
		atLeast, atMost uint64
	}{
		// 5 records, plus ack.tmp and the directory for the ack.
		{policy: FsyncAlways, atLeast: 7, atMost: 7},
		// The syncer has had several ticks: the segment and the ack (+dir).
		{policy: FsyncInterval, atLeast: 3, atMost: 10},
		{policy: FsyncNever, atLeast: 0, atMost: 0},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			dir := t.TempDir()
			cfg := diskConfig(dir)
			cfg.Fsync, cfg.FsyncInterval = tt.policy, 5*time.Millisecond
			q := openDisk(t, cfg)
			base := q.Stats().Fsyncs // creating the first segment
			putAll(t, q, testEvents(0, 5))
			b, err := q.Get(context.Background(), 1, 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Ack(b); err != nil {
				t.Fatal(err)
			}
			if tt.policy == FsyncInterval {
				time.Sleep(100 * time.Millisecond)
			}
			got := q.Stats().Fsyncs - base
			if got < tt.atLeast || got > tt.atMost {
				t.Errorf("fsyncs = %d, want %d..%d", got, tt.atLeast, tt.atMost)
			}
			// The ack file is in place whatever the policy.
			b2, err := os.ReadFile(filepath.Join(dir, ackFileName))
			if err != nil {
				t.Fatal(err)
			}
			if p, err := decodeAck(b2); err != nil || p.off != segHeaderSize+recordSize(testEvent(0))+recordSize(testEvent(1)) {
				t.Errorf("ack file = %+v, %v; want the position after two records", p, err)
			}
		})
	}
}

func TestDiskQueueAckWriteFailure(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir)
	q := openDisk(t, cfg)
	putAll(t, q, testEvents(0, 6))
	ackOnce := func() {
		t.Helper()
		b, err := q.Get(context.Background(), 1, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(b); err != nil {
			t.Fatalf("Ack() = %v, want nil: the output has the events", err)
		}
	}
	ackOnce()
	// A directory where the temp file goes makes the ack write fail, even as root.
	if err := os.Mkdir(filepath.Join(dir, ackTempName), 0o700); err != nil {
		t.Fatal(err)
	}
	ackOnce()
	if st := q.Stats(); st.Acked != 4 || st.Events != 2 {
		t.Errorf("Stats() = %+v, want 4 acked and 2 queued despite the failed write", st)
	}
	afterTwo := segHeaderSize + recordSize(testEvent(0)) + recordSize(testEvent(1))
	if b, err := os.ReadFile(filepath.Join(dir, ackFileName)); err != nil {
		t.Fatal(err)
	} else if p, _ := decodeAck(b); p.off != afterTwo {
		t.Errorf("ack file after the failed write = %+v, want the older position %d", p, afterTwo)
	}
	// Once writable again, Close records the current position.
	if err := os.Remove(filepath.Join(dir, ackTempName)); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	got := drain(t, openDisk(t, cfg), 10)
	if diff := cmp.Diff(testEvents(4, 6), got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}
