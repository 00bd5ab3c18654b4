package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// TestE2ECaptureToFile runs the real binary with a config file and checks
// that the documents of real processes reach the file output.
func TestE2ECaptureToFile(t *testing.T) {
	testenv.RequireRoot(t)
	a := startAgent(t, fileConfig)
	marker := fmt.Sprintf("e2e-marker-%d", time.Now().UnixNano())
	// sh lives 50 ms, so /proc is read in full; true may be gone before
	// its args are read, and is found as sh's child.
	script := "/bin/true " + marker + "; sleep 0.05"
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/tmp"
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	shDocs := a.waitDocs(1, 10*time.Second, hasArg(marker))
	if len(shDocs) == 0 {
		t.Fatalf("no exec document for sh -c %q", script)
	}
	sh := shDocs[0]
	children := a.waitDocs(2, 10*time.Second, func(d map[string]any) bool {
		return str(d, "event.action") == "exec" && str(d, "process.parent.entity_id") == str(sh, "process.entity_id")
	})
	// sh's children are true and sleep; sleep lives long enough to be
	// named, true may be gone before /proc is read (then it has no name).
	var tr map[string]any
	for _, d := range children {
		if str(d, "process.name") != "sleep" {
			tr = d
		}
	}
	if tr == nil {
		t.Fatalf("no exec document for true, child of sh: %v", children)
	}
	switch state := str(tr, "spawnbeat.read_state"); {
	case state == "complete" && (str(tr, "process.name") != "true" || strings.Join(strs(tr, "process.args"), " ") != "/bin/true "+marker):
		t.Errorf("true read completely, but name %q args %q", str(tr, "process.name"), strs(tr, "process.args"))
	case state != "complete" && get(tr, "process.args") != nil:
		t.Errorf("true read as %q, yet it has args %v: invented?", state, get(tr, "process.args"))
	}
	if got := strs(sh, "process.args"); strings.Join(got, " ") != "/bin/sh -c "+script {
		t.Errorf("sh args = %q", got)
	}
	if num(sh, "process.args_count") != 3 || str(sh, "process.working_directory") != "/tmp" {
		t.Errorf("sh args_count = %v, cwd = %q", get(sh, "process.args_count"), str(sh, "process.working_directory"))
	}
	if int(num(sh, "process.parent.pid")) != os.Getpid() {
		t.Errorf("sh parent pid = %v, want the test's %d", get(sh, "process.parent.pid"), os.Getpid())
	}
	if str(tr, "event.action") != "exec" || str(tr, "host.os.type") != "linux" || str(tr, "data_stream.dataset") != "spawnbeat.process" {
		t.Errorf("true document: %v", tr)
	}
	if int(num(tr, "process.parent.pid")) != int(num(sh, "process.pid")) || str(tr, "process.parent.name") != str(sh, "process.name") {
		t.Errorf("true's parent = %v, want sh (pid %v)", get(tr, "process.parent"), get(sh, "process.pid"))
	}
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// TestE2ESigtermLeavesCompleteLines stops the agent while processes are
// being started and checks that every line of the output is a whole JSON
// document and that the exit status is 0.
func TestE2ESigtermLeavesCompleteLines(t *testing.T) {
	testenv.RequireRoot(t)
	a := startAgent(t, fileConfig)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = exec.Command("/bin/true", "sigterm-storm").Run()
			}
		}
	}()
	a.waitDocs(50, 20*time.Second, hasArg("sigterm-storm"))
	err := a.stop()
	close(stop)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	raw, err := os.ReadFile(a.out)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("output does not end with a newline (%d bytes)", len(raw))
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not a complete JSON document: %.200s", n, sc.Text())
		}
	}
	if n < 50 {
		t.Errorf("only %d lines", n)
	}
}

// TestE2EBadConfig: a broken config exits non-zero, naming the file, line and key.
func TestE2EBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/spawnbeat.yml"
	if err := os.WriteFile(path, []byte("spawnbeat:\n  capture:\n    mode: sometimes\noutput.file.rotate_every_kbb: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"test", "config"}, {"run"}} {
		cmd := exec.Command(binary, append(args, "-c", path, "--path.home", dir)...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%v: exit 0 with a broken config; output:\n%s", args, out)
		}
		for _, want := range []string{path + ":3: spawnbeat.capture.mode", path + ":4: output.file.rotate_every_kbb: unknown setting"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "test", "config", "-c", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "writable by group or others") {
		t.Errorf("world-writable config: err = %v, output:\n%s", err, out)
	}
}

// TestE2EPriorityBoost runs the agent with priority_boost 4: after it has
// captured a process, every one of its threads (those the Go runtime
// started since the boost too) runs 4 nice steps below the test.
func TestE2EPriorityBoost(t *testing.T) {
	testenv.RequireRoot(t)
	ownNice := niceOf(t, fmt.Sprintf("/proc/%d/stat", os.Getpid()))
	want := max(ownNice-4, -20)
	a := startAgent(t, fileConfig, "-E", "spawnbeat.capture.priority_boost=4")
	a.waitLog(fmt.Sprintf(`"nice": %d`, want), 5*time.Second)
	marker := fmt.Sprintf("e2e-boost-%d", time.Now().UnixNano())
	if err := exec.Command("/bin/sh", "-c", "sleep 0.05", marker).Run(); err != nil {
		t.Fatal(err)
	}
	a.waitDocs(1, 10*time.Second, hasArg(marker))
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", a.cmd.Process.Pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of the agent: %v (%v)", tasks, err)
	}
	for _, stat := range tasks {
		if got := niceOf(t, stat); got != want {
			t.Errorf("%s: nice %d, want %d (the test's %d, less 4)", stat, got, want, ownNice)
		}
	}
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// niceOf reads the nice value from a stat file (proc(5): field 19).
func niceOf(t *testing.T, stat string) int {
	t.Helper()
	b, err := os.ReadFile(stat)
	if err != nil {
		t.Fatal(err)
	}
	// Fields after comm, which may hold spaces, start after its last ")".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	nice, err := strconv.Atoi(fields[19-3])
	if err != nil {
		t.Fatalf("%s: nice %q: %v", stat, fields[19-3], err)
	}
	return nice
}

