package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// DiskQueue is the crash-safe queue: events are appended to checksummed
// segment files, and the position of the oldest unacknowledged event is kept
// in an ack file replaced atomically, so that a process killed at any moment
// resumes after restart with every event it had accepted and not seen
// acknowledged (some acknowledged ones may come again: at-least-once).
//
// Durability: once Put returns, the record is in the kernel's page cache and
// survives a crash of the process; it survives a power loss after the next
// fsync (every write with fsync "always", within fsync_interval with
// "interval", never guaranteed with "never").
//
// DiskQueue is safe for concurrent use by any number of producers (Put,
// TryPut) and one consumer (Get, Ack, Rewind); Stats and Close may be called
// from any goroutine. Put copies the event into the segment, so the producer
// may reuse Body once Put returns. A Batch's Events, their Body slices
// included, belong to the queue and are valid until the next Get.
type DiskQueue struct {
	cfg        DiskConfig
	dir        string
	log        *zap.Logger
	lock       *os.File
	maxPayload int64

	mu           sync.Mutex
	segs         []segInfo // oldest first; the last one is being written
	w            *os.File  // the last segment, open for writing
	wbuf         []byte    // encode buffer, used under mu
	ackPos       pos       // first unacknowledged record
	readPos      pos       // next record Get hands out
	writeSeq     uint64    // events written (since Open, counting those found at Open)
	readSeq      uint64    // events handed out
	ackSeq       uint64    // events acknowledged
	unackedBytes int64
	diskBytes    int64
	pendingSince int64  // put time (lower bound) of the oldest event not handed out
	headTime     int64  // put time of the record at ackPos, 0 if unknown
	dirty        bool   // written since the last fsync of w
	ackDirty     bool   // ack file renamed but not fsynced
	dirDirty     bool   // a segment created since the directory's last fsync
	nextSeg      uint64 // number of the next segment to create
	closed       bool

	closing chan struct{} // closed by Close
	room    roomWait      // put's wait for room; Ack wakes it
	wait    *batchWait    // Get's wait for a batch; producers notify it under mu
	syncer  sync.WaitGroup

	// Consumer side: cmu serialises Get, Ack and Rewind against Close.
	cmu   sync.Mutex
	rd    segReader
	out   []Event
	arena []byte // bodies of the current batch
	ids   []byte // IDs of the current batch, turned into one string
	ends  []int  // end of each ID in ids
	bends []int  // end of each body in arena
	view  []segInfo

	counters
	torn, fsyncs atomic.Uint64
}

type segInfo struct {
	id   uint64
	size int64
}

