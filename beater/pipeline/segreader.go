package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

const readChunk = 256 << 10

// segReader reads the records of one segment file in order through one
// reused buffer. It is owned by one goroutine (the consumer, or Open's scan)
// and not safe for concurrent use. Slices it returns are valid until its
// next call.
type segReader struct {
	f          *os.File
	seg        uint64
	version    uint32 // of the segment's records
	buf        []byte
	bufOff     int64 // file offset of buf[0]
	n          int   // valid bytes in buf
	maxPayload int64
}

// open points r at segment seg of dir, whose records are of the given
// version, reusing the file when it already is.
func (r *segReader) open(dir string, seg uint64, version uint32) error {
	if r.f != nil && r.seg == seg {
		return nil
	}
	r.close()
	f, err := os.Open(dir + "/" + segName(seg))
	if err != nil {
		return fmt.Errorf("open segment %d for reading: %w", seg, err)
	}
	r.f, r.seg, r.version, r.n = f, seg, version, 0
	return nil
}

func (r *segReader) close() {
	if r.f != nil {
		_ = r.f.Close() // read-only: nothing to lose
		r.f = nil
	}
	r.n = 0
}

// window returns the file's bytes from off up to at most limit, holding at
// least need bytes when the file has them.
func (r *segReader) window(off, limit int64, need int) ([]byte, error) {
	end := r.bufOff + int64(r.n)
	if off >= r.bufOff && off <= end && (end-off >= int64(need) || end >= limit) {
		return r.buf[off-r.bufOff : min(int64(r.n), limit-r.bufOff)], nil
	}
	size := max(need, readChunk)
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:cap(r.buf)]
	want := min(int64(len(r.buf)), limit-off)
	if want < 0 {
		want = 0
	}
	got, err := r.f.ReadAt(r.buf[:want], off)
	r.bufOff, r.n = off, got
	if err != nil && !errors.Is(err, io.EOF) {
		r.n = 0
		return nil, fmt.Errorf("read segment %d at %d: %w", r.seg, off, err)
	}
	return r.buf[:got], nil
}

// next decodes the record at off, which must lie below limit. It returns
// io.ErrUnexpectedEOF when the bytes up to limit hold only the start of a
// record, and errBadRecord when they cannot be one.
func (r *segReader) next(off, limit int64) (record, error) {
	b, err := r.window(off, limit, recHeaderSize)
	if err != nil {
		return record{}, err
	}
	rec, err := parseRecord(b, r.maxPayload, r.version)
	if errors.Is(err, io.ErrUnexpectedEOF) && len(b) >= recHeaderSize {
		need := recHeaderSize + int64(binary.LittleEndian.Uint32(b[0:4]))
		if off+need > limit {
			return record{}, io.ErrUnexpectedEOF
		}
		if b, err = r.window(off, limit, int(need)); err != nil {
			return record{}, err
		}
		rec, err = parseRecord(b, r.maxPayload, r.version)
	}
	return rec, err
}

// resync returns the offset of the first valid record after a bad one at
// off, or limit when none follows. CRC-32C makes a false match at a random
// offset a one-in-four-billion event.
func (r *segReader) resync(off, limit int64) (int64, error) {
	for o := off + 1; o+recHeaderSize+payloadV1 <= limit; o++ {
		_, err := r.next(o, limit)
		switch {
		case err == nil:
			return o, nil
		case errors.Is(err, errBadRecord), errors.Is(err, io.ErrUnexpectedEOF):
			continue
		default:
			return 0, err
		}
	}
	return limit, nil
}
