package netlink

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxRecordedLine bounds a recording's line: a 64 KiB datagram in hex.
const maxRecordedLine = 2*65536 + 32

// replaySource plays back a recording (format: see NewReplay). It hands
// out one datagram per recv whether or not the caller waits, so Receive
// gathers batches the way it does from a busy socket.
type replaySource struct {
	sc     *bufio.Scanner
	line   int
	closed bool
}

func newReplaySource(r io.Reader) *replaySource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxRecordedLine)
	return &replaySource{sc: sc}
}

func (s *replaySource) recv(p []byte, wait bool) (int, uint32, error) {
	if s.closed {
		return 0, 0, ErrClosed
	}
	for s.sc.Scan() {
		s.line++
		line := bytes.TrimSpace(s.sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if string(line) == "ENOBUFS" {
			return 0, 0, unix.ENOBUFS
		}
		sender, data, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			return 0, 0, fmt.Errorf("recording line %d: want \"<sender> <hex>\": %w", s.line, ErrMalformed)
		}
		from, err := strconv.ParseUint(string(sender), 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("recording line %d: sender: %w", s.line, err)
		}
		data = bytes.TrimSpace(data)
		n := hex.DecodedLen(len(data))
		if n > len(p) {
			// Like netlink with MSG_TRUNC: report the full length.
			if _, err := hex.Decode(p, data[:2*len(p)]); err != nil {
				return 0, 0, fmt.Errorf("recording line %d: %w", s.line, err)
			}
			return n, uint32(from), nil
		}
		if _, err := hex.Decode(p, data); err != nil {
			return 0, 0, fmt.Errorf("recording line %d: %w", s.line, err)
		}
		return n, uint32(from), nil
	}
	if err := s.sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("recording line %d: %w", s.line+1, err)
	}
	if !wait {
		return 0, 0, unix.EAGAIN // let Receive return what it gathered first
	}
	return 0, 0, io.EOF
}

func (s *replaySource) close() error {
	s.closed = true
	return nil
}
