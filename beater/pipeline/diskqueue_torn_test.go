package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recordOffsets returns where each of evs starts in a fresh segment.
func recordOffsets(evs []Event) []int64 {
	offs := make([]int64, len(evs))
	off := int64(segHeaderSize)
	for i, ev := range evs {
		offs[i] = off
		off += recordSize(ev)
	}
	return offs
}

func TestDiskQueueTornTail(t *testing.T) {
	const n = 10
	evs := testEvents(0, n)
	offs := recordOffsets(evs)
	last := offs[n-1]
	end := last + recordSize(evs[n-1])
	flip := func(at int64) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x40; return b }
	}
	tests := []struct {
		name      string
		damage    func([]byte) []byte
		wantKept  int    // leading records intact
		wantTorn  uint64 // counted at open
		wantSkips uint64 // counted while reading
		wantEnd   []int  // indices of evs read after the kept ones
	}{
		{name: "truncated mid payload", damage: func(b []byte) []byte { return b[:end-5] }, wantKept: n - 1, wantTorn: 1},
		{name: "truncated mid header", damage: func(b []byte) []byte { return b[:last+3] }, wantKept: n - 1, wantTorn: 1},
		{name: "flipped payload byte", damage: flip(end - 2), wantKept: n - 1, wantTorn: 1},
		{name: "flipped length byte", damage: flip(last), wantKept: n - 1, wantTorn: 1},
		{name: "flipped checksum byte", damage: flip(last + 5), wantKept: n - 1, wantTorn: 1},
		{name: "length beyond the file", damage: func(b []byte) []byte { b[last+3] = 0x7f; return b }, wantKept: n - 1, wantTorn: 1},
		{name: "garbage appended", damage: func(b []byte) []byte { return append(b, "garbage-after-crash"...) }, wantKept: n, wantTorn: 1},
		{name: "zeros appended", damage: func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, wantKept: n, wantTorn: 1},
		{name: "undamaged", damage: func(b []byte) []byte { return b }, wantKept: n},
		{name: "corrupt record in the middle", damage: flip(offs[4] + recHeaderSize + 12), wantKept: 4, wantSkips: 1, wantEnd: []int{5, 6, 7, 8, 9}},
		{name: "two corrupt records in the middle", damage: func(b []byte) []byte {
			b[offs[2]+recHeaderSize+12] ^= 1
			b[offs[3]+recHeaderSize+12] ^= 1
			return b
		}, wantKept: 2, wantSkips: 1, wantEnd: []int{4, 5, 6, 7, 8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := diskConfig(dir)
			q := openDisk(t, cfg)
			putAll(t, q, evs)
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			files := segFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("%d segment files, want 1", len(files))
			}
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != end {
				t.Fatalf("segment holds %d bytes, records end at %d", len(b), end)
			}
			if err := os.WriteFile(files[0], tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}

			q2 := openDisk(t, cfg)
			if got := q2.Stats().TornSkipped; got != tt.wantTorn {
				t.Errorf("TornSkipped after reopen = %d, want %d", got, tt.wantTorn)
			}
			wantOld := append([]Event(nil), evs[:tt.wantKept]...)
			for _, i := range tt.wantEnd {
				wantOld = append(wantOld, evs[i])
			}
			if got := q2.Stats().Events; got != int64(len(wantOld)) {
				t.Errorf("Stats().Events after reopen = %d, want %d", got, len(wantOld))
			}
			// New appends after the repaired tail must read back.
			fresh := testEvents(100, 105)
			putAll(t, q2, fresh)
			got := drain(t, q2, 4)
			if diff := cmp.Diff(append(wantOld, fresh...), got); diff != "" {
				t.Errorf("events after reopen (-want +got):\n%s", diff)
			}
			if got := q2.Stats().TornSkipped; got != tt.wantTorn+tt.wantSkips {
				t.Errorf("TornSkipped after reading = %d, want %d", got, tt.wantTorn+tt.wantSkips)
			}
			if err := q2.Close(); err != nil {
				t.Fatal(err)
			}
			q3 := openDisk(t, cfg)
			if st := q3.Stats(); st.Events != 0 || st.TornSkipped != 0 {
				t.Errorf("third open: Stats() = %+v, want empty and nothing torn", st)
			}
		})
	}
}

