package pipeline

import (
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/diskqueue-v2 from the current writer")

// The fixtures: queue directories written by each format version (two
// segments, the first partly acknowledged). A change to the on-disk format
// that would strand the queues of agents being upgraded fails here.
// testdata/diskqueue-v1 was written by version 1 and is never rewritten;
// regenerate diskqueue-v2 only on purpose, with -update, together with a
// new version number in the segment header.
const (
	formatDirV1 = "testdata/diskqueue-v1"
	formatDirV2 = "testdata/diskqueue-v2"
)

// TestDiskFormatV1 opens a queue directory written by format version 1, whose
// records have no index, and checks what comes out; new events go to a new
// segment of the current version, after the old ones.
func TestDiskFormatV1(t *testing.T) {
	dir := copyFixture(t, formatDirV1)
	cfg := diskConfig(dir)
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	if st := q.Stats(); st.Events != 8 || st.TornSkipped != 0 {
		t.Errorf("Stats() = %+v, want 8 events, nothing torn", st)
	}
	got := drain(t, q, 3)
	if diff := cmp.Diff(formatEventsV1()[4:], got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// An upgraded agent appends to a queue that still holds version 1
	// records: they come first, then the new ones with their index.
	q2 := copyFixture(t, formatDirV1)
	cfg.Path = q2
	q = openDisk(t, cfg)
	fresh := formatEvents()[:3]
	putAll(t, q, fresh)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segFiles(t, q2)); n != 3 {
		t.Errorf("%d segment files after appending to a version 1 queue, want 3 (a new one for version 2)", n)
	}
	want := append(formatEventsV1()[4:], fresh...)
	if diff := cmp.Diff(want, drain(t, openDisk(t, cfg), 5)); diff != "" {
		t.Errorf("events after an upgrade (-want +got):\n%s", diff)
	}
}

// TestDiskFormatV2 opens a queue directory written by the current format.
func TestDiskFormatV2(t *testing.T) {
	if *update {
		writeFormatFixture(t)
	}
	cfg := diskConfig(copyFixture(t, formatDirV2))
	cfg.SegmentSize = MinSegmentSize
	q := openDisk(t, cfg)
	if st := q.Stats(); st.Events != 8 || st.TornSkipped != 0 {
		t.Errorf("Stats() = %+v, want 8 events, nothing torn", st)
	}
	if diff := cmp.Diff(formatEvents()[4:], drain(t, q, 3)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestLegacyIndex: a version 1 record's index is the data stream its
// document names, as the output used to find it, or none.
func TestLegacyIndex(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"data stream", `{"a":1,"data_stream":{"type":"logs","dataset":"spawnbeat.process","namespace":"prod"}}`, "logs-spawnbeat.process-prod"},
		{"any order", `{"data_stream":{"namespace":"qa","dataset":"spawnbeat.process","type":"logs"},"x":{"namespace":"no"}}`, "logs-spawnbeat.process-qa"},
		{"no data_stream", `{"namespace":"other"}`, ""},
		{"namespace outside data_stream", `{"data_stream":{"type":"logs","dataset":"d"},"k":{"namespace":"no"}}`, ""},
		{"escaped value in an argument", `{"process":{"args":["\"data_stream\":{\"type\":\"logs\",\"dataset\":\"d\",\"namespace\":\"evil\"}"]}}`, ""},
		{"escape inside", `{"data_stream":{"type":"logs","dataset":"d","namespace":"a\"b"}}`, ""},
		{"empty namespace", `{"data_stream":{"type":"logs","dataset":"d","namespace":""}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendLegacyIndex(nil, []byte(tc.body))); got != tc.want {
				t.Errorf("appendLegacyIndex(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
	// Read back through the queue from a version 1 segment.
	dir := t.TempDir()
	ev := Event{ID: "old", Body: []byte(tests[0].body)}
	seg := appendRecordV1(appendSegHeaderVersion(nil, segVersionV1), ev, 1)
	writeFile(t, filepath.Join(dir, segName(1)), seg)
	got := drain(t, openDisk(t, diskConfig(dir)), 1)
	if len(got) != 1 || got[0].Index != tests[0].want {
		t.Errorf("version 1 record read back as %+v, want index %q", got, tests[0].want)
	}
}

func copyFixture(t *testing.T, from string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{ackFileName, segName(1), segName(2)} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		writeFile(t, filepath.Join(dir, name), b)
	}
	return dir
}

// formatEventsV1 are the version 1 fixture's events: about 8 fill a 4 KiB
// segment.
func formatEventsV1() []Event {
	evs := make([]Event, 12)
	for i := range evs {
		evs[i] = bigEvent(i, 480)
		evs[i].Body[0] = byte('a' + i)
	}
	return evs
}

// formatEvents are the version 2 fixture's: the same, every other one with
// an index.
func formatEvents() []Event {
	evs := formatEventsV1()
	for i := range evs {
		if i%2 == 0 {
			evs[i].Index = "logs-spawnbeat.process-fixture"
		}
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
	if err := os.MkdirAll(formatDirV2, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ackFileName, segName(1), segName(2)} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("fixture layout changed: %v", err)
		}
		if err := os.WriteFile(filepath.Join(formatDirV2, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// appendRecordV1 encodes ev as format version 1 wrote it: no index.
func appendRecordV1(b []byte, ev Event, putTime int64) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(payloadV1+len(ev.ID)+len(ev.Body)))
	b = append(b, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(putTime))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ev.ID)))
	b = append(b, ev.ID...)
	b = append(b, ev.Body...)
	sealRecord(b[start:])
	return b
}