// OpenDisk opens (creating if needed) the disk queue in cfg.ResolvePath
// (dataDir). It takes an exclusive flock(2) on the directory's lock file
// (ErrLocked when another process holds it), drops segments already
// acknowledged, validates every remaining record by checksum and cuts a torn
// tail off the last segment, counting it in Stats.TornSkipped, so that new
// appends follow the last good record.
func OpenDisk(cfg DiskConfig, dataDir string, log *zap.Logger) (*DiskQueue, error) {
	if err := errors.Join(cfg.problems("queue.disk")...); err != nil {
		return nil, fmt.Errorf("open disk queue: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	dir := cfg.ResolvePath(dataDir)
	if dir == "/"+DefaultDiskDirName && dataDir == "" {
		return nil, fmt.Errorf("open disk queue: %w", invalid("queue.disk.path", "empty and no data path given"))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open disk queue %s: %w", dir, err)
	}
	q := &DiskQueue{
		cfg:        cfg,
		dir:        dir,
		log:        log.Named("diskqueue"),
		maxPayload: min(int64(cfg.MaxSize)-segHeaderSize-recHeaderSize, MaxRecordPayload),
		closing:    make(chan struct{}),
		room:       newRoomWait(),
	}
	q.wait = newBatchWait(&q.mu, q.closing, q.readyState)
	// The reader's bound does not depend on this run's max_size, so that a
	// smaller max_size never turns records written before into "corrupt".
	q.rd.maxPayload = MaxRecordPayload
	if err := q.lockDir(); err != nil {
		return nil, err
	}
	if err := q.recover(); err != nil {
		q.rd.close()
		if q.w != nil {
			_ = q.w.Close() // the error above is what matters
		}
		_ = q.lock.Close()
		return nil, err
	}
	if cfg.Fsync == FsyncInterval {
		q.syncer.Add(1)
		go q.syncLoop()
	}
	q.log.Info("disk queue opened", zap.String("path", dir), zap.Uint64("events", q.writeSeq),
		zap.Int64("bytes", q.unackedBytes), zap.Int("segments", len(q.segs)), zap.Uint64("torn", q.torn.Load()))
	return q, nil
}

func (q *DiskQueue) lockDir() error {
	name := filepath.Join(q.dir, lockFileName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open disk queue lock %s: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", name, ErrLocked)
		}
		return fmt.Errorf("lock %s: %w", name, err)
	}
	q.lock = f
	return nil
}

// recover rebuilds the in-memory state from the directory.
func (q *DiskQueue) recover() error {
	_ = os.Remove(filepath.Join(q.dir, ackTempName)) // a rename that never happened
	ids, err := listSegments(q.dir)
	if err != nil {
		return err
	}
	ack, ackErr := q.readAck()
	switch {
	case errors.Is(ackErr, fs.ErrNotExist):
		ack = pos{off: segHeaderSize}
		if len(ids) > 0 {
			ack.seg = ids[0]
		}
	case ackErr != nil:
		// Without a trustworthy ack, replay everything there is: duplicates, not loss.
		q.log.Warn("ack file unreadable, replaying the whole queue", zap.Error(ackErr))
		ack = pos{off: segHeaderSize}
		if len(ids) > 0 {
			ack.seg = ids[0]
		}
	}
	// Segments before the ack are fully acknowledged: a crash came between
	// writing the ack and deleting them.
	for len(ids) > 0 && ids[0] < ack.seg {
		if err := q.removeSegment(ids[0]); err != nil {
			return err
		}
		ids = ids[1:]
	}
	if len(ids) == 0 || ids[0] != ack.seg {
		// The ack's segment was deleted once fully acknowledged.
		if len(ids) > 0 {
			ack = pos{seg: ids[0], off: segHeaderSize}
		} else {
			ack = pos{seg: ack.seg + 1, off: segHeaderSize}
		}
	}
	q.ackPos = ack

	for i, id := range ids {
		last := i == len(ids)-1
		size, err := q.checkSegment(id, last)
		if err != nil {
			return err
		}
		if size < 0 { // an empty segment left by a crash during creation
			continue
		}
		from := int64(segHeaderSize)
		if id == ack.seg {
			from = min(ack.off, size)
			q.ackPos.off = from
		}
		if err := q.scanSegment(id, from, size, last); err != nil {
			return err
		}
	}
	if len(q.segs) == 0 || q.segs[0].id != q.ackPos.seg {
		q.ackPos = pos{off: segHeaderSize, seg: q.ackPos.seg}
		if len(q.segs) > 0 {
			q.ackPos.seg = q.segs[0].id
		}
	}
	if len(q.segs) == 0 {
		if err := q.createSegment(q.ackPos.seg); err != nil {
			return err
		}
	} else {
		last := q.segs[len(q.segs)-1]
		f, err := os.OpenFile(filepath.Join(q.dir, segName(last.id)), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open segment %d for writing: %w", last.id, err)
		}
		q.w = f
		q.nextSeg = last.id + 1
	}
	q.readPos = q.ackPos
	q.rd.close()
	return nil
}

func (q *DiskQueue) readAck() (pos, error) {
	b, err := os.ReadFile(filepath.Join(q.dir, ackFileName))
	if err != nil {
		return pos{}, fmt.Errorf("read ack file: %w", err)
	}
	return decodeAck(b)
}

func (q *DiskQueue) removeSegment(id uint64) error {
	if err := os.Remove(filepath.Join(q.dir, segName(id))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove segment %d: %w", id, err)
	}
	return nil
}

// checkSegment validates a segment's header and returns its size, or -1
// after removing a last segment whose header a crash left incomplete.
func (q *DiskQueue) checkSegment(id uint64, last bool) (int64, error) {
	name := filepath.Join(q.dir, segName(id))
	f, err := os.Open(name)
	if err != nil {
		return 0, fmt.Errorf("open segment %s: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment %s: %w", name, err)
	}
	var h [segHeaderSize]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read segment header %s: %w", name, err)
	}
	if n < segHeaderSize {
		if !last || st.Size() >= segHeaderSize {
			return 0, fmt.Errorf("segment %s: short header: %w", name, ErrCorrupt)
		}
		if err := q.removeSegment(id); err != nil {
			return 0, err
		}
		return -1, nil
	}
	if string(appendSegHeader(nil)) != string(h[:]) {
		return 0, fmt.Errorf("segment %s: unknown header %q: %w", name, h[:], ErrCorrupt)
	}
	return st.Size(), nil
}

