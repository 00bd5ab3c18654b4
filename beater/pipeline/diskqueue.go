package pipeline

import (
	"bytes"
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
// resumes after restart with every event it had written and not seen
// acknowledged (some acknowledged ones may come again: at-least-once).
//
// Durability: once Put returns, the record is in the kernel's page cache and
// survives a crash of the process; a record TryPut accepted gets there
// within about writeDelay (see diskwriter.go). It survives a power loss after
// the next fsync: at once with fsync "always" (Put returns after it), within
// fsync_interval with "interval", never guaranteed with "never".
//
// No disk I/O runs under the queue's mutex: producers plan, a writer writes
// (diskwriter.go), the consumer reads with its own file handle, and Ack
// writes the ack file and deletes segments after releasing it.
//
// DiskQueue is safe for concurrent use by any number of producers (Put,
// TryPut) and one consumer (Get, Ack, Rewind); Stats and Close may be called
// from any goroutine. Put and TryPut copy the event, so the producer may
// reuse Body at once. A Batch's Events, their ID, Index and Body included,
// belong to the queue and are valid until the next Get.
type DiskQueue struct {
	cfg        DiskConfig
	dir        string
	log        *zap.Logger
	lock       *os.File
	maxPayload int64

	ledger // its mu guards the fields below up to the writer's

	segs         []segInfo // oldest first; the last one takes new records
	claimed      []segInfo // claimAcked's result, reused
	diskBytes    int64     // bytes of the planned segments: header and every record placed (what max_size limits)
	nextSeg      uint64    // number of the next segment to plan
	ackPos       pos       // first unacknowledged record
	readPos      pos       // next record Get hands out
	pendingSince int64     // put time (lower bound) of the oldest ready event not handed out
	headTime     int64     // put time of the oldest unacknowledged event, 0 if unknown
	st           stage     // records accepted, not handed to the writer yet
	removals     []uint64  // segments to delete before the next write
	slots        []*putSlot
	writing      bool        // a goroutine holds the writer role
	wrote        *sync.Cond  // on mu: the writer role was released
	flush        *time.Timer // writes the stage (flushStaged)
	urgent       bool        // flush is set to fire at once
	nospace      bool        // the last write failed with ENOSPC
	failLogged   time.Time   // last log of a failed write
	w            *os.File    // the segment being written, for the syncer (the writer owns it)
	dirty        bool        // written since the last fsync of w
	ackDirty     bool        // the ack file does not hold ackPos durably yet
	dirDirty     bool        // a segment created since the directory's last fsync

	// The writer role's: what it is writing and the file it writes.
	wbuf  []byte
	wputs []*putSlot
	wplan []segInfo
	wrm   []uint64
	wf    *os.File
	wseg  uint64

	amu    sync.Mutex // serialises writes of the ack file (Ack and sync)
	syncer sync.WaitGroup

	// Consumer side: cmu serialises Get, Ack and Rewind against Close.
	cmu   sync.Mutex
	rd    segReader
	out   []Event
	arena []byte // bodies of the current batch
	ids   []byte // IDs and indexes of the current batch, turned into one string
	ends  []int  // per event, in ids: the end of its ID, the start and end of its index
	bends []int  // end of each body in arena
	view  []segInfo
	gone  []segInfo

	torn, fsyncs atomic.Uint64
}

// segInfo is one segment of the queue.
type segInfo struct {
	id      uint64
	size    int64  // planned: its header and every record placed in it
	done    int64  // in the file: 0 until the writer has created it
	version uint32 // of its records
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
	}
	q.init(func() int64 { return q.pendingSince })
	q.wrote = sync.NewCond(&q.mu)
	// The reader's bound does not depend on this run's max_size, so that a
	// smaller max_size never turns records written before into "corrupt".
	q.rd.maxPayload = MaxRecordPayload
	if err := q.lockDir(); err != nil {
		return nil, err
	}
	if err := q.recover(); err != nil {
		q.rd.close()
		if q.wf != nil {
			_ = q.wf.Close() // the error above is what matters
		}
		_ = q.lock.Close()
		return nil, err
	}
	q.flush = time.AfterFunc(time.Hour, q.flushStaged)
	q.flush.Stop()
	if cfg.Fsync == FsyncInterval {
		q.syncer.Add(1)
		go q.syncLoop()
	}
	q.log.Info("disk queue opened", zap.String("path", dir), zap.Uint64("events", q.tail),
		zap.Int64("bytes", q.bytes), zap.Int("segments", len(q.segs)), zap.Uint64("torn", q.torn.Load()))
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
		size, version, err := q.checkSegment(id, last)
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
		if err := q.scanSegment(id, version, from, size, last); err != nil {
			return err
		}
	}
	if len(q.segs) == 0 || q.segs[0].id != q.ackPos.seg {
		q.ackPos = pos{off: segHeaderSize, seg: q.ackPos.seg}
		if len(q.segs) > 0 {
			q.ackPos.seg = q.segs[0].id
		}
	}
	q.ready = q.tail
	q.readPos = q.ackPos
	q.rd.close()
	if n := len(q.segs); n > 0 && q.segs[n-1].version == segVersion {
		last := q.segs[n-1]
		f, err := os.OpenFile(filepath.Join(q.dir, segName(last.id)), os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open segment %d for writing: %w", last.id, err)
		}
		q.wf, q.wseg, q.w = f, last.id, f
		q.nextSeg = last.id + 1
		return nil
	}
	// A new queue, or one of an older version: new records go to a new
	// segment of the current version.
	id := q.ackPos.seg
	if n := len(q.segs); n > 0 {
		id = q.segs[n-1].id + 1
	}
	f, err := q.newSegmentFile(id)
	if err != nil {
		return err
	}
	q.wf, q.wseg, q.w = f, id, f
	q.dirDirty = q.cfg.Fsync != FsyncAlways
	q.segs = append(q.segs, segInfo{id: id, size: segHeaderSize, done: segHeaderSize, version: segVersion})
	q.diskBytes += segHeaderSize
	q.nextSeg = id + 1
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

