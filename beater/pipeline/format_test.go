package pipeline

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/diskqueue-v1 from the current writer")

const formatDir = "testdata/diskqueue-v1"

// TestDiskFormatV1 opens a queue directory written by format version 1 (two
// segments, the first partly acknowledged) and checks what comes out, so that
// a change to the on-disk format that would strand the queues of agents being
// upgraded fails here. Regenerate only on purpose, with -update, together
// with a new version number in the segment header.
func TestDiskFormatV1(t *testing.T) {
	if *update {
		writeFormatFixture(t)
	}
	dir := t.TempDir()
	for _, name := range []string{ackFileName, segName(1), segName(2)} {
		b, err := os.ReadFile(filepath.Join(formatDir, name))
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	if st := q.Stats(); st.Events != 8 || st.TornSkipped != 0 {
		t.Errorf("Stats() = %+v, want 8 events, nothing torn", st)
	}
	got := drain(t, q, 3)
	if diff := cmp.Diff(formatEvents()[4:], got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// formatEvents are the fixture's events: about 8 fill a 4 KiB segment.
func formatEvents() []Event {
	evs := make([]Event, 12)
	for i := range evs {
		evs[i] = bigEvent(i, 480)
		evs[i].Body[0] = byte('a' + i)
	}
	return evs
}

func writeFormatFixture(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	putAll(t, q, formatEvents())
	drainN(t, q, 4)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(formatDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ackFileName, segName(1), segName(2)} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("fixture layout changed: %v", err)
		}
		if err := os.WriteFile(filepath.Join(formatDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