func TestDiskQueueDamagedFiles(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr error
		want    []Event
	}{
		{
			name: "half-written header of a new last segment",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, segName(2)), []byte("SB"))
			},
			want: testEvents(2, 5),
		},
		{
			name: "foreign segment header",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, segName(2)), []byte("NOTAQUEUEFILE"))
			},
			wantErr: ErrCorrupt,
		},
		{
			name: "corrupt ack file replays everything",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ackFileName), []byte("junk"))
			},
			want: testEvents(0, 5),
		},
		{
			name: "ack file naming a deleted segment",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ackFileName), encodeAck(pos{seg: 0, off: 100}))
			},
			want: testEvents(0, 5),
		},
		{
			name: "leftover temp ack file is ignored",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ackTempName), encodeAck(pos{seg: 1, off: 1 << 20}))
			},
			want: testEvents(2, 5),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := diskConfig(dir)
			q := openDisk(t, cfg)
			putAll(t, q, testEvents(0, 5))
			b, err := q.Get(context.Background(), 1, 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Ack(b); err != nil {
				t.Fatal(err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			q2, err := OpenDisk(cfg, "", nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenDisk() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer func() { _ = q2.Close() }()
			got := drain(t, q2, 10)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func bigEvent(i, size int) Event {
	ev := testEvent(i)
	ev.Body = bytes.Repeat([]byte("x"), size)
	return ev
}

func TestDiskQueueMaxSize(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	cfg.MaxSize = 3 * MinSegmentSize
	q := openDisk(t, cfg)

	accepted := 0
	for q.TryPut(bigEvent(accepted, 480)) {
		accepted++
		if accepted > 1000 {
			t.Fatal("TryPut never refused: max_size not enforced")
		}
	}
	st := q.Stats()
	if st.DiskBytes > int64(cfg.MaxSize) || diskUsage(t, dir) > int64(cfg.MaxSize) {
		t.Fatalf("disk use %d (files %d) exceeds max_size %d", st.DiskBytes, diskUsage(t, dir), cfg.MaxSize)
	}
	if st.DiskBytes < int64(cfg.MaxSize)-2*recordSize(bigEvent(0, 480))-3*segHeaderSize {
		t.Errorf("queue refused at %d of %d bytes: not full", st.DiskBytes, cfg.MaxSize)
	}
	if st.Dropped != 1 {
		t.Errorf("Dropped after a refused TryPut = %d, want 1", st.Dropped)
	}

	// Put waits for room; this one gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	err := q.Put(ctx, bigEvent(accepted, 480))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full queue = %v, want %v", err, context.DeadlineExceeded)
	}
	if st := q.Stats(); st.Dropped != 1 || st.Rejected != 1 {
		t.Errorf("Stats() = %+v, want Dropped 1 (TryPut) and Rejected 1 (Put gave up)", st)
	}
	if err := q.Put(context.Background(), bigEvent(0, int(cfg.MaxSize))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of an event larger than max_size = %v, want ErrTooLarge", err)
	}

	// A waiting Put goes through once acks free a segment.
	done := make(chan error, 1)
	go func() { done <- q.Put(context.Background(), bigEvent(accepted, 480)) }()
	time.Sleep(20 * time.Millisecond)
	b, err := q.Get(context.Background(), 1, accepted/2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(b); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("blocked Put after Ack = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Put still blocked after acknowledgements freed a segment")
	}
	got := drain(t, q, 100)
	var want []string
	for i := len(b.Events); i <= accepted; i++ {
		want = append(want, testEvent(i).ID)
	}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("remaining events (-want +got):\n%s", diff)
	}
	if use := diskUsage(t, dir); use > int64(cfg.MaxSize) {
		t.Errorf("disk use %d exceeds max_size %d", use, cfg.MaxSize)
	}
}
