package netlink

import (
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// BenchmarkDecode decodes recorded datagrams into a reused slice: the
// per-event cost of the hot path, which must not allocate.
func BenchmarkDecode(b *testing.B) {
	datagrams := recordedDatagrams(b)
	dst := make([]Event, 0, 4)
	var bytes int64
	for _, d := range datagrams {
		bytes += int64(len(d))
	}
	b.SetBytes(bytes / int64(len(datagrams)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		if dst, err = Decode(datagrams[i%len(datagrams)], dst[:0]); err != nil || len(dst) != 1 {
			b.Fatalf("Decode: %v %v", dst, err)
		}
	}
}

// memSource hands out datagrams from memory, in bursts of burst datagrams
// separated by an empty queue (EAGAIN), as a busy socket would.
type memSource struct {
	datagrams [][]byte
	next      int
	burst     int
}

func (s *memSource) recv(p []byte, wait bool) (int, uint32, error) {
	if !wait && s.next%s.burst == 0 {
		s.next++ // the next call, which waits, gets a datagram
		return 0, 0, unix.EAGAIN
	}
	d := s.datagrams[s.next%len(s.datagrams)]
	s.next++
	return copy(p, d), 0, nil
}

func (s *memSource) close() error { return nil }

// BenchmarkReceive measures Receive (sender check, decode, mask) per
// event, without the syscall.
func BenchmarkReceive(b *testing.B) {
	src := &memSource{datagrams: recordedDatagrams(b), burst: 16}
	c := newConn(src, Options{Events: MaskAll}, zap.NewNop(), &Clock{})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		events, err := c.Receive()
		if err != nil || len(events) == 0 {
			b.Fatalf("Receive: %d events, %v", len(events), err)
		}
		n += len(events)
	}
	b.ReportMetric(float64(n)/float64(b.N), "events/op")
}
