package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crashHelperEnv = "SPAWNBEAT_QUEUE_CRASH_HELPER" // queue directory for the child
	crashRoundEnv  = "SPAWNBEAT_QUEUE_CRASH_ROUND"
)

func crashQueueConfig(dir string) DiskConfig {
	cfg := diskConfig(filepath.Join(dir, "queue"))
	cfg.SegmentSize = 64 << 10 // many rollovers and deletions per run
	cfg.MaxSize = 1 << 20      // and backpressure when the output falls behind
	cfg.Fsync = FsyncInterval
	cfg.FsyncInterval = 5 * time.Millisecond
	return cfg
}

// logOutput appends the IDs of every batch it is given to a file, with one
// write(2) per batch so that a SIGKILL leaves whole lines behind, before
// returning nil (and so before the loop acknowledges the batch).
type logOutput struct {
	f   *os.File
	buf []byte
}

func (o *logOutput) Publish(_ context.Context, batch []Event) error {
	o.buf = o.buf[:0]
	for _, ev := range batch {
		o.buf = append(o.buf, ev.ID...)
		o.buf = append(o.buf, '\n')
	}
	if _, err := o.f.Write(o.buf); err != nil {
		return fmt.Errorf("log acked ids: %w", err)
	}
	time.Sleep(200 * time.Microsecond) // a network round trip, so that a backlog builds up
	return nil
}

func (o *logOutput) Close() error { return o.f.Close() }

func appendLog(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHelperProcess is the child of TestDiskQueueCrash: it puts events into
// the disk queue as fast as it can, logging each ID once Put has returned,
// and delivers them to a logOutput, until it is killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashHelperEnv)
	if dir == "" {
		return // not a child
	}
	round := os.Getenv(crashRoundEnv)
	q, err := OpenDisk(crashQueueConfig(dir), "", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	produced := appendLog(t, filepath.Join(dir, "produced-"+round+".log"))
	out := &logOutput{f: appendLog(t, filepath.Join(dir, "acked-"+round+".log"))}
	loop := NewLoop(q, out, LoopConfig{Flush: FlushConfig{MinEvents: 64, Timeout: 5 * time.Millisecond}, BatchSize: 256}, nil)
	go func() { _ = loop.Run(context.Background()) }()
	body := bytes.Repeat([]byte("b"), 200)
	line := make([]byte, 0, 64)
	for i := 0; ; i++ {
		id := fmt.Sprintf("r%s-%08d", round, i)
		if err := q.Put(context.Background(), Event{ID: id, Body: body}); err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			os.Exit(3)
		}
		line = append(append(line[:0], id...), '\n')
		if _, err := produced.Write(line); err != nil {
			os.Exit(4)
		}
	}
}

func readLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestDiskQueueCrash kills a producing and delivering child with SIGKILL,
// several times over the same queue, then drains the queue in the test
// process: every ID that any child had put must have been delivered at least
// once, with no gaps.
func TestDiskQueueCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	const rounds = 3
	for r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(r))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child: %v", err)
		}
		// Kill once the child has produced a few thousand events.
		produced := filepath.Join(dir, fmt.Sprintf("produced-%d.log", r))
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := os.Stat(produced)
			if err == nil && st.Size() > 3000*12 {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: child produced too little in 20s; stderr: %s", r, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(r*7) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill child: %v", err)
		}
		err := cmd.Wait()
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not by SIGKILL; stderr: %s", r, err, stderr.String())
		}
	}

	q := openDisk(t, crashQueueConfig(dir))
	st := q.Stats()
	t.Logf("after %d kills: %d events queued, %d torn records skipped", rounds, st.Events, st.TornSkipped)
	var final []string
	for _, ev := range drain(t, q, 500) {
		final = append(final, ev.ID)
	}

	delivered := map[string]int{}
	for r := range rounds {
		for _, id := range readLines(t, filepath.Join(dir, fmt.Sprintf("acked-%d.log", r))) {
			delivered[id]++
		}
	}
	for _, id := range final {
		delivered[id]++
	}
	total, dups := 0, 0
	for r := range rounds {
		lines := readLines(t, filepath.Join(dir, fmt.Sprintf("produced-%d.log", r)))
		for i, id := range lines {
			if want := fmt.Sprintf("r%d-%08d", r, i); id != want {
				t.Fatalf("round %d: produced log line %d is %q, want %q", r, i, id, want)
			}
			switch n := delivered[id]; {
			case n == 0:
				t.Errorf("event %s was put but never delivered (lost)", id)
			case n > 1:
				dups++
			}
		}
		total += len(lines)
	}
	// What the test process drained comes in put order.
	for i := 1; i < len(final); i++ {
		if !idBefore(final[i-1], final[i]) {
			t.Fatalf("drained out of order: %s before %s", final[i-1], final[i])
		}
	}
	t.Logf("%d events put over %d runs, %d delivered more than once, %d drained after the last kill", total, rounds, dups, len(final))
}

// idBefore reports whether crash-test ID a (r<round>-<n>) was put before b.
func idBefore(a, b string) bool {
	ra, na, _ := strings.Cut(a, "-")
	rb, nb, _ := strings.Cut(b, "-")
	if ra != rb {
		return ra < rb
	}
	return na < nb
}