// TestE2ECapabilities checks that spawnbeat run keeps only the
// capabilities capture needs, in every thread, and still reads another
// user's process whole (exe and cwd need CAP_SYS_PTRACE) and takes
// arguments in the kernel (CAP_BPF, CAP_PERFMON); and that
// drop_capabilities: false keeps what it was given.
func TestE2ECapabilities(t *testing.T) {
	testenv.RequireRoot(t)
	const netAdmin, sysPtrace, dacReadSearch, perfmon, bpf = 12, 19, 2, 38, 39
	own := capsOf(t, fmt.Sprintf("/proc/%d/status", os.Getpid()), "CapBnd")
	want := own & (1<<netAdmin | 1<<sysPtrace | 1<<dacReadSearch | 1<<perfmon | 1<<bpf)

	a := startAgent(t, fileConfig)
	a.waitLog("arguments in the kernel at each exec", 10*time.Second)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", a.cmd.Process.Pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of the agent: %v (%v)", tasks, err)
	}
	for _, status := range tasks {
		// Re-executed with fewer capabilities, it keeps its name.
		if comm, err := os.ReadFile(filepath.Join(filepath.Dir(status), "comm")); err != nil || string(comm) != "spawnbeat\n" {
			t.Errorf("%s: comm %q (%v), want spawnbeat", filepath.Dir(status), comm, err)
		}
		for _, set := range []string{"CapBnd", "CapPrm", "CapEff"} {
			if got := capsOf(t, status, set); got != want {
				t.Errorf("%s %s = %#x, want %#x", status, set, got, want)
			}
		}
		if got := capsOf(t, status, "NoNewPrivs"); got != 1 {
			t.Errorf("%s NoNewPrivs = %d, want 1", status, got)
		}
	}
	marker := fmt.Sprintf("e2e-caps-%d", time.Now().UnixNano())
	cmd := exec.Command("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", "sleep 0.1", marker)
	cmd.Dir = "/tmp"
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	docs := a.waitDocs(1, 10*time.Second, func(d map[string]any) bool {
		return hasArg(marker)(d) && str(d, "process.user.id") == "65534"
	})
	if len(docs) == 0 {
		t.Fatal("no exec document of the process run as nobody")
	}
	if d := docs[0]; str(d, "process.executable") == "" || str(d, "process.working_directory") != "/tmp" {
		t.Errorf("nobody's sh: executable %q, working_directory %q; want both read", str(d, "process.executable"), str(d, "process.working_directory"))
	}
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	b := startAgent(t, fileConfig, "-E", "spawnbeat.drop_capabilities=false")
	if got := capsOf(t, fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid), "CapEff"); got != capsOf(t, fmt.Sprintf("/proc/%d/status", os.Getpid()), "CapEff") {
		t.Errorf("drop_capabilities false: CapEff %#x, want the test's own", got)
	}
	if err := b.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// capsOf reads one capability set (CapBnd, CapEff, …), or another
// hexadecimal or one-digit line (NoNewPrivs), from a status file.
func capsOf(t *testing.T, status, set string) uint64 {
	t.Helper()
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, set+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("%s: %s %q", status, set, v)
			}
			return n
		}
	}
	t.Fatalf("%s: no %s line", status, set)
	return 0
}

// TestE2EExecArgsWithoutBPF: where the kernel will not load the argument
// tap (here: no CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN in the bounding set),
// exec_args auto says why and captures from /proc, and exec_args kernel
// refuses to start, saying why.
func TestE2EExecArgsWithoutBPF(t *testing.T) {
	testenv.RequireRoot(t)
	noBPF := []string{"/usr/bin/setpriv", "--bounding-set", "-bpf,-perfmon,-sys_admin"}

	a := startAgentUnder(t, noBPF, t.TempDir(), fileConfig)
	a.waitLog("exec arguments cannot be taken in the kernel", 5*time.Second)
	marker := fmt.Sprintf("e2e-nobpf-%d", time.Now().UnixNano())
	if err := exec.Command("/bin/sh", "-c", "sleep 0.05", marker).Run(); err != nil {
		t.Fatal(err)
	}
	a.waitDocs(1, 10*time.Second, hasArg(marker))
	if err := a.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "spawnbeat.yml")
	if err := os.WriteFile(path, []byte(fileConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // should it start after all
	defer cancel()
	cmd := exec.CommandContext(ctx, noBPF[0], append(noBPF[1:], binary, "-c", path, "-e", "--path.home", dir,
		"-E", "spawnbeat.capture.exec_args=kernel")...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "take exec arguments in the kernel") || !strings.Contains(string(out), "needs CAP_BPF") {
		t.Errorf("exec_args kernel without BPF: %v, want a failure saying why; output:\n%s", err, out)
	}
}
