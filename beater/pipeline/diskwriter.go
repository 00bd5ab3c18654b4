package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// How the disk queue's records reach the file. Put and TryPut only plan:
// under the queue's mutex they check the bounds, decide which segment a
// record goes to (and when a new segment starts) and copy the record into
// the stage, memory the queue keeps. The writer role then carries the plan
// out without the mutex: it deletes the segments planned for deletion,
// creates the planned segments, writes the staged records with one
// pwrite(2) per segment and fsyncs as the policy says, then marks them ready
// for Get. So neither the capture goroutine (TryPut) nor Get, Ack and Stats
// ever wait for the disk.
//
// Who takes the writer role: Put, for the stage that holds its record, so
// that Put returns once its record is in the file (as the crash tests rely
// on); for TryPut, a timer writeDelay after the first record of an empty
// stage, or at once when the stage reaches writeAtBytes. A burst of TryPuts
// thus costs one wake-up and one write per writeDelay instead of a write
// each; a TryPut's record is in the file within about writeDelay.
const (
	writeDelay   = 5 * time.Millisecond
	writeAtBytes = 256 << 10
	// stageLimit bounds the records waiting for the writer: TryPut refuses
	// more (counted as dropped), so that a stalled disk costs drops rather
	// than memory or a waiting capture.
	stageLimit = 4 << 20
)

// stage is the records accepted and not yet handed to the writer, encoded
// (without their checksums, which the writer fills in) in put order.
type stage struct {
	buf  []byte
	n    int        // records in buf
	puts []*putSlot // the Puts waiting for records of buf
}

// putSlot is where the writer tells a Put how its record fared. Slots are
// reused: the queue keeps the free ones.
type putSlot struct {
	index int   // the record's place in its stage
	done  bool  // the writer has settled it
	err   error // why it was not written
}

// check returns the size ev takes on disk, and false (counted as rejected)
// for an event that can never be stored.
func (q *DiskQueue) check(ev Event) (int64, bool) {
	size := recordSize(ev)
	if len(ev.ID) > 0xffff || len(ev.Index) > MaxIndexLen || size-recHeaderSize > q.maxPayload {
		q.rejected.Add(1)
		return size, false
	}
	return size, true
}

// Put appends ev, waiting for room while the queue is full, and returns once
// ev is in the segment file (fsynced with fsync "always").
func (q *DiskQueue) Put(ctx context.Context, ev Event) error {
	size, ok := q.check(ev)
	if !ok {
		return fmt.Errorf("put event %q of %d bytes: %w", ev.ID, size, ErrTooLarge)
	}
	q.mu.Lock()
	if err := q.admit(ctx, true, func() bool { return q.makeRoom(size) }); err != nil {
		return fmt.Errorf("put event %q: %w", ev.ID, err)
	}
	slot := q.stageRecord(ev, true)
	for !slot.done {
		if q.writing {
			q.wrote.Wait()
		} else {
			q.write()
		}
	}
	err := slot.err
	*slot = putSlot{}
	q.slots = append(q.slots, slot)
	// Hand the wake-up on to another waiting producer.
	more := err == nil && q.room.waiting()
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("put event %q: %w", ev.ID, err)
	}
	if more {
		q.room.wake()
	}
	return nil
}

// TryPut accepts ev if there is room, without waiting, and reports whether
// it did; a refusal is counted as dropped (full) or rejected. The record
// reaches the file within about writeDelay; should that write fail, it is
// counted as rejected then.
func (q *DiskQueue) TryPut(ev Event) bool {
	size, ok := q.check(ev)
	if !ok {
		return false
	}
	q.mu.Lock()
	fits := func() bool { return len(q.st.buf)+int(size) <= stageLimit && q.makeRoom(size) }
	if q.admit(context.Background(), false, fits) != nil {
		return false
	}
	q.stageRecord(ev, false)
	q.scheduleWrite(q.st.n == 1)
	q.mu.Unlock()
	return true
}

