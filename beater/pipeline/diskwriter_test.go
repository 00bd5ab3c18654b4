package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// holdWriter takes q's writer role, as a write in progress on a stalled disk
// would, until the returned function gives it back; with flush, it then
// writes what was staged meanwhile at once.
func holdWriter(q *DiskQueue) (release func(flush bool)) {
	q.mu.Lock()
	for q.writing {
		q.wrote.Wait()
	}
	q.writing = true
	q.mu.Unlock()
	return func(flush bool) {
		q.mu.Lock()
		q.writing = false
		q.wrote.Broadcast()
		if flush {
			q.flush.Reset(0)
		}
		q.mu.Unlock()
	}
}

// flushNow writes what q has staged, after any write in progress.
func flushNow(q *DiskQueue) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.writing {
		q.wrote.Wait()
	}
	if q.st.n > 0 {
		q.write()
	}
}

// TestDiskQueueTryPutDoesNotWrite: TryPut, the capture's call, accepts an
// event without touching the disk, even while the writer is stuck; the
// consumer sees only what is in the file.
func TestDiskQueueTryPutDoesNotWrite(t *testing.T) {
	dir := t.TempDir()
	q := openDisk(t, diskConfig(dir))
	release := holdWriter(q)
	evs := testEvents(0, 100)
	for _, ev := range evs {
		if !q.TryPut(ev) {
			t.Fatalf("TryPut(%s) refused with the writer busy", ev.ID)
		}
	}
	if use := diskUsage(t, dir); use != segHeaderSize {
		t.Errorf("segment files hold %d bytes with the writer busy, want only the header", use)
	}
	if st := q.Stats(); st.Events != 100 || st.EventsIn != 0 {
		t.Errorf("Stats() = %+v, want 100 queued and none in the file yet", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := q.Get(ctx, 1, 10, 0)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get() before the write = %v, want it to wait", err)
	}
	release(true)
	if diff := cmp.Diff(evs, drain(t, q, 7)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := q.Stats(); st.EventsIn != 100 || st.Rejected != 0 || st.Dropped != 0 {
		t.Errorf("Stats() = %+v, want 100 in, nothing lost", st)
	}
}

// TestDiskQueueTryPutReachesFile: without Get or Close, what TryPut accepted
// is in the segment file within about writeDelay.
func TestDiskQueueTryPutReachesFile(t *testing.T) {
	dir := t.TempDir()
	q := openDisk(t, diskConfig(dir))
	evs := testEvents(0, 10)
	want := int64(segHeaderSize)
	for _, ev := range evs {
		if !q.TryPut(ev) {
			t.Fatalf("TryPut(%s) refused", ev.ID)
		}
		want += recordSize(ev)
	}
	start := time.Now()
	for diskUsage(t, dir) != want {
		if time.Since(start) > 2*time.Second { // generous: a loaded machine schedules late
			t.Fatalf("segment holds %d bytes after %v, want %d", diskUsage(t, dir), time.Since(start), want)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("in the file %v after the last TryPut (writeDelay %v)", time.Since(start), writeDelay)
}

// TestDiskQueueStageLimit: with the writer stuck, TryPut accepts up to
// stageLimit bytes, then refuses, counted as dropped, and loses nothing it
// accepted.
func TestDiskQueueStageLimit(t *testing.T) {
	q := openDisk(t, diskConfig(t.TempDir()))
	release := holdWriter(q)
	var accepted []Event
	for i := 0; ; i++ {
		ev := bigEvent(i, 64<<10)
		if !q.TryPut(ev) {
			break
		}
		accepted = append(accepted, ev)
		if i > 2*stageLimit/(64<<10) {
			t.Fatal("TryPut never refused: the stage is not bounded")
		}
	}
	if got, max := len(accepted), stageLimit/(64<<10); got < max-1 || got > max {
		t.Errorf("accepted %d events of 64 KiB, want about %d", got, max)
	}
	if st := q.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	release(true)
	got := drain(t, q, 16)
	if diff := cmp.Diff(ids(accepted), ids(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !q.TryPut(testEvent(9999)) {
		t.Error("TryPut refused once the stage was written")
	}
}

// TestDiskQueueCloseWritesStage: records still staged at Close are written
// before the files close, so a clean stop loses nothing.
func TestDiskQueueCloseWritesStage(t *testing.T) {
	cfg := diskConfig(t.TempDir())
	q := openDisk(t, cfg)
	release := holdWriter(q)
	evs := testEvents(0, 50)
	for _, ev := range evs {
		if !q.TryPut(ev) {
			t.Fatalf("TryPut(%s) refused", ev.ID)
		}
	}
	release(false) // the timer fired while the role was taken: nothing is scheduled
	if err := q.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if diff := cmp.Diff(evs, drain(t, openDisk(t, cfg), 10)); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}

// TestQueuesKeepIndex: every queue hands each event out with the index it
// was put with, the disk queue across segments and a restart too.
func TestQueuesKeepIndex(t *testing.T) {
	evs := testEvents(0, 40)
	for i := range evs {
		switch i % 4 {
		case 0:
			evs[i].Index = "logs-spawnbeat.process-default"
		case 1:
			evs[i].Index = "logs-spawnbeat.process-prod"
		case 2: // none: the output's
		case 3:
			evs[i].Index = "logs-spawnbeat.process-prod"
		}
	}
	mem := newMem(t, 64)
	putAll(t, mem, evs)
	if diff := cmp.Diff(evs, drain(t, mem, 7)); diff != "" {
		t.Errorf("memory queue (-want +got):\n%s", diff)
	}

	cfg := diskConfig(t.TempDir())
	cfg.SegmentSize = MinSegmentSize
	disk := openDisk(t, cfg)
	putAll(t, disk, evs[:20])
	for _, ev := range evs[20:] {
		if !disk.TryPut(ev) {
			t.Fatalf("TryPut(%s) refused", ev.ID)
		}
	}
	got := drain(t, disk, 7)
	if diff := cmp.Diff(evs, got); diff != "" {
		t.Errorf("disk queue (-want +got):\n%s", diff)
	}
	putAll(t, disk, evs)
	if err := disk.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(evs, drain(t, openDisk(t, cfg), 5)); diff != "" {
		t.Errorf("disk queue after reopen (-want +got):\n%s", diff)
	}
	if err := openDisk(t, diskConfig(t.TempDir())).Put(context.Background(), Event{ID: "x", Index: string(make([]byte, MaxIndexLen+1))}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put with an index of %d bytes = %v, want ErrTooLarge", MaxIndexLen+1, err)
	}
}

// TestDiskQueueMixedProducers runs Put and TryPut producers at once against
// the delivery loop with a small queue: each producer's accepted events
// arrive in its order, and what TryPut was refused is counted.
func TestDiskQueueMixedProducers(t *testing.T) {
	const n = 2000
	cfg := diskConfig(t.TempDir())
	cfg.SegmentSize = MinSegmentSize
	cfg.MaxSize = 8 * MinSegmentSize
	q := openDisk(t, cfg)
	out := &fakeOutput{}
	stop := runLoop(t, q, out)

	accepted := make([][]string, 3)
	done := make(chan error, 3)
	for p := range 3 {
		go func() {
			for i := range n {
				ev := Event{ID: fmt.Sprintf("p%d-%06d", p, i), Body: []byte(`{"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)}
				if p == 2 { // the capture's way
					if q.TryPut(ev) {
						accepted[p] = append(accepted[p], ev.ID)
					} else {
						time.Sleep(50 * time.Microsecond)
					}
					continue
				}
				if err := q.Put(context.Background(), ev); err != nil {
					done <- err
					return
				}
				accepted[p] = append(accepted[p], ev.ID)
			}
			done <- nil
		}()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatalf("Put() = %v", err)
		}
	}
	total := uint64(len(accepted[0]) + len(accepted[1]) + len(accepted[2]))
	stop(total)
	got := make([][]string, 3)
	for _, ev := range out.events() {
		var p int
		if _, err := fmt.Sscanf(ev.ID, "p%d-", &p); err != nil {
			t.Fatalf("unexpected ID %q", ev.ID)
		}
		got[p] = append(got[p], ev.ID)
	}
	if diff := cmp.Diff(accepted, got); diff != "" {
		t.Errorf("delivered per producer (-want +got):\n%s", diff)
	}
	st := q.Stats()
	if st.Events != 0 || st.Rejected != 0 || st.TornSkipped != 0 || st.EventsIn != total || st.Dropped != uint64(n-len(accepted[2])) {
		t.Errorf("Stats() = %+v, want empty, %d in, %d dropped (TryPut), nothing rejected or torn", st, total, n-len(accepted[2]))
	}
	if len(accepted[2]) == 0 {
		t.Error("TryPut never got an event in")
	}
}

// TestDiskQueueSegmentFiles checks that the plan and the files agree: every
// planned segment the writer created is on disk with the bytes Stats counts.
func TestDiskQueueSegmentFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	for i := range 200 {
		if !q.TryPut(bigEvent(i, 300)) {
			t.Fatalf("TryPut(%d) refused", i)
		}
	}
	flushNow(q)
	q.mu.Lock()
	segs := append([]segInfo(nil), q.segs...)
	q.mu.Unlock()
	var files []string
	for _, s := range segs {
		files = append(files, filepath.Join(dir, segName(s.id)))
		st, err := os.Stat(filepath.Join(dir, segName(s.id)))
		if err != nil || st.Size() != s.size || s.done != s.size {
			t.Errorf("segment %d: planned %d, written %d, file %v %v", s.id, s.size, s.done, st, err)
		}
	}
	if diff := cmp.Diff(files, segFiles(t, dir)); diff != "" {
		t.Errorf("segment files (-planned +on disk):\n%s", diff)
	}
	if st := q.Stats(); st.DiskBytes != diskUsage(t, dir) {
		t.Errorf("Stats().DiskBytes = %d, files hold %d", st.DiskBytes, diskUsage(t, dir))
	}
}

// TestTryPutAllocs: queueing a document, and refusing one when the queue is
// full, allocates nothing on the capture goroutine.
func TestTryPutAllocs(t *testing.T) {
	ev := testEvent(1)
	mem := newMem(t, 4)
	for mem.TryPut(ev) {
	}
	if a := testing.AllocsPerRun(100, func() { mem.TryPut(ev) }); a != 0 {
		t.Errorf("memory queue: a refused TryPut allocates %.0f times", a)
	}

	disk := openDisk(t, diskConfig(t.TempDir()))
	release := holdWriter(disk)
	defer release(false)
	if a := testing.AllocsPerRun(1000, func() {
		if !disk.TryPut(ev) {
			t.Fatal("TryPut refused")
		}
	}); a != 0 {
		t.Errorf("disk queue: TryPut allocates %.0f times", a)
	}
	for disk.TryPut(ev) {
	}
	if a := testing.AllocsPerRun(100, func() { disk.TryPut(ev) }); a != 0 {
		t.Errorf("disk queue: a refused TryPut allocates %.0f times", a)
	}
}
