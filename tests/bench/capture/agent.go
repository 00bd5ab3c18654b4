package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errNotStarted reports a tool that exited or never became ready.
var errNotStarted = errors.New("did not start")

// readyLog is what spawnbeat logs once its proc connector subscription is live.
const readyLog = "capturing with the kernel's proc connector"

// child is a long-lived process the harness started (spawnbeat or
// forkstat). It is not safe for concurrent use, except that its log buffer
// may be written by the process while the harness reads it.
type child struct {
	name  string
	cmd   *exec.Cmd
	logs  *syncBuffer
	done  chan error // receives cmd.Wait's result once
	exit  error      // set by stop
	ended bool
}

func startChild(name string, cmd *exec.Cmd) (*child, error) {
	c := &child{name: name, cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	if cmd.Stderr == nil {
		cmd.Stderr = c.logs
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) toolName() string { return c.name }

// exited reports whether the process has ended (without blocking).
func (c *child) exited() bool {
	if c.ended {
		return true
	}
	select {
	case err := <-c.done:
		c.exit, c.ended = err, true
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process (by its pid), waits up to grace for it
// to exit and kills it after that. It returns the exit error (nil: exit 0).
// Calling it again returns the first result.
func (c *child) stop(grace time.Duration) error {
	if c.ended {
		return c.exit
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.exit = err
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.exit = fmt.Errorf("stop %s: no exit within %s of SIGTERM, killed", c.name, grace)
	}
	c.ended = true
	return c.exit
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// agent is a running spawnbeat with the file output in a home of its own.
// It is not safe for concurrent use.
type agent struct {
	*child
	home string
	out  string // the file output's current file
	port int    // monitoring endpoint
	tail lineTail
	es   string // the Elasticsearch it ships to, where its documents are read; "": the file output
}

// agentConfig is spawnbeat's configuration for a run: the file output
// (never rotated during a run, so one file holds everything), no start-up
// scan, the monitoring endpoint on loopback.
const agentConfig = `spawnbeat:
  capture:
    scan_existing: false%s
%s%s
logging.level: info
logging.json: false
http.enabled: true
http.host: 127.0.0.1
http.port: %d
`

// capture settings beyond agentConfig's, each written only when asked for:
// a baseline build may predate the option.
type settings struct {
	boost    int    // priority_boost; 0 leaves it unset
	execArgs string // exec_args; "" leaves it unset
	esURL    string // ship to this Elasticsearch (output.elasticsearch, defaults otherwise) instead of the file output
	pprof    bool   // serve Go's profiler on the monitoring endpoint
	queue    string // queueDisk for queue.disk at its defaults; "" leaves the memory queue
}

// queueDisk selects the disk queue (-queue disk).
const queueDisk = "disk"

// queueYAML is the top-level queue section of s.
func (s settings) queueYAML() string {
	if s.queue == queueDisk {
		return "queue.disk: {}\n"
	}
	return ""
}

// output is the output section of the configuration.
func (s settings) output() string {
	if s.esURL != "" {
		return fmt.Sprintf("output.elasticsearch:\n  hosts: [%q]", s.esURL)
	}
	return "output.file:\n  rotate_every_kb: 1048576"
}

func (s settings) yaml() string {
	var b strings.Builder
	if s.boost > 0 {
		fmt.Fprintf(&b, "\n    priority_boost: %d", s.boost)
	}
	if s.execArgs != "" {
		fmt.Fprintf(&b, "\n    exec_args: %s", s.execArgs)
	}
	return b.String()
}

// startAgent runs binary, called name in messages, on a fresh home, with
// the given settings, and returns once it logs that it is capturing.
func startAgent(ctx context.Context, name, binary string, set settings, home string) (*agent, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("start spawnbeat: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start spawnbeat: %w", err)
	}
	cfg := filepath.Join(home, "spawnbeat.yml")
	yml := fmt.Appendf(nil, agentConfig, set.yaml(), set.queueYAML(), set.output(), port)
	if set.pprof {
		yml = append(yml, "http.pprof.enabled: true\n"...)
	}
	if err := os.WriteFile(cfg, yml, 0o600); err != nil {
		return nil, fmt.Errorf("start spawnbeat: %w", err)
	}
	cmd := exec.Command(binary, "-c", cfg, "-e", "--path.home", home)
	cmd.Dir = home
	c, err := startChild(name, cmd)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(home, "data", "spawnbeat.ndjson")
	a := &agent{child: c, home: home, out: out, port: port, tail: lineTail{path: out}, es: set.esURL}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(c.logs.String(), readyLog) {
		if a.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			_ = a.stop(5 * time.Second)
			return nil, fmt.Errorf("start %s (exit %w): %w; its log:\n%s", name, a.exit, errNotStarted, tail(c.logs.String(), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// agentStats is the part of GET /stats the benchmark reports.
type agentStats struct {
	Capture struct {
		Kernel struct {
			Lost   uint64 // ENOBUFS reported by the socket
			Storms uint64 // exec storms read every period
			Woken  uint64 // storm periods the exec program ended early
		}
		ExecArgs struct {
			ProgramNS uint64 // the BPF program's run time, while the kernel counts it
		}
	} `json:"capture"`
	Queue struct {
		Dropped  uint64 `json:"dropped"`  // the queue was full
		Rejected uint64 `json:"rejected"` // refused otherwise
	} `json:"queue"`
}

func (a *agent) stats(ctx context.Context) (agentStats, error) {
	var st agentStats
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/stats", a.port), nil)
	if err != nil {
		return st, fmt.Errorf("get stats: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("get stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("get stats: status %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("get stats: %w", err)
	}
	return st, nil
}

// cpuProfile saves a CPU profile of the agent over the next secs seconds
// to path (Go's pprof format, from the monitoring endpoint).
func (a *agent) cpuProfile(ctx context.Context, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", a.port, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: status %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("cpu profile %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return nil
}

// doc is the part of an ECS document the benchmark reads.
type doc struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind    string `json:"kind"`
		Action  string `json:"action"`
		Created string `json:"created"`
	} `json:"event"`
	Process struct {
		Pid    int      `json:"pid"`
		Name   string   `json:"name"`
		Args   []string `json:"args"`
		Parent struct {
			Pid  int      `json:"pid"`
			Name string   `json:"name"`
			Args []string `json:"args"`
		} `json:"parent"`
	} `json:"process"`
	Rule struct {
		ID json.RawMessage `json:"id"` // a string, or an array when several rules match
	} `json:"rule"`
	Spawnbeat struct {
		ReadState string `json:"read_state"`
	} `json:"spawnbeat"`
}

// eachDoc calls fn with every whole document in the output file, in order.
// A last line still being written is skipped. fn's doc is reused between
// calls.
func (a *agent) eachDoc(fn func(*doc)) error {
	if a.es != "" {
		return a.eachIndexed(json.RawMessage(`{"match_all": {}}`), -1, fn)
	}
	f, err := os.Open(a.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read output: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var d doc
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil // no newline yet: a line being written
		}
		if err != nil {
			return fmt.Errorf("read output %s: %w", a.out, err)
		}
		d = doc{}
		if json.Unmarshal(line, &d) != nil {
			continue
		}
		fn(&d)
	}
}

// seenExec reports whether the output holds an exec document with marker
// as one of its args. It reads only what was appended since its last call.
func (a *agent) seenExec(marker string) (bool, error) {
	found := false
	if a.es != "" {
		q, err := json.Marshal(map[string]any{"term": map[string]any{"process.args": marker}})
		if err != nil {
			return false, fmt.Errorf("search %s: %w", marker, err)
		}
		err = a.eachIndexed(q, 1, func(d *doc) { found = found || d.Event.Action == "exec" })
		return found, err
	}
	err := a.tail.scan(func(line []byte) {
		if found || !bytes.Contains(line, []byte(marker)) {
			return
		}
		var d doc
		if json.Unmarshal(line, &d) == nil && d.Event.Action == "exec" && slices.Contains(d.Process.Args, marker) {
			found = true
		}
	})
	return found, err
}

// eachIndexed calls fn with every document of the data stream in
// Elasticsearch that query matches, at most size (-1: all), in the order
// they were indexed.
func (a *agent) eachIndexed(query json.RawMessage, size int, fn func(*doc)) error {
	body, err := json.Marshal(map[string]any{"query": query, "size": size})
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	resp, err := http.Post(a.es+"/logs-spawnbeat.process-*/_search", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil // nothing indexed yet
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("search: status %s", resp.Status)
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	var d doc
	for _, h := range res.Hits.Hits {
		d = doc{}
		if json.Unmarshal(h.Source, &d) == nil {
			fn(&d)
		}
	}
	return nil
}

// lineTail reads the complete lines appended to a file since the last
// scan. It is not safe for concurrent use; it owns its buffer.
type lineTail struct {
	path string
	off  int64 // where the first line not yet passed to fn starts
	buf  []byte
}

// scan calls fn with each complete line appended since the last call. The
// slice is valid only during the call. A line still being written is left
// for the next scan.
func (t *lineTail) scan(fn func(line []byte)) error {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", t.path, err)
	}
	defer f.Close()
	if t.buf == nil {
		t.buf = make([]byte, 1<<20)
	}
	filled := 0
	for {
		n, err := f.ReadAt(t.buf[filled:], t.off+int64(filled))
		filled += n
		start := 0
		for {
			i := bytes.IndexByte(t.buf[start:filled], '\n')
			if i < 0 {
				break
			}
			fn(t.buf[start : start+i])
			start += i + 1
		}
		t.off += int64(start)
		filled = copy(t.buf, t.buf[start:filled])
		if filled == len(t.buf) {
			// One line longer than the buffer: grow it.
			t.buf = append(t.buf, make([]byte, len(t.buf))...)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", t.path, err)
		}
	}
}