// scanSegment counts the valid records of segment id from offset from and,
// for the last segment, truncates what follows the last valid record.
func (q *DiskQueue) scanSegment(id uint64, from, size int64, last bool) error {
	if err := q.rd.open(q.dir, id); err != nil {
		return err
	}
	off := from
	end := from // just after the last valid record
	for off < size {
		rec, err := q.rd.next(off, size)
		switch {
		case err == nil:
			if q.writeSeq == 0 {
				q.headTime = rec.putTime
				q.pendingSince = rec.putTime
			}
			q.writeSeq++
			off += rec.size
			end = off
			continue
		case errors.Is(err, errBadRecord), errors.Is(err, io.ErrUnexpectedEOF):
			next, rerr := q.rd.resync(off, size)
			if rerr != nil {
				return rerr
			}
			if next < size {
				// Good records follow: the reader skips and counts the bad
				// bytes when it gets there.
				off = next
				continue
			}
			off = size
		default:
			return err
		}
	}
	if last && end < size {
		q.rd.close()
		if err := os.Truncate(filepath.Join(q.dir, segName(id)), end); err != nil {
			return fmt.Errorf("truncate torn tail of segment %d at %d: %w", id, end, err)
		}
		q.torn.Add(1)
		q.log.Warn("torn record at the end of the disk queue skipped", zap.Uint64("segment", id),
			zap.Int64("offset", end), zap.Int64("bytes", size-end))
		size = end
	}
	q.segs = append(q.segs, segInfo{id: id, size: size})
	q.diskBytes += size
	q.unackedBytes += size - from
	return nil
}

// newSegmentFile creates segment id with its header, fsynced (with the
// directory) under the "always" policy.
func (q *DiskQueue) newSegmentFile(id uint64) (*os.File, error) {
	name := filepath.Join(q.dir, segName(id))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	fail := func(err error) (*os.File, error) {
		_ = f.Close()
		_ = os.Remove(name) // holds nothing yet
		return nil, err
	}
	if _, err := f.Write(appendSegHeader(nil)); err != nil {
		return fail(fmt.Errorf("write segment header %s: %w", name, err))
	}
	if q.cfg.Fsync == FsyncAlways {
		q.fsyncs.Add(2)
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("sync segment %s: %w", name, err))
		}
		if err := syncDir(q.dir); err != nil {
			return fail(err)
		}
	} else {
		q.dirDirty = true
	}
	return f, nil
}

// createSegment starts segment id and makes it the one written; q.mu is
// held (or the queue is not shared yet).
func (q *DiskQueue) createSegment(id uint64) error {
	f, err := q.newSegmentFile(id)
	if err != nil {
		return err
	}
	q.install(f, id)
	return nil
}

func (q *DiskQueue) install(f *os.File, id uint64) {
	q.w = f
	q.segs = append(q.segs, segInfo{id: id, size: segHeaderSize})
	q.diskBytes += segHeaderSize
	q.nextSeg = id + 1
}

