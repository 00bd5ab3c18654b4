package pipeline

import (
	"bytes"
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
// A segment starts with segHeader ("SBQS", version u32 LE) followed by
// records, each [payload length u32 LE][crc32c u32 LE][payload]. The payload
// of version 2, which this package writes:
//
//	[put time unix ns i64 LE][ID length u16 LE][index length u8][ID][index][Body]
//
// Version 1 (written before the index travelled with the event) has no index:
//
//	[put time unix ns i64 LE][ID length u16 LE][ID][Body]
//
// and its records are read with the index their document names (see
// appendLegacyIndex). A queue opened on version 1 segments reads them as
// they are and writes new records to a new, version 2 segment.
//
// The CRC-32C (Castagnoli) covers the four length bytes and the payload, so a
// torn length field is caught as well as a torn payload.
const (
	segMagic      = "SBQS"
	segVersion    = 2 // the version written
	segVersionV1  = 1
	segHeaderSize = 8
	recHeaderSize = 8
	payloadFixed  = 11 // put time + ID length + index length
	payloadV1     = 10 // put time + ID length
	segSuffix     = ".seg"

	ackFileName = "ack"
	ackTempName = "ack.tmp"
	ackMagic    = "SBQA"
	ackVersion  = 1
	ackFileSize = 28 // magic, version u32, segment u64, offset u64, crc32c u32

	lockFileName = "lock"

	// MaxIndexLen is the longest Event.Index the disk queue stores: the
	// longest index name Elasticsearch accepts.
	MaxIndexLen = 255
)

// MaxRecordPayload bounds one event's encoded size in the disk queue (ID,
// index, body and 11 bytes of framing): larger events are refused with ErrTooLarge,
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
	return appendSegHeaderVersion(b, segVersion)
}

func appendSegHeaderVersion(b []byte, version uint32) []byte {
	b = append(b, segMagic...)
	return binary.LittleEndian.AppendUint32(b, version)
}

// parseSegHeader returns the version of a segment header, or false when h
// is not a header this package reads.
func parseSegHeader(h []byte) (uint32, bool) {
	if len(h) != segHeaderSize || string(h[:4]) != segMagic {
		return 0, false
	}
	v := binary.LittleEndian.Uint32(h[4:])
	return v, v == segVersion || v == segVersionV1
}

// recordSize is the number of bytes ev occupies in a segment.
func recordSize(ev Event) int64 {
	return int64(recHeaderSize + payloadFixed + len(ev.ID) + len(ev.Index) + len(ev.Body))
}

// appendRecord encodes ev, put at putTime, onto b in the current version.
// The caller has checked the lengths of ev.ID (at most 65535) and ev.Index
// (at most MaxIndexLen).
func appendRecord(b []byte, ev Event, putTime int64) []byte {
	start := len(b)
	b = appendRecordUnsealed(b, ev, putTime)
	sealRecord(b[start:])
	return b
}

// appendRecordUnsealed is appendRecord without the checksum, which
// sealRecord fills in later.
func appendRecordUnsealed(b []byte, ev Event, putTime int64) []byte {
	n := payloadFixed + len(ev.ID) + len(ev.Index) + len(ev.Body)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, 0, 0, 0, 0) // crc, filled below
	b = binary.LittleEndian.AppendUint64(b, uint64(putTime))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(ev.ID)))
	b = append(b, byte(len(ev.Index)))
	b = append(b, ev.ID...)
	b = append(b, ev.Index...)
	return append(b, ev.Body...)
}

// sealRecord fills in the checksum of the record rec.
func sealRecord(rec []byte) {
	crc := crc32.Update(crc32.Checksum(rec[0:4], castagnoli), castagnoli, rec[recHeaderSize:])
	binary.LittleEndian.PutUint32(rec[4:8], crc)
}

// errBadRecord marks bytes that are not a valid record (torn or corrupt).
var errBadRecord = errors.New("bad record")

// record is one decoded record; its slices point into the bytes it was
// decoded from.
type record struct {
	size    int64
	putTime int64
	id      []byte
	index   []byte // nil in version 1
	body    []byte
}

