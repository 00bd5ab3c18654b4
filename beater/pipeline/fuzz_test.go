package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseRecord feeds arbitrary bytes (what a damaged segment may hold) to
// the record decoder of both versions, and checks that whatever it accepts
// re-encodes to the same bytes; it also round-trips an event built from the
// input.
func FuzzParseRecord(f *testing.F) {
	good := appendRecord(nil, Event{ID: "id-1", Index: "logs-spawnbeat.process-default", Body: []byte(`{"a":1}`)}, 1700000000000000000)
	f.Add(good, "id-1", "logs-x", []byte(`{"a":1}`))
	f.Add(good[:len(good)-1], "", "", []byte{})
	f.Add(appendRecordV1(nil, Event{ID: "id-1", Body: []byte(`{"a":1}`)}, 1), "x", "", []byte("y"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "x", "i", []byte("y"))
	f.Add(make([]byte, 64), "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, b []byte, id, index string, body []byte) {
		for _, version := range []uint32{segVersion, segVersionV1} {
			rec, err := parseRecord(b, 1<<20, version)
			switch {
			case err == nil:
				if rec.size > int64(len(b)) {
					t.Fatalf("v%d record size %d beyond input %d", version, rec.size, len(b))
				}
				ev := Event{ID: string(rec.id), Index: string(rec.index), Body: rec.body}
				again := appendRecord(nil, ev, rec.putTime)
				if version == segVersionV1 {
					again = appendRecordV1(nil, ev, rec.putTime)
				}
				if !bytes.Equal(again, b[:rec.size]) {
					t.Fatalf("accepted v%d record does not re-encode to itself:\n%x\n%x", version, b[:rec.size], again)
				}
			case errors.Is(err, errBadRecord), errors.Is(err, io.ErrUnexpectedEOF):
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}

		if len(id) > 0xffff || len(index) > MaxIndexLen {
			return
		}
		enc := appendRecord(nil, Event{ID: id, Index: index, Body: body}, 42)
		rec, err := parseRecord(enc, 1<<30, segVersion)
		if err != nil || rec.size != int64(len(enc)) || rec.putTime != 42 || string(rec.id) != id || string(rec.index) != index || !bytes.Equal(rec.body, body) {
			t.Fatalf("round trip of (%q, %q, %q) = %+v, %v", id, index, body, rec, err)
		}
	})
}

// FuzzDecodeAck checks that the ack decoder never accepts damaged bytes that
// would not re-encode identically.
func FuzzDecodeAck(f *testing.F) {
	f.Add(encodeAck(pos{seg: 3, off: 4096}))
	f.Add([]byte("SBQA"))
	f.Add(make([]byte, ackFileSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeAck(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeAck error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeAck(p), b) {
			t.Fatalf("accepted ack %x decodes to %+v, which encodes differently", b, p)
		}
	})
}

// FuzzOpenSegment writes arbitrary bytes after a valid segment header, as a
// crash or a bad disk might leave them, opens the queue on it and drains it:
// Open must not fail or panic, and an event put afterwards must come out last.
func FuzzOpenSegment(f *testing.F) {
	var recs []byte
	for i := range 3 {
		recs = appendRecord(recs, testEvent(i), int64(i+1))
	}
	f.Add(recs)
	f.Add(recs[:len(recs)-7])
	f.Add(append(append([]byte(nil), recs...), 0, 0, 0, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		seg := append(appendSegHeader(nil), tail...)
		if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := diskConfig(dir)
		cfg.MaxSize = 1 << 20
		cfg.SegmentSize = 1 << 20
		q, err := OpenDisk(cfg, "", nil)
		if err != nil {
			t.Fatalf("OpenDisk on a damaged segment = %v", err)
		}
		defer func() { _ = q.Close() }()
		last := Event{ID: "fresh", Body: []byte("after the damage")}
		if err := q.Put(context.Background(), last); err != nil {
			t.Fatalf("Put() = %v", err)
		}
		got := drain(t, q, 64)
		if len(got) == 0 || got[len(got)-1].ID != last.ID || !bytes.Equal(got[len(got)-1].Body, last.Body) {
			t.Fatalf("the event put after opening did not come out last: %d events", len(got))
		}
	})
}