// roll closes the segment being written and starts the next one, deleting
// the old one when every record in it is acknowledged; q.mu is held. On a
// full file system it deletes a fully acknowledged segment before creating
// the next, so that the space it frees can be used.
func (q *DiskQueue) roll() error {
	if q.w == nil {
		return q.createSegment(q.nextSeg)
	}
	old := q.segs[len(q.segs)-1]
	// Sync even when not dirty: the interval syncer may be between clearing
	// the flag and its own fsync of this file.
	if q.cfg.Fsync != FsyncNever {
		q.fsyncs.Add(1)
		if err := q.w.Sync(); err != nil {
			return fmt.Errorf("sync segment %d: %w", old.id, err)
		}
		q.dirty = false
	}
	acked := q.ackPos == (pos{seg: old.id, off: old.size})
	f, err := q.newSegmentFile(q.nextSeg)
	if err != nil && !acked {
		return err // old stays the segment being written
	}
	if cerr := q.w.Close(); cerr != nil {
		q.log.Warn("closing a full segment failed", zap.Uint64("segment", old.id), zap.Error(cerr))
	}
	q.w = nil
	if acked {
		// Nothing in old is needed any more; a restart finds no segment at
		// or after the ack's and starts afresh.
		q.ackPos = pos{seg: q.nextSeg, off: segHeaderSize}
		if q.readPos.seg <= old.id {
			q.readPos = q.ackPos
		}
		if rerr := q.removeSegment(old.id); rerr != nil {
			q.log.Warn("cannot delete acknowledged segment", zap.Uint64("segment", old.id), zap.Error(rerr))
		} else {
			q.segs = q.segs[:len(q.segs)-1]
			q.diskBytes -= old.size
		}
		if err != nil { // the file system was full: try again with old's space
			if f, err = q.newSegmentFile(q.nextSeg); err != nil {
				return err // no segment is being written; the next Put retries
			}
		}
	}
	q.install(f, q.nextSeg)
	q.dropAcked()
	return nil
}

// dropAcked deletes the segments before ackPos; q.mu is held. A failed
// delete is retried at the next open.
func (q *DiskQueue) dropAcked() {
	for len(q.segs) > 1 && q.segs[0].id < q.ackPos.seg {
		s := q.segs[0]
		if err := q.removeSegment(s.id); err != nil {
			q.log.Warn("cannot delete acknowledged segment", zap.Uint64("segment", s.id), zap.Error(err))
			return
		}
		q.diskBytes -= s.size
		q.segs = q.segs[1:]
	}
}

// Put appends ev, waiting for room while the queue is full.
func (q *DiskQueue) Put(ctx context.Context, ev Event) error {
	return q.put(ctx, ev, true)
}

// TryPut appends ev if there is room, without waiting, and reports whether
// it did; a refusal is counted as dropped.
func (q *DiskQueue) TryPut(ev Event) bool {
	return q.put(context.Background(), ev, false) == nil
}

func (q *DiskQueue) put(ctx context.Context, ev Event, wait bool) error {
	size := recordSize(ev)
	if len(ev.ID) > 0xffff || size-recHeaderSize > q.maxPayload {
		q.rejected.Add(1)
		return fmt.Errorf("put event %q of %d bytes: %w", ev.ID, size, ErrTooLarge)
	}
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			q.rejected.Add(1)
			return fmt.Errorf("put event %q: %w", ev.ID, ErrClosed)
		}
		ok, err := q.makeRoom(size)
		if err != nil {
			q.mu.Unlock()
			q.rejected.Add(1)
			return err
		}
		if ok {
			break
		}
		if !wait {
			q.mu.Unlock()
			q.dropped.Add(1) // full
			return fmt.Errorf("put event %q: %w", ev.ID, ErrFull)
		}
		if werr := q.room.await(ctx, &q.mu, q.closing); werr != nil {
			q.mu.Unlock()
			q.rejected.Add(1)
			return fmt.Errorf("put event %q: %w", ev.ID, werr)
		}
	}
	err := q.append(ev, size)
	if errors.Is(err, unix.ENOSPC) && q.w != nil {
		// A full file system, and the segment being written holds only
		// acknowledged records: recycle its space and try once more.
		if cur := q.segs[len(q.segs)-1]; cur.size > segHeaderSize && q.ackPos == (pos{seg: cur.id, off: cur.size}) {
			if rerr := q.roll(); rerr == nil {
				err = q.append(ev, size)
			}
		}
	}
	if err == nil {
		q.wait.notify(q.writeSeq - q.readSeq)
	}
	more := err == nil && q.room.waiting()
	q.mu.Unlock()
	if err != nil {
		q.rejected.Add(1)
		return err
	}
	if more {
		q.room.wake()
	}
	return nil
}