// parseRecord decodes the record of segment version version at the start of
// b. It returns the record (its size is the bytes it occupies), or
// io.ErrUnexpectedEOF when b holds only part of a plausible record, or
// errBadRecord when the bytes cannot be a record (length out of range or
// checksum mismatch). maxPayload bounds the length field so that a torn
// length never makes the reader allocate or wait for gigabytes.
func parseRecord(b []byte, maxPayload int64, version uint32) (record, error) {
	fixed := int64(payloadFixed)
	if version == segVersionV1 {
		fixed = payloadV1
	}
	if len(b) < recHeaderSize {
		return record{}, io.ErrUnexpectedEOF
	}
	n := int64(binary.LittleEndian.Uint32(b[0:4]))
	if n < fixed || n > maxPayload {
		return record{}, errBadRecord
	}
	if int64(len(b)) < recHeaderSize+n {
		return record{}, io.ErrUnexpectedEOF
	}
	p := b[recHeaderSize : recHeaderSize+n]
	crc := crc32.Update(crc32.Checksum(b[0:4], castagnoli), castagnoli, p)
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return record{}, errBadRecord
	}
	idLen := int64(binary.LittleEndian.Uint16(p[8:10]))
	var idxLen int64
	if version != segVersionV1 {
		idxLen = int64(p[10])
	}
	if fixed+idLen+idxLen > n {
		return record{}, errBadRecord
	}
	rec := record{
		size:    recHeaderSize + n,
		putTime: int64(binary.LittleEndian.Uint64(p[0:8])),
		id:      p[fixed : fixed+idLen],
		body:    p[fixed+idLen+idxLen:],
	}
	if version != segVersionV1 {
		rec.index = p[fixed+idLen : fixed+idLen+idxLen]
	}
	return rec, nil
}

// recordLen returns the size of the encoded record at the start of b, which
// this package wrote.
func recordLen(b []byte) int {
	return recHeaderSize + int(binary.LittleEndian.Uint32(b[0:4]))
}

// recordPutTime returns the put time of the encoded record at the start of b.
func recordPutTime(b []byte) int64 {
	return int64(binary.LittleEndian.Uint64(b[recHeaderSize : recHeaderSize+8]))
}

var (
	dataStreamKey = []byte(`"data_stream":{`)
	dsTypeKey     = []byte(`"type":"`)
	dsDatasetKey  = []byte(`"dataset":"`)
	dsNamespace   = []byte(`"namespace":"`)
)

// appendLegacyIndex appends to dst the index of a version 1 record, whose
// document names its data stream only in its body:
// <data_stream.type>-<data_stream.dataset>-<data_stream.namespace>, as the
// output used to find it. It appends nothing when the body has no complete
// data_stream object with the three; the output then uses its configured
// data stream. data_stream holds only flat strings, so the object ends at the
// first '}' after its key; inside a JSON string a quote is always escaped, so
// the unescaped key pattern cannot come from a value such as an argument,
// and a value with an escape is not taken.
func appendLegacyIndex(dst, body []byte) []byte {
	i := bytes.Index(body, dataStreamKey)
	if i < 0 {
		return dst
	}
	obj := body[i+len(dataStreamKey):]
	if end := bytes.IndexByte(obj, '}'); end >= 0 {
		obj = obj[:end]
	}
	typ, dataset, ns := stringField(obj, dsTypeKey), stringField(obj, dsDatasetKey), stringField(obj, dsNamespace)
	if typ == nil || dataset == nil || ns == nil {
		return dst
	}
	dst = append(dst, typ...)
	dst = append(dst, '-')
	dst = append(dst, dataset...)
	dst = append(dst, '-')
	return append(dst, ns...)
}

// stringField returns the unescaped, non-empty string value of key (given
// with its opening quote) in a flat JSON object's contents, or nil.
func stringField(obj, key []byte) []byte {
	j := bytes.Index(obj, key)
	if j < 0 {
		return nil
	}
	v := obj[j+len(key):]
	k := bytes.IndexByte(v, '"')
	if k <= 0 || bytes.IndexByte(v[:k], '\\') >= 0 {
		return nil
	}
	return v[:k]
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
