package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMain lets the test binary serve as the launcher processes, as the
// harness's own binary does.
func TestMain(m *testing.M) {
	if status, ok := launcherRole(); ok {
		os.Exit(status)
	}
	os.Exit(m.Run())
}

func TestLaunchPlanRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		plan launchPlan
	}{
		{"true at max", launchPlan{m: markers{prefix: "spawnbeat-bench-x-true-0-1-", n: 2000}, first: 0, step: 3, rate: 0}},
		{"sh at 500/s", launchPlan{m: markers{prefix: "spawnbeat-bench-x-sh-500-2-", n: 7}, first: 2, step: 4, rate: 500}},
	}
	kinds := stormKinds()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.plan.kind = kinds[i%len(kinds)]
			got, err := parseLaunchPlan(launcherArgs(tt.plan))
			if err != nil {
				t.Fatal(err)
			}
			// kind holds a func: compare it by its tag.
			if got.kind.Tag != tt.plan.kind.Tag {
				t.Errorf("kind %q, want %q", got.kind.Tag, tt.plan.kind.Tag)
			}
			got.kind, tt.plan.kind = kind{}, kind{}
			if diff := cmp.Diff(tt.plan, got, cmp.AllowUnexported(launchPlan{}, markers{}, kind{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLaunchPlanErrors(t *testing.T) {
	good := launcherArgs(launchPlan{kind: stormKinds()[0], m: markers{prefix: "p-", n: 5}, step: 1})
	with := func(flag, value string) []string {
		args := slices.Clone(good)
		i := slices.Index(args, flag)
		args[i+1] = value
		return args
	}
	tests := []struct {
		name string
		args []string
	}{
		{"unknown kind", with("-kind", "python")},
		{"no prefix", with("-prefix", "")},
		{"no processes", with("-n", "0")},
		{"negative first", with("-first", "-1")},
		{"zero step", with("-step", "0")},
		{"negative rate", with("-rate", "-5")},
		{"not a number", with("-n", "many")},
		{"unknown flag", append(slices.Clone(good), "-fast")},
		{"extra argument", append(slices.Clone(good), "extra")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := parseLaunchPlan(tt.args); err == nil {
				t.Errorf("parseLaunchPlan(%q) = %+v, want an error", tt.args, p)
			}
		})
	}
}

// TestFleet launches small storms of /bin/true through real launcher
// processes (this test binary re-executed) and checks that every index
// got its own pid from the launcher that owns it, that the launcher's argv
// is known for the parent-args check, that every child was reaped (the
// launcher fails unless wait4(-1) ends with ECHILD after as many reaps as
// launches), and that a fixed rate is kept to.
func TestFleet(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		n         int
		launchers int
		rate      int
	}{
		{"one launcher at max", 50, 1, 0},
		{"three launchers at max", 50, 3, 0},
		{"two launchers at 1000/s", 50, 2, 1000},
		{"more launchers than processes", 2, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			m := markers{prefix: fmt.Sprintf("spawnbeat-bench-test-%d-true-%d-", os.Getpid(), tt.launchers), n: n}
			k := stormKinds()[0]
			st, err := fleet{exe: exe, count: tt.launchers}.run(context.Background(), k, m, tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			if st.failed != 0 || st.err != nil {
				t.Fatalf("%d launches failed, first: %v", st.failed, st.err)
			}
			if len(st.argv) != tt.launchers {
				t.Fatalf("%d launcher argvs, want %d", len(st.argv), tt.launchers)
			}
			// Which launcher started index i: the one whose -first is i mod count.
			owner := map[int]int{}
			for pid, argv := range st.argv {
				if argv[0] != exe {
					t.Errorf("launcher %d argv[0] %q, want %q", pid, argv[0], exe)
				}
				plan, err := parseLaunchPlan(argv[1:])
				if err != nil {
					t.Fatalf("launcher %d argv %q: %v", pid, argv, err)
				}
				if plan.step != tt.launchers || plan.rate != tt.rate || plan.m != m || plan.kind.Tag != k.Tag {
					t.Errorf("launcher %d plan %+v", pid, plan)
				}
				owner[plan.first] = pid
			}
			seen := map[int]int{}
			for i, pid := range st.pids {
				if pid <= 0 {
					t.Errorf("index %d: no pid", i)
					continue
				}
				if j, dup := seen[pid]; dup {
					t.Errorf("pid %d reported for indexes %d and %d", pid, j, i)
				}
				seen[pid] = i
				if want := owner[i%tt.launchers]; st.parents[i] != want {
					t.Errorf("index %d: parent %d, want launcher %d", i, st.parents[i], want)
				}
			}
			if tt.rate > 0 {
				// Index n-1 is due (n-1)/rate after the start, and never launched early.
				if due := time.Duration(n-1) * time.Second / time.Duration(tt.rate); st.elapsed < due {
					t.Errorf("elapsed %v at %d/s, want ≥ %v", st.elapsed, tt.rate, due)
				}
			}
			if st.elapsed <= 0 {
				t.Errorf("elapsed %v", st.elapsed)
			}
			// 50 fork+execs cost CPU in the launchers and the processes.
			if st.selfCPU <= 0 || st.procCPU <= 0 {
				t.Errorf("launcher CPU %v, storm processes' CPU %v: want both > 0", st.selfCPU, st.procCPU)
			}
		})
	}
}

// TestFleetBrokenLauncher: a launcher that never reports ready (here
// /bin/true in place of this binary) is an error, not a hang.
func TestFleetBrokenLauncher(t *testing.T) {
	m := markers{prefix: "spawnbeat-bench-test-broken-", n: 5}
	_, err := fleet{exe: "/bin/true", count: 2}.run(context.Background(), stormKinds()[0], m, 0)
	if !errors.Is(err, errLauncher) {
		t.Fatalf("run with /bin/true as launcher: %v, want errLauncher", err)
	}
}

// BenchmarkFleet measures the launch rate the harness reaches (no agent
// running), per kind, rate (0: as fast as possible) and launcher count,
// with the CPU per launch of the storm processes and of the launchers:
//
//	go test -run '^$' -bench Fleet -benchtime 2000x ./tests/bench/capture
func BenchmarkFleet(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	type setting struct{ rate, launchers int }
	settings := []setting{{0, 1}, {0, 2}, {0, 3}, {0, 4}, {500, defaultLaunchers}, {1000, defaultLaunchers}}
	for _, k := range stormKinds() {
		for _, s := range settings {
			rate := strings.TrimSuffix(rateName(s.rate), "/s") // "500", "max": no slash in a benchmark name
			b.Run(fmt.Sprintf("%s/rate=%s/launchers=%d", k.Tag, rate, s.launchers), func(b *testing.B) {
				b.ReportAllocs()
				m := markers{prefix: fmt.Sprintf("spawnbeat-bench-b-%s-%d-%d-", k.Tag, s.rate, s.launchers), n: b.N}
				st, err := fleet{exe: exe, count: s.launchers}.run(context.Background(), k, m, s.rate)
				if err != nil {
					b.Fatal(err)
				}
				if st.failed != 0 {
					b.Fatalf("%d launches failed: %v", st.failed, st.err)
				}
				b.ReportMetric(float64(b.N)/st.elapsed.Seconds(), "launches/s")
				b.ReportMetric(float64(st.procCPU.Microseconds())/float64(b.N), "proc-cpu-µs/launch")
				b.ReportMetric(float64(st.selfCPU.Microseconds())/float64(b.N), "launcher-cpu-µs/launch")
			})
		}
	}
}

// TestLauncherRead parses a launcher's report: pids land only in the
// launcher's own indexes, and anything else is a protocol error.
func TestLauncherRead(t *testing.T) {
	type got struct {
		Pids, Parents                []int
		OK, Reported, Failed, Reaped int
		SelfCPU, ProcCPU             time.Duration
		Last                         int64
		Err, ProtoErr                bool
	}
	tests := []struct {
		name   string
		report string
		want   got
	}{
		{"complete", "0 101\n2 102\nlaunched 2 0 1700000000000000000\nreaped 2 300 9000\n",
			got{Pids: []int{101, 0, 102, 0}, Parents: []int{7, 0, 7, 0}, OK: 2, Reported: 2, Reaped: 2, SelfCPU: 300 * time.Microsecond, ProcCPU: 9 * time.Millisecond, Last: 1700000000000000000}},
		{"a launch failed", "0 101\nerror launch /bin/true: EPERM\nlaunched 1 1 1700000000000000000\nreaped 1 1 2\n",
			got{Pids: []int{101, 0, 0, 0}, Parents: []int{7, 0, 0, 0}, OK: 1, Reported: 1, Failed: 1, Reaped: 1, SelfCPU: time.Microsecond, ProcCPU: 2 * time.Microsecond, Last: 1700000000000000000, Err: true}},
		{"nothing launched", "launched 0 0 0\nreaped 0 5 0\n",
			got{Pids: make([]int, 4), Parents: make([]int, 4), SelfCPU: 5 * time.Microsecond}},
		{"another launcher's index", "1 101\n", got{Pids: make([]int, 4), Parents: make([]int, 4), ProtoErr: true}},
		{"index out of range", "4 101\n", got{Pids: make([]int, 4), Parents: make([]int, 4), ProtoErr: true}},
		{"no pid", "0 x\n", got{Pids: make([]int, 4), Parents: make([]int, 4), ProtoErr: true}},
		{"short reaped line", "reaped 2\n", got{Pids: make([]int, 4), Parents: make([]int, 4), ProtoErr: true}},
		{"unknown word", "hello\n", got{Pids: make([]int, 4), Parents: make([]int, 4), ProtoErr: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storm{pids: make([]int, 4), parents: make([]int, 4)}
			p := &launcherProc{plan: launchPlan{first: 0, step: 2}, pid: 7, out: bufio.NewReader(strings.NewReader(tt.report))}
			p.read(&st)
			var last int64
			if !p.last.IsZero() {
				last = p.last.UnixNano()
			}
			g := got{Pids: st.pids, Parents: st.parents, OK: p.ok, Reported: p.reported, Failed: p.failed, Reaped: p.reaped,
				SelfCPU: p.selfCPU, ProcCPU: p.procCPU, Last: last, Err: p.err != nil, ProtoErr: p.protoErr != nil}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("read(%q) (-want +got):\n%s", tt.report, diff)
			}
		})
	}
}

// FuzzLauncherRead: any report parses without panicking, and a pid only
// ever lands in an index of the launcher's own plan.
func FuzzLauncherRead(f *testing.F) {
	f.Add("0 101\n2 102\nlaunched 2 0 1700000000000000000\nreaped 2 300 9000\n")
	f.Add("error x\nlaunched 0 1 0\nreaped 0 1 1\n")
	f.Add("-2 5\n3 -1\n1 9\n")
	f.Fuzz(func(t *testing.T, report string) {
		st := storm{pids: make([]int, 7), parents: make([]int, 7)}
		p := &launcherProc{plan: launchPlan{first: 1, step: 3}, pid: 7, out: bufio.NewReader(strings.NewReader(report))}
		p.read(&st)
		for i, pid := range st.pids {
			if pid != 0 && (i%3 != 1 || pid < 0 || st.parents[i] != 7) {
				t.Errorf("index %d got pid %d (parent %d): not this launcher's", i, pid, st.parents[i])
			}
		}
	})
}