// makeRoom reports whether a record of size bytes fits under max_size,
// rolling to a new segment first when the current one is full; q.mu is held.
func (q *DiskQueue) makeRoom(size int64) (bool, error) {
	if q.w == nil { // an earlier roll could not create the next segment
		if err := q.createSegment(q.nextSeg); err != nil {
			return false, err
		}
	}
	cur := q.segs[len(q.segs)-1]
	needRoll := cur.size > segHeaderSize && cur.size+size > int64(q.cfg.SegmentSize)
	if !needRoll && q.diskBytes+size <= int64(q.cfg.MaxSize) {
		return true, nil
	}
	if needRoll || q.ackPos == (pos{seg: cur.id, off: cur.size}) && cur.size > segHeaderSize {
		// Rolling frees the current segment when it is fully acknowledged.
		if q.diskBytes+segHeaderSize+size > int64(q.cfg.MaxSize) && q.ackPos != (pos{seg: cur.id, off: cur.size}) {
			return false, nil
		}
		if err := q.roll(); err != nil {
			return false, err
		}
	}
	return q.diskBytes+size <= int64(q.cfg.MaxSize), nil
}

// append writes one record at the end of the current segment; q.mu is held.
func (q *DiskQueue) append(ev Event, size int64) error {
	now := time.Now().UnixNano()
	q.wbuf = appendRecord(q.wbuf[:0], ev, now)
	cur := &q.segs[len(q.segs)-1]
	if _, err := q.w.WriteAt(q.wbuf, cur.size); err != nil {
		// Cut a partial write off so that the next record follows good data.
		if terr := q.w.Truncate(cur.size); terr != nil {
			q.log.Error("cannot truncate a failed write", zap.Uint64("segment", cur.id), zap.Error(terr))
		}
		return fmt.Errorf("put event %q: write segment %d: %w", ev.ID, cur.id, err)
	}
	if q.cfg.Fsync == FsyncAlways {
		q.fsyncs.Add(1)
		if err := q.w.Sync(); err != nil {
			// The caller is told the event was not taken: do not keep it.
			if terr := q.w.Truncate(cur.size); terr != nil {
				q.log.Error("cannot truncate an unsynced write", zap.Uint64("segment", cur.id), zap.Error(terr))
			}
			return fmt.Errorf("put event %q: sync segment %d: %w", ev.ID, cur.id, err)
		}
	} else {
		q.dirty = true
	}
	cur.size += size
	q.diskBytes += size
	if q.writeSeq == q.ackSeq {
		q.headTime = now
	}
	if q.writeSeq == q.readSeq {
		q.pendingSince = now
	}
	q.writeSeq++
	q.unackedBytes += size
	q.eventsIn.Add(1)
	return nil
}

// Get hands out up to maxEvents records; see Queue.Get.
func (q *DiskQueue) Get(ctx context.Context, minEvents, maxEvents int, flushTimeout time.Duration) (Batch, error) {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	ready, err := q.wait.await(ctx, minEvents, flushTimeout)
	if err != nil {
		return Batch{}, err
	}
	q.view = append(q.view[:0], q.segs...)
	from, seq, written := q.readPos, q.readSeq, q.writeSeq
	q.mu.Unlock()
	return q.read(from, seq, written, int(min(ready, uint64(max(maxEvents, 1)))))
}

// readyState is the disk queue's readyFunc; q.mu is held.
func (q *DiskQueue) readyState() (ready uint64, oldest int64, closed bool) {
	return q.writeSeq - q.readSeq, q.pendingSince, q.closed
}