// stageRecord copies ev into the stage, in the segment makeRoom made room
// in, and returns a slot for the writer's verdict when forPut; mu is held.
func (q *DiskQueue) stageRecord(ev Event, forPut bool) *putSlot {
	now := time.Now().UnixNano()
	if q.tail == q.head {
		q.headTime = now
	}
	start := len(q.st.buf)
	q.st.buf = appendRecordUnsealed(q.st.buf, ev, now)
	size := int64(len(q.st.buf) - start)
	q.segs[len(q.segs)-1].size += size
	q.diskBytes += size
	q.accept(1, size)
	var slot *putSlot
	if forPut {
		if k := len(q.slots); k > 0 {
			slot, q.slots = q.slots[k-1], q.slots[:k-1]
		} else {
			slot = new(putSlot)
		}
		slot.index = q.st.n
		q.st.puts = append(q.st.puts, slot)
	}
	q.st.n++
	return slot
}

// makeRoom reports whether a record of size bytes fits under max_size,
// planning a new segment first when the last one is full (or, after the
// file system ran out of space, holds only acknowledged records, whose
// space a new segment frees); mu is held.
func (q *DiskQueue) makeRoom(size int64) bool {
	if len(q.segs) == 0 { // a failed write dropped the planned segments
		q.planSegment()
	}
	cur := q.segs[len(q.segs)-1]
	curAcked := q.ackPos == (pos{seg: cur.id, off: cur.size})
	used := cur.size > segHeaderSize
	needRoll := used && (cur.size+size > int64(q.cfg.SegmentSize) || q.nospace && curAcked)
	if !needRoll && q.diskBytes+size <= int64(q.cfg.MaxSize) {
		return true
	}
	if needRoll || curAcked && used {
		// Rolling frees the current segment when it is fully acknowledged.
		if q.diskBytes+segHeaderSize+size > int64(q.cfg.MaxSize) && !curAcked {
			return false
		}
		q.planSegment()
		for _, s := range q.claimAcked() {
			q.removals = append(q.removals, s.id)
			q.diskBytes -= s.size
		}
		if q.readPos.seg < q.ackPos.seg {
			q.readPos = q.ackPos
		}
	}
	if q.diskBytes+size > int64(q.cfg.MaxSize) {
		if len(q.removals) > 0 && q.st.n == 0 {
			q.scheduleWrite(false) // delete what the roll freed, though nothing is staged
		}
		return false
	}
	return true
}

// planSegment plans segment nextSeg, to be created by the writer; mu is held.
func (q *DiskQueue) planSegment() {
	q.segs = append(q.segs, segInfo{id: q.nextSeg, size: segHeaderSize, version: segVersion})
	q.diskBytes += segHeaderSize
	q.nextSeg++
}

// claimAcked moves ackPos from the end of a segment to the start of the
// next, and takes the segments before ackPos, which hold only acknowledged
// records, out of segs for deletion: it returns them (valid until the next
// call), and the caller deletes them and lowers diskBytes. mu is held.
func (q *DiskQueue) claimAcked() []segInfo {
	for i := 0; i < len(q.segs)-1; i++ {
		if q.segs[i].id == q.ackPos.seg && q.ackPos.off >= q.segs[i].size {
			q.ackPos = pos{seg: q.segs[i+1].id, off: segHeaderSize}
		}
	}
	k := 0
	for k < len(q.segs)-1 && q.segs[k].id < q.ackPos.seg {
		k++
	}
	q.claimed = append(q.claimed[:0], q.segs[:k]...)
	q.segs = append(q.segs[:0], q.segs[k:]...)
	return q.claimed
}

// flushStaged is the flush timer's function: it writes the stage unless
// another goroutine is writing (it reschedules when done) or the queue has
// closed (Close writes the rest).
func (q *DiskQueue) flushStaged() {
	q.mu.Lock()
	if !q.writing && (q.st.n > 0 || len(q.removals) > 0) {
		q.write()
	}
	q.mu.Unlock()
}

