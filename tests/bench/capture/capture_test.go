package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseForkstatExec(t *testing.T) {
	type parsed struct {
		Pid     int
		Cmdline string
		OK      bool
	}
	tests := []struct {
		name string
		line string
		want parsed
	}{
		{"exec with args", "06:46:40 exec  23445                 /bin/true hello-marker-1 ", parsed{23445, "/bin/true hello-marker-1", true}},
		{"args with spaces", "06:46:40 exec  23452                 /bin/sh -c sleep 0.005; exit 0 m-1 ", parsed{23452, "/bin/sh -c sleep 0.005; exit 0 m-1", true}},
		{"unknown cmdline", "06:46:40 exec  23453                 <unknown>", parsed{23453, "<unknown>", true}},
		{"header", "Time     Event   PID Info   Duration Process", parsed{}},
		{"fork line", "06:46:40 fork  23445 parent          /bin/sh", parsed{}},
		{"bad pid", "06:46:40 exec  x1                    /bin/true", parsed{}},
		{"empty", "", parsed{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, cmdline, ok := parseForkstatExec([]byte(tt.line))
			got := parsed{pid, string(cmdline), ok}
			if !ok {
				got = parsed{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseForkstatExec(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func FuzzParseForkstatExec(f *testing.F) {
	f.Add(12, "/bin/true m-1")
	f.Add(1, "<unknown>")
	f.Add(99999, "/bin/sh -c sleep 0.005; exit 0 m")
	f.Fuzz(func(t *testing.T, pid int, cmdline string) {
		// Anything parses without panicking …
		parseForkstatExec([]byte(cmdline))
		// … and a line as forkstat writes it parses back.
		cmdline = strings.TrimSpace(cmdline)
		if pid < 0 || cmdline == "" || strings.ContainsAny(cmdline, "\n\r") {
			return
		}
		line := fmt.Sprintf("07:00:00 exec  %d                 %s ", pid, cmdline)
		gotPid, gotCmd, ok := parseForkstatExec([]byte(line))
		if !ok || gotPid != pid || string(gotCmd) != cmdline {
			t.Errorf("parseForkstatExec(%q) = %d, %q, %v", line, gotPid, gotCmd, ok)
		}
	})
}

func TestMarkersIndex(t *testing.T) {
	m := markers{prefix: "spawnbeat-bench-x-true-500-1-", n: 20}
	tests := []struct {
		name   string
		args   []string
		want   int
		wantOK bool
	}{
		{"whole argument", []string{"/bin/true", m.marker(7)}, 7, true},
		{"two digits, not a prefix of another", []string{"/bin/true", m.marker(17)}, 17, true},
		{"inside python code", []string{"/usr/bin/python3", "-c", `import pty; pty.spawn("/bin/sh") # ` + m.marker(3)}, 3, true},
		{"out of range", []string{"/bin/true", m.prefix + "20"}, 0, false},
		{"other run", []string{"/bin/true", "spawnbeat-bench-y-true-500-1-3"}, 0, false},
		{"no args", nil, 0, false},
		{"prefix without digits", []string{m.prefix}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := m.index(tt.args)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("index(%q) = %d, %v; want %d, %v", tt.args, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestMedianPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		xs     []float64
		median float64
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"odd", []float64{3, 1, 2}, 2, ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"even", []float64{4, 1, 3, 2}, 2.5, ms(1, 2, 3, 4), 99, 4 * time.Millisecond},
		{"none", nil, 0, nil, 99, 0},
		{"p99 of 100 is the 99th", []float64{1}, 1, ms(hundred...), 99, 99 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.median {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.median)
			}
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// TestLineTail: complete lines once each, a partial line only once it is
// complete, lines longer than the buffer.
func TestLineTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	tl := lineTail{path: path, buf: make([]byte, 8)}
	var got []string
	scan := func() {
		t.Helper()
		if err := tl.scan(func(l []byte) { got = append(got, string(l)) }); err != nil {
			t.Fatal(err)
		}
	}
	scan() // no file yet
	steps := []struct {
		name   string
		append string
		want   []string
	}{
		{"two lines and a partial", "a\nbb\ncc", []string{"a", "bb"}},
		{"partial completed", "c\n", []string{"ccc"}},
		{"longer than the buffer", strings.Repeat("x", 30) + "\n", []string{strings.Repeat("x", 30)}},
		{"nothing new", "", nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(st.append); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got = nil
			scan()
			if diff := cmp.Diff(st.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCountAgent matches a hand-written output file to a storm: by marker,
// by pid when args are gone, the parent's args, other processes inside and
// outside the probe window, sh's children, duplicates.
func TestCountAgent(t *testing.T) {
	const self, other, harness = 1000, 1001, 999 // two launchers and the harness
	selfArgs := []string{"/tmp/capture", "-kind", "true", "-first", "0"}
	otherArgs := []string{"/tmp/capture", "-kind", "true", "-first", "1"}
	k := stormKinds()[0] // /bin/true
	m := markers{prefix: "spawnbeat-bench-t-true-0-1-", n: 3}
	type proc struct {
		Pid    int      `json:"pid"`
		Args   []string `json:"args,omitempty"`
		Parent struct {
			Pid  int      `json:"pid"`
			Args []string `json:"args,omitempty"`
		} `json:"parent"`
	}
	line := func(action string, pid, ppid int, args, pargs []string, state string) string {
		var d struct {
			Event     map[string]string `json:"event"`
			Process   proc              `json:"process"`
			Spawnbeat map[string]string `json:"spawnbeat"`
		}
		d.Event = map[string]string{"action": action}
		d.Process.Pid, d.Process.Args, d.Process.Parent.Pid, d.Process.Parent.Args = pid, args, ppid, pargs
		d.Spawnbeat = map[string]string{"read_state": state}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lines := []string{
		line("exec", 50, 1, []string{"cron"}, nil, "complete"),                                // before the window: not counted
		line("exec", 1990, harness, probeArgv("ready"), []string{"capture"}, "complete"),      // ready probe
		line("exec", self, harness, selfArgs, []string{"capture"}, "complete"),                // a launcher: not other
		line("exec", 2001, self, k.argv(m.marker(0)), selfArgs, "complete"),                   // full
		line("end", 2001, self, k.argv(m.marker(0)), selfArgs, "complete"),                    // not an exec
		line("exec", 2002, self, nil, selfArgs, "exited"),                                     // args gone: by pid
		line("exec", 2003, self, []string{"/bin/true"}, nil, "partial"),                       // partial args, no parent args
		line("exec", 2003, self, k.argv(m.marker(2)), selfArgs, "complete"),                   // duplicate: first one counts
		line("exec", 3000, 2003, []string{"sleep", "0.005"}, k.argv(m.marker(2)), "complete"), // a storm process's child
		line("exec", 3001, 77, []string{"make"}, []string{"bash"}, "complete"),                // other
		line("exec", 3002, self, nil, nil, "exited"),                                          // unknown pid: other
		line("exec", 2002, other, nil, otherArgs, "exited"),                                   // a storm pid, wrong launcher: other
		line("exec", 1991, harness, probeArgv("end"), []string{"capture"}, "complete"),        // end probe
		line("exec", 3003, 77, []string{"make"}, []string{"bash"}, "complete"),                // after the window
	}
	dir := t.TempDir()
	a := &agent{out: filepath.Join(dir, "spawnbeat.ndjson")}
	if err := os.WriteFile(a.out, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := storm{
		pids:    []int{2001, 2002, 2003},
		parents: []int{self, self, self},
		argv:    map[int][]string{self: selfArgs, other: otherArgs},
	}
	byPid := map[int]int{2001: 0, 2002: 1, 2003: 2}
	got := stormResult{States: map[string]int{}}
	if err := countAgent(a, k, m, st, byPid, "ready", "end", &got); err != nil {
		t.Fatal(err)
	}
	want := stormResult{Docs: 3, Full: 1, ParentFull: 2, Other: 3, States: map[string]int{"complete": 1, "exited": 1, "partial": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("countAgent (-want +got):\n%s", diff)
	}
}

func TestCountForkstat(t *testing.T) {
	k := stormKinds()[1] // sh
	m := markers{prefix: "spawnbeat-bench-t-sh-0-1-", n: 3}
	out := filepath.Join(t.TempDir(), "forkstat.out")
	text := "Time     Event   PID Info   Duration Process\n" +
		"07:00:00 exec     11                 " + strings.Join(k.argv(m.marker(0)), " ") + " \n" +
		"07:00:00 exec     12                 <unknown>\n" +
		"07:00:00 exec     99                 " + strings.Join(k.argv(m.marker(2)), " ") + " \n" + // not a storm pid
		"07:00:00 exec     11                 sleep 0.005 \n" // same pid again: first line counts
	if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got := stormResult{}
	fs := &forkstat{out: out}
	if err := countForkstat(fs, k, m, map[int]int{11: 0, 12: 1, 13: 2}, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stormResult{FSSeen: 2, FSFull: 1}, got); diff != "" {
		t.Errorf("countForkstat (-want +got):\n%s", diff)
	}
}

// TestProcStat reads this test process's own /proc entries.
func TestProcStat(t *testing.T) {
	pid := os.Getpid()
	tests := []struct {
		name  string
		check func() error
	}{
		{"cpu", func() error {
			d, err := cpuTime(pid)
			if err == nil && d < 0 {
				err = fmt.Errorf("negative cpu time %v", d)
			}
			return err
		}},
		{"memory", func() error {
			m, err := readMemory(pid)
			if err == nil && (m.NowKiB == 0 || m.PeakKiB < m.NowKiB) {
				err = fmt.Errorf("memory %+v: want 0 < VmRSS ≤ VmHWM", m)
			}
			return err
		}},
		{"no such process", func() error {
			if _, err := cpuTime(-1); err == nil {
				return fmt.Errorf("cpuTime(-1): no error")
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCeiling(t *testing.T) {
	tests := []struct {
		name string
		cpus int
		ms   float64
		want string
	}{
		{"two CPUs, 2 ms each", 2, 2, "1000"},
		{"two CPUs, 8 ms each", 2, 8, "250"},
		{"one CPU, 0.3 ms each", 1, 0.3, "3333"},
		{"no cost measured", 2, 0, "—"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ceiling(tt.cpus, tt.ms); got != tt.want {
				t.Errorf("ceiling(%d, %v) = %q, want %q", tt.cpus, tt.ms, got, tt.want)
			}
		})
	}
}

// TestWriteBaseline checks the side-by-side table: each run's CPU ratio
// to the baseline and their median.
func TestWriteBaseline(t *testing.T) {
	run := func(cpu, baseCPU time.Duration, full, baseFull int) stormResult {
		return stormResult{Kind: "/bin/true", Rate: 500, Launched: 1000, Full: full,
			Agent: usage{CPU: cpu}, Base: usage{CPU: baseCPU}, BaseFull: baseFull}
	}
	r := report{opts: options{baseline: "/tmp/old-spawnbeat"}, storms: []stormResult{
		run(270*time.Millisecond, 300*time.Millisecond, 990, 980),
		run(330*time.Millisecond, 300*time.Millisecond, 992, 984),
		run(285*time.Millisecond, 300*time.Millisecond, 994, 982),
	}}
	var out strings.Builder
	r.writeBaseline(&out)
	want := "| /bin/true | 500/s | 0.90, 1.10, 0.95 | 0.95 | 99.2 % | 98.2 % |"
	if !strings.Contains(out.String(), want) {
		t.Errorf("baseline table:\n%s\nwant the row %s", out.String(), want)
	}
}

// TestExit0 runs the hand-made static program: it must exec and exit 0,
// or the exit0 storm measures failures.
func TestExit0(t *testing.T) {
	prog, err := exit0()
	if err != nil {
		t.Skip(err) // no program for this architecture
	}
	path := filepath.Join(t.TempDir(), "exit0")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "some", "args").CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("exit0: %v, output %q", err, out)
	}
}