// read decodes up to n records from p, within the segments of q.view (a
// snapshot taken under q.mu: sealed sizes never change and the last one only
// grows). written is q.writeSeq at the time of the snapshot. q.cmu is held.
func (q *DiskQueue) read(p pos, seq, written uint64, n int) (Batch, error) {
	q.arena, q.ids, q.ends, q.bends = q.arena[:0], q.ids[:0], q.ends[:0], q.bends[:0]
	start := p
	var lastTime int64
	var skipped uint64
	vi := 0
	for vi < len(q.view) && q.view[vi].id < p.seg {
		vi++
	}
	for len(q.ends) < n && vi < len(q.view) {
		seg := q.view[vi]
		if p.seg != seg.id {
			p = pos{seg: seg.id, off: segHeaderSize}
		}
		if p.off >= seg.size {
			vi++
			continue
		}
		if err := q.rd.open(q.dir, seg.id); err != nil {
			return Batch{}, err
		}
		rec, err := q.rd.next(p.off, seg.size)
		if errors.Is(err, errBadRecord) || errors.Is(err, io.ErrUnexpectedEOF) {
			next, rerr := q.rd.resync(p.off, seg.size)
			if rerr != nil {
				return Batch{}, rerr
			}
			skipped++
			q.log.Warn("corrupt record in the disk queue skipped", zap.Uint64("segment", seg.id),
				zap.Int64("offset", p.off), zap.Int64("bytes", next-p.off))
			p.off = next
			continue
		}
		if err != nil {
			return Batch{}, err
		}
		q.arena = append(q.arena, rec.body...)
		q.bends = append(q.bends, len(q.arena))
		q.ids = append(q.ids, rec.id...)
		q.ends = append(q.ends, len(q.ids))
		lastTime = rec.putTime
		p.off += rec.size
	}
	got := len(q.ends)
	span := uint64(got)
	if got < n {
		// The data ran out before n records: records counted when written
		// became unreadable. Cover them so that Ack's count stays right.
		span = written - seq
	}
	if cap(q.out) < got {
		q.out = make([]Event, got)
	}
	out := q.out[:got]
	ids := string(q.ids) // one allocation for all the batch's IDs
	idOff, bodyOff := 0, 0
	for k := range out {
		out[k] = Event{ID: ids[idOff:q.ends[k]], Body: q.arena[bodyOff:q.bends[k]:q.bends[k]]}
		idOff, bodyOff = q.ends[k], q.bends[k]
	}

	q.mu.Lock()
	bytes := q.spanBytes(start, p)
	q.readPos = p
	q.readSeq = seq + span
	if q.writeSeq > q.readSeq && lastTime != 0 {
		// The events left were put no earlier than the last one read.
		q.pendingSince = max(q.pendingSince, lastTime)
	}
	q.mu.Unlock()
	if skipped > 0 {
		q.torn.Add(skipped)
	}
	return Batch{Events: out, seq: seq, span: span, bytes: bytes, end: p}, nil
}

// spanBytes returns the segment bytes from a to b, b after a; q.mu is held.
func (q *DiskQueue) spanBytes(a, b pos) int64 {
	if a.seg == b.seg {
		return b.off - a.off
	}
	var n int64
	for _, s := range q.segs {
		switch {
		case s.id == a.seg:
			n += s.size - a.off
		case s.id > a.seg && s.id < b.seg:
			n += s.size - segHeaderSize
		case s.id == b.seg:
			n += b.off - segHeaderSize
		}
	}
	return n
}

// Ack releases batch b, the oldest unacknowledged one: it records the new
// position in the ack file (fsynced per the policy) and deletes segments
// that are now fully acknowledged.
func (q *DiskQueue) Ack(b Batch) error {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("ack batch: %w", ErrClosed)
	}
	if b.seq != q.ackSeq || q.ackSeq+b.span > q.readSeq {
		return fmt.Errorf("ack batch at %d of %d events, oldest unacknowledged is %d: %w", b.seq, b.span, q.ackSeq, ErrAckOrder)
	}
	p := b.end
	// A position at the end of a sealed segment is the start of the next.
	for i := 0; i < len(q.segs)-1; i++ {
		if q.segs[i].id == p.seg && p.off >= q.segs[i].size {
			p = pos{seg: q.segs[i+1].id, off: segHeaderSize}
		}
	}
	durable := q.cfg.Fsync == FsyncAlways
	n, err := writeAckFile(q.dir, p, durable)
	q.fsyncs.Add(uint64(n))
	switch {
	case err != nil:
		// The output has the events: release them anyway. The file keeps
		// an older position, so a restart before the next successful write
		// sends some again (duplicates, not loss); the next Ack or fsync
		// tick retries.
		q.log.Warn("cannot record the acknowledged position", zap.Error(err))
		q.ackDirty = true
	default:
		q.ackDirty = q.cfg.Fsync == FsyncInterval
	}
	q.ackPos = p
	q.ackSeq += b.span
	q.unackedBytes -= b.bytes
	q.dropAcked()
	q.headTime = 0
	if q.ackSeq < q.writeSeq {
		q.headTime = q.peekTime(p)
	} else {
		// Drained: let go of the segment so that a producer recycling it
		// (roll) really frees its space; the next Get opens it again.
		q.rd.close()
	}
	q.acked.Add(uint64(len(b.Events)))
	q.batches.Add(1)
	if q.room.waiting() {
		q.room.wake()
	}
	return nil
}