// write takes the writer role and carries out the plan: the stage, the
// segments it goes to and the deletions planned so far. mu is held on
// entry and on return, and released while writing; the role must be free.
func (q *DiskQueue) write() {
	q.writing = true
	q.urgent = false
	q.wbuf, q.st.buf = q.st.buf, q.wbuf[:0]
	q.wputs, q.st.puts = q.st.puts, q.wputs[:0]
	n := q.st.n
	q.st.n = 0
	q.wplan = q.wplan[:0]
	for _, s := range q.segs {
		if s.done < s.size {
			q.wplan = append(q.wplan, s)
		}
	}
	q.wrm, q.removals = q.removals, q.wrm[:0]
	q.mu.Unlock()

	sealRecords(q.wbuf)
	written, created, err := q.carryOut()
	records := countRecords(q.wbuf[:written])

	q.mu.Lock()
	for _, p := range q.wplan {
		for i := len(q.segs) - 1; i >= 0; i-- {
			if q.segs[i].id == p.id {
				q.segs[i].done = p.done
				break
			}
		}
	}
	q.w = q.wf
	if created && q.cfg.Fsync != FsyncAlways {
		q.dirDirty = true
	}
	if records > 0 {
		first := recordPutTime(q.wbuf)
		if q.ready == q.read {
			q.pendingSince = first
		}
		if q.ready == q.head && q.headTime == 0 {
			q.headTime = first
		}
		q.makeReady(uint64(records))
		q.dirty = q.dirty || q.cfg.Fsync != FsyncAlways
		q.nospace = false
	}
	for _, s := range q.wputs {
		s.done = true
		if s.index >= records {
			s.err = err
		}
	}
	if err != nil {
		q.failWrite(n-records, int64(len(q.wbuf)-written), err)
		if q.room.waiting() { // the refused records' room is free again
			q.room.wake()
		}
	}
	if cap(q.wbuf) > 2*stageLimit { // a Put of a huge event: do not keep its buffer
		q.wbuf = nil
	}
	q.writing = false
	q.wrote.Broadcast()
	if (q.st.n > 0 || len(q.removals) > 0) && !q.closed {
		q.scheduleWrite(true)
	}
}

// scheduleWrite sets the flush timer for what is staged or planned: at once
// when the stage is large, or when segments wait to be deleted and nothing
// is staged; writeDelay after the first record otherwise. fresh says the
// timer is not set for this stage yet. A timer that fires while another
// goroutine writes does nothing: the writer calls this again when it is
// done and work is left. mu is held.
func (q *DiskQueue) scheduleWrite(fresh bool) {
	now := len(q.st.buf) >= writeAtBytes || q.st.n == 0 && len(q.removals) > 0
	switch {
	case now && (fresh || !q.urgent):
		q.urgent = true
		q.flush.Reset(0)
	case fresh:
		q.flush.Reset(writeDelay)
	}
}

// failWrite refuses, counted as rejected, every accepted record that is not
// in the file: the lost records of the failed write and the whole stage,
// which was planned after them. The plan goes back to what is on disk. mu
// is held.
func (q *DiskQueue) failWrite(lost int, lostBytes int64, err error) {
	lost += q.st.n
	lostBytes += int64(len(q.st.buf))
	for _, s := range q.st.puts {
		s.done, s.err = true, err
	}
	q.st = stage{buf: q.st.buf[:0], puts: q.st.puts[:0]}
	q.refuse(uint64(lost), lostBytes)
	for len(q.segs) > 0 {
		s := &q.segs[len(q.segs)-1]
		if s.done == s.size {
			break
		}
		if s.done == 0 { // never created
			q.diskBytes -= s.size
			q.nextSeg = s.id
			q.segs = q.segs[:len(q.segs)-1]
			continue
		}
		q.diskBytes -= s.size - s.done
		s.size = s.done
	}
	q.nospace = errors.Is(err, unix.ENOSPC)
	if now := time.Now(); now.Sub(q.failLogged) >= 10*time.Second {
		q.failLogged = now
		q.log.Error("disk queue write failed; the events on their way to the file are lost (counted in queue.rejected)",
			zap.Int("events", lost), zap.Error(err))
	}
}