// checkSegment validates a segment's header and returns its size and
// version, or a size of -1 after removing a last segment whose header a
// crash left incomplete.
func (q *DiskQueue) checkSegment(id uint64, last bool) (int64, uint32, error) {
	name := filepath.Join(q.dir, segName(id))
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, fmt.Errorf("open segment %s: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat segment %s: %w", name, err)
	}
	var h [segHeaderSize]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, fmt.Errorf("read segment header %s: %w", name, err)
	}
	if n < segHeaderSize {
		if !last || st.Size() >= segHeaderSize {
			return 0, 0, fmt.Errorf("segment %s: short header: %w", name, ErrCorrupt)
		}
		if err := q.removeSegment(id); err != nil {
			return 0, 0, err
		}
		return -1, 0, nil
	}
	version, ok := parseSegHeader(h[:])
	if !ok {
		return 0, 0, fmt.Errorf("segment %s: unknown header %q: %w", name, h[:], ErrCorrupt)
	}
	return st.Size(), version, nil
}

// scanSegment counts the valid records of segment id from offset from and,
// for the last segment, truncates what follows the last valid record.
func (q *DiskQueue) scanSegment(id uint64, version uint32, from, size int64, last bool) error {
	if err := q.rd.open(q.dir, id, version); err != nil {
		return err
	}
	off := from
	end := from // just after the last valid record
	for off < size {
		rec, err := q.rd.next(off, size)
		switch {
		case err == nil:
			if q.tail == 0 {
				q.headTime = rec.putTime
				q.pendingSince = rec.putTime
			}
			q.tail++
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
	q.segs = append(q.segs, segInfo{id: id, size: size, done: size, version: version})
	q.diskBytes += size
	q.bytes += size - from
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
	from, seq, written := q.readPos, q.read, q.ready
	q.mu.Unlock()
	return q.readBatch(from, seq, written, int(min(ready, uint64(max(maxEvents, 1)))))
}

// readBatch decodes up to n records from p, within what the writer has
// written of the segments of q.view (a snapshot taken under mu: a
// segment's written part only grows). written is the ledger's ready count at
// the time of the snapshot. cmu is held.
func (q *DiskQueue) readBatch(p pos, seq, written uint64, n int) (Batch, error) {
	q.arena, q.ids, q.ends, q.bends = q.arena[:0], q.ids[:0], q.ends[:0], q.bends[:0]
	start := p
	var lastTime int64
	var skipped uint64
	idxFrom, idxTo := 0, 0 // the last index in ids, reused by the next record with the same
	vi := 0
	for vi < len(q.view) && q.view[vi].id < p.seg {
		vi++
	}
	for len(q.bends) < n && vi < len(q.view) {
		seg := q.view[vi]
		off := p.off
		if p.seg != seg.id {
			off = segHeaderSize
		}
		if off >= seg.done {
			vi++
			continue
		}
		if err := q.rd.open(q.dir, seg.id, seg.version); err != nil {
			return Batch{}, err
		}
		rec, err := q.rd.next(off, seg.done)
		if errors.Is(err, errBadRecord) || errors.Is(err, io.ErrUnexpectedEOF) {
			next, rerr := q.rd.resync(off, seg.done)
			if rerr != nil {
				return Batch{}, rerr
			}
			skipped++
			q.log.Warn("corrupt record in the disk queue skipped", zap.Uint64("segment", seg.id),
				zap.Int64("offset", off), zap.Int64("bytes", next-off))
			p = pos{seg: seg.id, off: next}
			continue
		}
		if err != nil {
			return Batch{}, err
		}
		q.arena = append(q.arena, rec.body...)
		q.bends = append(q.bends, len(q.arena))
		q.ids = append(q.ids, rec.id...)
		idEnd := len(q.ids)
		if seg.version == segVersionV1 {
			q.ids = appendLegacyIndex(q.ids, rec.body)
			idxFrom, idxTo = idEnd, len(q.ids)
		} else if !bytes.Equal(rec.index, q.ids[idxFrom:idxTo]) {
			q.ids = append(q.ids, rec.index...)
			idxFrom, idxTo = idEnd, len(q.ids)
		}
		q.ends = append(q.ends, idEnd, idxFrom, idxTo)
		lastTime = rec.putTime
		p = pos{seg: seg.id, off: off + rec.size}
	}
	got := len(q.bends)
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
	ids := string(q.ids) // one allocation for all the batch's IDs and indexes
	idOff, bodyOff := 0, 0
	for k := range out {
		e := q.ends[3*k : 3*k+3]
		out[k] = Event{ID: ids[idOff:e[0]], Index: ids[e[1]:e[2]], Body: q.arena[bodyOff:q.bends[k]:q.bends[k]]}
		idOff, bodyOff = max(e[0], e[2]), q.bends[k]
	}

	q.mu.Lock()
	bytes := q.spanBytes(start, p)
	q.readPos = p
	if q.ready > seq+span && lastTime != 0 {
		// The events left were put no earlier than the last one read.
		q.pendingSince = max(q.pendingSince, lastTime)
	}
	b := q.take(out, span, bytes)
	q.mu.Unlock()
	if skipped > 0 {
		q.torn.Add(skipped)
	}
	b.end = p
	return b, nil
}

// spanBytes returns the segment bytes from a to b, b after a; mu is held.
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
// that are now fully acknowledged, without holding the queue's mutex for
// either.
func (q *DiskQueue) Ack(b Batch) error {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	if err := q.checkAck(b); err != nil {
		q.mu.Unlock()
		return err
	}
	q.ackPos = b.end
	wake := q.release(b)
	q.gone = append(q.gone[:0], q.claimAcked()...)
	p := q.ackPos
	var head segInfo // the segment of the oldest unacknowledged record, when it is in a file
	peek := false
	if q.head < q.ready {
		for _, s := range q.segs {
			if s.id == p.seg {
				head, peek = s, true
			}
		}
	}
	q.headTime = 0
	q.mu.Unlock()

	q.recordAck()
	var freed int64
	for _, s := range q.gone {
		if err := q.removeSegment(s.id); err != nil {
			q.log.Warn("cannot delete acknowledged segment", zap.Uint64("segment", s.id), zap.Error(err))
		}
		freed += s.size
	}
	var headTime int64
	if peek {
		headTime = q.peekTime(p, head)
	} else {
		// Drained: let go of the segment so that a roll that recycles it
		// really frees its space; the next Get opens it again.
		q.rd.close()
	}

	q.mu.Lock()
	q.diskBytes -= freed
	if q.ackPos == p && q.headTime == 0 {
		q.headTime = headTime
	}
	wake = wake || freed > 0 && q.room.waiting()
	q.mu.Unlock()
	q.released(b, wake)
	return nil
}

// recordAck writes ackPos to the ack file, fsynced with fsync "always". A
// failure is logged, not returned: the output has the events, so they are
// released anyway; the file keeps an older position, so a restart before
// the next successful write sends some again (duplicates, not loss), and
// the next Ack or fsync tick retries.
func (q *DiskQueue) recordAck() {
	q.amu.Lock()
	defer q.amu.Unlock()
	q.mu.Lock()
	p := q.ackPos
	q.mu.Unlock()
	n, err := writeAckFile(q.dir, p, q.cfg.Fsync == FsyncAlways)
	q.fsyncs.Add(uint64(n))
	if err != nil {
		q.log.Warn("cannot record the acknowledged position", zap.Error(err))
	}
	q.mu.Lock()
	switch {
	case err != nil:
		q.ackDirty = true
	case q.ackPos == p:
		q.ackDirty = q.cfg.Fsync == FsyncInterval
	}
	q.mu.Unlock()
}

// peekTime returns the put time of the record at p in segment s, or 0 when
// it cannot be read (only the oldest-unacked age depends on it). cmu is held.
func (q *DiskQueue) peekTime(p pos, s segInfo) int64 {
	if p.off >= s.done || q.rd.open(q.dir, s.id, s.version) != nil {
		return 0
	}
	rec, err := q.rd.next(p.off, s.done)
	if err != nil {
		return 0
	}
	return rec.putTime
}

// Rewind makes Get hand out every unacknowledged event again.
func (q *DiskQueue) Rewind() {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	q.mu.Lock()
	q.readPos = q.ackPos
	if q.headTime != 0 {
		q.pendingSince = q.headTime
	}
	q.rewind()
	q.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (q *DiskQueue) Stats() Stats {
	q.mu.Lock()
	st := q.stats(q.headTime)
	st.DiskBytes = q.diskBytes
	q.mu.Unlock()
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
// written, the ack file and the directory. None of it runs under mu, so
// that producers and the consumer are not held up by a slow disk; a roll
// fsyncs a segment itself before closing it.
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
		if err != nil && !errors.Is(err, os.ErrClosed) { // closed: the roll synced it
			errs = append(errs, fmt.Errorf("sync segment: %w", err))
			q.mu.Lock()
			q.dirty = true
			q.mu.Unlock()
		}
	}

	q.amu.Lock()
	q.mu.Lock()
	ackDirty, p := q.ackDirty, q.ackPos
	q.mu.Unlock()
	if ackDirty {
		n, err := writeAckFile(q.dir, p, durable)
		q.fsyncs.Add(uint64(n))
		q.mu.Lock()
		if err != nil {
			errs = append(errs, err)
		} else if q.ackPos == p {
			q.ackDirty = false
		}
		q.mu.Unlock()
	}
	q.amu.Unlock()

	q.mu.Lock()
	dirDirty := durable && q.dirDirty && !(ackDirty && len(errs) == 0) // writeAckFile fsynced the directory
	q.dirDirty = false
	q.mu.Unlock()
	if dirDirty {
		err := syncDir(q.dir)
		q.fsyncs.Add(1)
		if err != nil {
			errs = append(errs, err)
			q.mu.Lock()
			q.dirDirty = true
			q.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// Close writes what was accepted and not written yet, records the ack
// position, makes the queue durable (unless fsync is "never"), releases its
// files and the directory lock, and wakes every waiter with ErrClosed.
// Unacknowledged events stay on disk for the next Open. Safe to call twice.
func (q *DiskQueue) Close() error {
	q.mu.Lock()
	if !q.close() {
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	q.syncer.Wait()
	q.flush.Stop()

	q.mu.Lock()
	for q.writing {
		q.wrote.Wait()
	}
	if q.st.n > 0 || len(q.removals) > 0 {
		q.write()
	}
	q.writing = true // for good: nothing writes after Close
	q.mu.Unlock()

	q.cmu.Lock()
	q.rd.close()
	q.cmu.Unlock()

	var errs []error
	if err := q.sync(); err != nil {
		errs = append(errs, err)
	}
	q.mu.Lock()
	q.w = nil
	q.mu.Unlock()
	if q.wf != nil {
		if err := q.wf.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close segment: %w", err))
		}
		q.wf = nil
	}
	if err := q.lock.Close(); err != nil { // closing the descriptor drops the flock
		errs = append(errs, fmt.Errorf("close lock file: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close disk queue %s: %w", q.dir, err)
	}
	return nil
}
