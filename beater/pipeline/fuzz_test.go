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
// the record decoder, and checks that whatever it accepts re-encodes to the
// same bytes; it also round-trips an event built from the input.
func FuzzParseRecord(f *testing.F) {
	good := appendRecord(nil, Event{ID: "id-1", Body: []byte(`{"a":1}`)}, 1700000000000000000)
	f.Add(good, "id-1", []byte(`{"a":1}`))
	f.Add(good[:len(good)-1], "", []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "x", []byte("y"))
	f.Add(make([]byte, 64), "", []byte(nil))
	f.Fuzz(func(t *testing.T, b []byte, id string, body []byte) {
		size, putTime, gotID, gotBody, err := parseRecord(b, 1<<20)
		switch {
		case err == nil:
			if size > int64(len(b)) {
				t.Fatalf("record size %d beyond input %d", size, len(b))
			}
			again := appendRecord(nil, Event{ID: string(gotID), Body: gotBody}, putTime)
			if !bytes.Equal(again, b[:size]) {
				t.Fatalf("accepted record does not re-encode to itself:\n%x\n%x", b[:size], again)
			}
		case errors.Is(err, errBadRecord), errors.Is(err, io.ErrUnexpectedEOF):
		default:
			t.Fatalf("unexpected error %v", err)
		}

		if len(id) > 0xffff {
			return
		}
		rec := appendRecord(nil, Event{ID: id, Body: body}, 42)
		size, putTime, gotID, gotBody, err = parseRecord(rec, 1<<30)
		if err != nil || size != int64(len(rec)) || putTime != 42 || string(gotID) != id || !bytes.Equal(gotBody, body) {
			t.Fatalf("round trip of (%q, %q) = %d, %d, %q, %q, %v", id, body, size, putTime, gotID, gotBody, err)
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