// carryOut deletes the segments of q.wrm, then writes q.wbuf into the
// segments of q.wplan, creating those that do not exist yet, and fsyncs per
// the policy. It runs with the writer role, without mu. It returns the bytes
// of q.wbuf written (whole records), whether it created a segment, and what
// stopped it; a failed write is cut off the file, so the next record follows
// good data.
func (q *DiskQueue) carryOut() (int, bool, error) {
	for _, id := range q.wrm {
		if q.wf != nil && q.wseg == id {
			q.closeWriteFile()
		}
		if err := q.removeSegment(id); err != nil {
			q.log.Warn("cannot delete acknowledged segment", zap.Uint64("segment", id), zap.Error(err))
		}
	}
	off, created := 0, false
	for i := range q.wplan {
		p := &q.wplan[i]
		switch {
		case p.done == 0:
			if err := q.sealWriteFile(); err != nil {
				return off, created, err
			}
			f, err := q.newSegmentFile(p.id)
			if err != nil {
				return off, created, err
			}
			q.wf, q.wseg, p.done, created = f, p.id, segHeaderSize, true
		case q.wf == nil || q.wseg != p.id:
			// A failed roll left an older segment the one written.
			q.closeWriteFile()
			f, err := os.OpenFile(filepath.Join(q.dir, segName(p.id)), os.O_RDWR, 0o600)
			if err != nil {
				return off, created, fmt.Errorf("open segment %d for writing: %w", p.id, err)
			}
			q.wf, q.wseg = f, p.id
		}
		end := off + int(p.size-p.done)
		if _, err := q.wf.WriteAt(q.wbuf[off:end], p.done); err != nil {
			q.cut(p.done)
			return off, created, fmt.Errorf("write segment %d: %w", p.id, err)
		}
		if q.cfg.Fsync == FsyncAlways {
			q.fsyncs.Add(1)
			if err := q.wf.Sync(); err != nil {
				// The records were not taken: do not keep them.
				q.cut(p.done)
				return off, created, fmt.Errorf("sync segment %d: %w", p.id, err)
			}
		}
		p.done, off = p.size, end
	}
	return off, created, nil
}

// cut truncates the segment being written to size after a failed write;
// writer role.
func (q *DiskQueue) cut(size int64) {
	if err := q.wf.Truncate(size); err != nil {
		q.log.Error("cannot truncate a failed write", zap.Uint64("segment", q.wseg), zap.Error(err))
	}
}

// sealWriteFile fsyncs (with fsync "interval") and closes the segment being
// written, before the next one is created; writer role. Always-policy
// writes are fsynced already. It syncs even when not dirty: the interval
// syncer may be between clearing the flag and its own fsync of this file.
func (q *DiskQueue) sealWriteFile() error {
	if q.wf == nil {
		return nil
	}
	if q.cfg.Fsync == FsyncInterval {
		q.fsyncs.Add(1)
		if err := q.wf.Sync(); err != nil {
			return fmt.Errorf("sync segment %d: %w", q.wseg, err)
		}
	}
	q.closeWriteFile()
	return nil
}

// closeWriteFile closes the segment being written, if one is open; writer
// role.
func (q *DiskQueue) closeWriteFile() {
	if q.wf == nil {
		return
	}
	if err := q.wf.Close(); err != nil {
		q.log.Warn("closing a segment failed", zap.Uint64("segment", q.wseg), zap.Error(err))
	}
	q.wf = nil
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
	}
	return f, nil
}

// sealRecords fills in the checksum of every record of b.
func sealRecords(b []byte) {
	for len(b) > 0 {
		n := recordLen(b)
		sealRecord(b[:n])
		b = b[n:]
	}
}

// countRecords returns the number of records in b.
func countRecords(b []byte) int {
	n := 0
	for len(b) > 0 {
		b = b[recordLen(b):]
		n++
	}
	return n
}