// peekTime returns the put time of the record at p, or 0 when it cannot be
// read (only the oldest-unacked age depends on it). q.cmu and q.mu are held.
func (q *DiskQueue) peekTime(p pos) int64 {
	for _, s := range q.segs {
		if s.id != p.seg {
			continue
		}
		if p.off >= s.size || q.rd.open(q.dir, s.id) != nil {
			return 0
		}
		rec, err := q.rd.next(p.off, s.size)
		if err != nil {
			return 0
		}
		return rec.putTime
	}
	return 0
}

// Rewind makes Get hand out every unacknowledged event again.
func (q *DiskQueue) Rewind() {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	q.readPos = q.ackPos
	q.readSeq = q.ackSeq
	if q.headTime != 0 {
		q.pendingSince = q.headTime
	}
	if q.writeSeq > q.readSeq {
		q.wait.wake()
	}
	q.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (q *DiskQueue) Stats() Stats {
	q.mu.Lock()
	depth := int64(q.writeSeq - q.ackSeq)
	bytes, disk, head := q.unackedBytes, q.diskBytes, q.headTime
	q.mu.Unlock()
	var age time.Duration
	if depth > 0 && head != 0 {
		age = time.Duration(time.Now().UnixNano() - head)
	}
	st := q.stats()
	st.Events, st.Bytes, st.DiskBytes, st.OldestUnacked = depth, bytes, disk, age
	st.TornSkipped, st.Fsyncs = q.torn.Load(), q.fsyncs.Load()
	return st
}

// Path returns the queue directory.
func (q *DiskQueue) Path() string { return q.dir }

// syncLoop fsyncs the segment being written and the ack file every
// fsync_interval while there is something to sync.
func (q *DiskQueue) syncLoop() {
	defer q.syncer.Done()
	t := time.NewTicker(q.cfg.FsyncInterval)
	defer t.Stop()
	for {
		select {
		case <-q.closing:
			return
		case <-t.C:
			if err := q.sync(); err != nil {
				q.log.Error("disk queue fsync failed", zap.Error(err))
			}
		}
	}
}

// sync writes the ack position if an earlier write of it failed or was not
// fsynced, and, unless the policy is "never", fsyncs the segment being
// written, the ack file and the directory. The segment's fsync runs outside
// q.mu so that producers are not held up by a slow disk; roll fsyncs a
// segment itself before closing it.
func (q *DiskQueue) sync() error {
	durable := q.cfg.Fsync != FsyncNever
	q.mu.Lock()
	w, dirty := q.w, q.dirty && durable
	if dirty {
		q.dirty = false
	}
	q.mu.Unlock()
	var errs []error
	if dirty && w != nil {
		err := w.Sync()
		q.fsyncs.Add(1)
		if err != nil && !errors.Is(err, os.ErrClosed) { // closed: roll synced it
			errs = append(errs, fmt.Errorf("sync segment: %w", err))
			q.mu.Lock()
			q.dirty = true
			q.mu.Unlock()
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ackDirty {
		n, err := writeAckFile(q.dir, q.ackPos, durable)
		q.fsyncs.Add(uint64(n))
		if err != nil {
			errs = append(errs, err)
		} else {
			q.ackDirty = false
			if durable {
				q.dirDirty = false // writeAckFile fsynced the directory
			}
		}
	}
	if durable && q.dirDirty {
		err := syncDir(q.dir)
		q.fsyncs.Add(1)
		if err != nil {
			errs = append(errs, err)
		} else {
			q.dirDirty = false
		}
	}
	return errors.Join(errs...)
}

// Close records the ack position, makes the queue durable (unless fsync is
// "never"), releases its
// files and the directory lock, and wakes every waiter with ErrClosed.
// Unacknowledged events stay on disk for the next Open. Safe to call twice.
func (q *DiskQueue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.closing)
	q.mu.Unlock()
	q.syncer.Wait()

	q.cmu.Lock()
	q.rd.close()
	q.cmu.Unlock()

	var errs []error
	if err := q.sync(); err != nil {
		errs = append(errs, err)
	}
	q.mu.Lock()
	if q.w != nil {
		if err := q.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close segment: %w", err))
		}
		q.w = nil
	}
	q.mu.Unlock()
	if err := q.lock.Close(); err != nil { // closing the descriptor drops the flock
		errs = append(errs, fmt.Errorf("close lock file: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close disk queue %s: %w", q.dir, err)
	}
	return nil
}
