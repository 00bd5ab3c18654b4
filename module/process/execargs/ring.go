package execargs

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring reads a BPF ring buffer through its memory mapping: reading a
// record is a few loads, no system call (kernel/bpf/ringbuf.c).
//
// cilium/ebpf's ringbuf.Reader reads the same mapping, but it asks epoll
// before every drain (a system call, even with a deadline already past),
// takes a mutex and copies each record out. BenchmarkRingRead reads a batch
// of records as a storm's wake-up finds them both ways; reading it here
// costs several times less (docs/performance.md has the figures).
//
// The mapping is the consumer position's page (ours to write), the
// producer position's page, then the data pages twice over, so that a
// record that wraps reads as one slice. Each record starts with an 8-byte
// header: a u32 length whose top bits say busy (still being written) or
// discarded, and a u32 page offset the reader has no use for. Records are
// 8-byte aligned.
type ring struct {
	cons, prod []byte // the two position pages
	data       []byte // 2 × size bytes
	mask       uint64 // size - 1
}

const (
	ringBusy    = 1 << 31
	ringDiscard = 1 << 30
	ringHeader  = 8
)

func mapRing(fd, size int) (*ring, error) {
	page := os.Getpagesize()
	cons, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map the ring's consumer page: %w", err)
	}
	prod, err := unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("map the ring's data: %w", err)
	}
	return &ring{cons: cons, prod: prod, data: prod[page:], mask: uint64(size - 1)}, nil
}

func (r *ring) consPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.cons[0])) }
func (r *ring) prodPos() *uint64 { return (*uint64)(unsafe.Pointer(&r.prod[0])) }

// each hands every committed record to fn, in the ring's order, and
// frees them. It stops at a record still being written: the records after
// it wait for it.
func (r *ring) each(fn func(rec []byte)) {
	prod := atomic.LoadUint64(r.prodPos()) // acquire: the headers up to prod are visible
	pos := atomic.LoadUint64(r.consPos())
	for pos < prod {
		at := pos & r.mask
		// The length is the kernel's release of the record (an xchg):
		// loaded atomically so that the data is visible when it says done.
		n := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[at])))
		if n&ringBusy != 0 {
			break
		}
		size := uint64(n &^ ringDiscard)
		if n&ringDiscard == 0 && at+ringHeader+size <= uint64(len(r.data)) {
			fn(r.data[at+ringHeader : at+ringHeader+size])
		}
		pos += ringHeader + (size+7)&^7
	}
	atomic.StoreUint64(r.consPos(), pos) // release: the kernel may reuse the space
}

func (r *ring) close() error {
	return errors.Join(unix.Munmap(r.prod), unix.Munmap(r.cons))
}
