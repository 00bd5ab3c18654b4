package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// On-disk layout of the disk queue directory:
//
//	lock                 flock(2)ed while a process has the queue open
//	ack                  the acknowledged position, replaced atomically (ack.tmp + rename)
//	<16 hex digits>.seg  append-only segments, numbered in write order
//
// A segment starts with segHeader ("SBQS", version u32 LE) followed by records:
//
//	[payload length u32 LE][crc32c u32 LE][payload]
//	payload: [put time unix ns i64 LE][ID length u16 LE][ID][Body]
//
// The CRC-32C (Castagnoli) covers the four length bytes and the payload, so a
// torn length field is caught as well as a torn payload.
const (
	segMagic      = "SBQS"
	segVersion    = 1
	segHeaderSize = 8
	recHeaderSize = 8
	payloadFixed  = 10 // put time + ID length
	segSuffix     = ".seg"

	ackFileName = "ack"
	ackTempName = "ack.tmp"
	ackMagic    = "SBQA"
	ackVersion  = 1
	ackFileSize = 28 // magic, version u32, segment u64, offset u64, crc32c u32

	lockFileName = "lock"
)

// MaxRecordPayload bounds one event's encoded size in the disk queue (ID,
// body and 10 bytes of framing): larger events are refused with ErrTooLarge,
// and a length field above it is taken for damage. Elasticsearch refuses
// bulk requests over 100 MB by default anyway.
const MaxRecordPayload = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// pos is a place in the queue: a segment number and a byte offset in it.
type pos struct {
	seg uint64
	off int64
}

func segName(id uint64) string { return fmt.Sprintf("%016x%s", id, segSuffix) }

// listSegments returns the segment numbers in dir, oldest first.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments in %s: %w", dir, err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segSuffix) || len(name) != 16+len(segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(name[:16], 16, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

func appendSegHeader(b []byte) []byte {
	b = append(b, segMagic...)
	return binary.LittleEndian.AppendUint32(b, segVersion)
}

// recordSize is the number of bytes ev occupies in a segment.
func recordSize(ev Event) int64 {
	return int64(recHeaderSize + payloadFixed + len(ev.ID) + len(ev.Body))
}

// appendRecord encodes ev, put at putTime, onto b.
func appendRecord(b []byte, ev Event, putTime int64) []byte {
	start := len(b)
	n := payloadFixed + len(ev.ID) + len(ev.Body)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, 0, 0, 0, 0) // crc, filled below
	b = binary.LittleEndian.AppendUint64(b, uint64(putTime))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ev.ID)))
	b = append(b, ev.ID...)
	b = append(b, ev.Body...)
	rec := b[start:]
	crc := crc32.Update(crc32.Checksum(rec[0:4], castagnoli), castagnoli, rec[recHeaderSize:])
	binary.LittleEndian.PutUint32(rec[4:8], crc)
	return b
}

// errBadRecord marks bytes that are not a valid record (torn or corrupt).
var errBadRecord = errors.New("bad record")

// parseRecord decodes the record at the start of b. It returns the record's
// total size, or io.ErrUnexpectedEOF when b holds only part of a plausible
// record, or errBadRecord when the bytes cannot be a record (length out of
// range or checksum mismatch). maxPayload bounds the length field so that a
// torn length never makes the reader allocate or wait for gigabytes.
func parseRecord(b []byte, maxPayload int64) (size int64, putTime int64, id, body []byte, err error) {
	if len(b) < recHeaderSize {
		return 0, 0, nil, nil, io.ErrUnexpectedEOF
	}
	n := int64(binary.LittleEndian.Uint32(b[0:4]))
	if n < payloadFixed || n > maxPayload {
		return 0, 0, nil, nil, errBadRecord
	}
	if int64(len(b)) < recHeaderSize+n {
		return 0, 0, nil, nil, io.ErrUnexpectedEOF
	}
	p := b[recHeaderSize : recHeaderSize+n]
	crc := crc32.Update(crc32.Checksum(b[0:4], castagnoli), castagnoli, p)
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, 0, nil, nil, errBadRecord
	}
	idLen := int64(binary.LittleEndian.Uint16(p[8:10]))
	if payloadFixed+idLen > n {
		return 0, 0, nil, nil, errBadRecord
	}
	putTime = int64(binary.LittleEndian.Uint64(p[0:8]))
	return recHeaderSize + n, putTime, p[payloadFixed : payloadFixed+idLen], p[payloadFixed+idLen:], nil
}

// encodeAck encodes the acknowledged position p.
func encodeAck(p pos) []byte {
	b := make([]byte, 0, ackFileSize)
	b = append(b, ackMagic...)
	b = binary.LittleEndian.AppendUint32(b, ackVersion)
	b = binary.LittleEndian.AppendUint64(b, p.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(p.off))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeAck decodes an ack file's contents.
func decodeAck(b []byte) (pos, error) {
	if len(b) != ackFileSize || string(b[0:4]) != ackMagic {
		return pos{}, fmt.Errorf("decode ack of %d bytes: %w", len(b), ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != ackVersion {
		return pos{}, fmt.Errorf("decode ack version %d: %w", v, ErrCorrupt)
	}
	if crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:28]) {
		return pos{}, fmt.Errorf("decode ack: checksum mismatch: %w", ErrCorrupt)
	}
	off := int64(binary.LittleEndian.Uint64(b[16:24]))
	if off < segHeaderSize {
		return pos{}, fmt.Errorf("decode ack offset %d: %w", off, ErrCorrupt)
	}
	return pos{seg: binary.LittleEndian.Uint64(b[8:16]), off: off}, nil
}

// writeAckFile replaces dir/ack with p: write ack.tmp, optionally fsync it,
// rename it over ack, optionally fsync the directory. It returns the number
// of fsyncs done.
func writeAckFile(dir string, p pos, durable bool) (int, error) {
	tmp := filepath.Join(dir, ackTempName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("write ack file %s: %w", tmp, err)
	}
	syncs := 0
	_, err = f.Write(encodeAck(p))
	if err == nil && durable {
		err = f.Sync()
		syncs++
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return syncs, fmt.Errorf("write ack file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, ackFileName)); err != nil {
		return syncs, fmt.Errorf("write ack file: %w", err)
	}
	if durable {
		if err := syncDir(dir); err != nil {
			return syncs, err
		}
		syncs++
	}
	return syncs, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
