package main

import (
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
				if min := time.Duration(n-1) * time.Second / time.Duration(tt.rate); st.elapsed < min {
					t.Errorf("elapsed %v at %d/s, want ≥ %v", st.elapsed, tt.rate, min)
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
