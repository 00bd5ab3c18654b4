package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGeneratorDocuments(t *testing.T) {
	tests := []struct {
		name               string
		full               bool
		minSize, maxSize   int
		wantLeaders        bool
		wantParentUserName string
	}{
		{"small", false, 1400, 1900, false, ""},
		{"full", true, 2400, 3000, true, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGenerator(namespace, tt.full)
			ids := map[string]bool{}
			lastArgs := map[string]bool{}
			var buf []byte
			for i := range 1000 {
				var id string
				buf, id = g.next(buf[:0])
				if len(buf) < tt.minSize || len(buf) > tt.maxSize {
					t.Fatalf("document %d is %d bytes, want %d..%d", i, len(buf), tt.minSize, tt.maxSize)
				}
				var doc struct {
					Timestamp string `json:"@timestamp"`
					Event     struct {
						ID       string `json:"id"`
						Action   string `json:"action"`
						Sequence int    `json:"sequence"`
					} `json:"event"`
					Process struct {
						Args        []string `json:"args"`
						ArgsCount   int      `json:"args_count"`
						EntryLeader any      `json:"entry_leader"`
						Parent      struct {
							User struct {
								Name string `json:"name"`
							} `json:"user"`
						} `json:"parent"`
					} `json:"process"`
					DataStream struct {
						Namespace string `json:"namespace"`
					} `json:"data_stream"`
				}
				if err := json.Unmarshal(buf, &doc); err != nil {
					t.Fatalf("document %d is not JSON: %v\n%s", i, err, buf)
				}
				if doc.Event.ID != id || ids[id] {
					t.Fatalf("document %d: event.id %q, returned id %q, seen before %v", i, doc.Event.ID, id, ids[id])
				}
				ids[id] = true
				lastArgs[doc.Process.Args[len(doc.Process.Args)-1]] = true
				got := []any{doc.Event.Action, doc.Event.Sequence, doc.Process.ArgsCount, doc.DataStream.Namespace, doc.Process.EntryLeader != nil, doc.Process.Parent.User.Name, doc.Timestamp != ""}
				want := []any{"exec", i + 1, len(doc.Process.Args), namespace, tt.wantLeaders, tt.wantParentUserName, true}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("document %d (-want +got):\n%s", i, diff)
				}
			}
			if len(lastArgs) != 1000 {
				t.Errorf("%d distinct last arguments in 1000 documents, want 1000", len(lastArgs))
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "4242 (esserver) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 123 0 0", 3250 * time.Millisecond, false},
		{"comm with spaces and parens", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0", 30 * time.Millisecond, false},
		{"no comm", "7 a R 1", 0, true},
		{"too short", "7 (x) R 1 2 3", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 2 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("cpu = %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (esserver) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 123 0 0"))
	f.Add([]byte("7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0"))
	f.Add([]byte("1 ()"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
		if err == nil && d < 0 {
			t.Fatalf("negative cpu %s from %q", d, b)
		}
	})
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3}, 3},
		{"odd", []float64{9, 1, 5}, 5},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheckTargets(t *testing.T) {
	mem := func(gz int, wall, core float64) row {
		return row{combo: combo{Gzip: gz}, docsPerSec: wall, capacity: core}
	}
	disk := func(gz int, wall, core float64) row {
		return row{combo: combo{Disk: true, Gzip: gz}, docsPerSec: wall, capacity: core}
	}
	tests := []struct {
		name string
		rows []row
		want int // misses
	}{
		{"all met", []row{mem(0, 60000, 70000), disk(0, 40000, 40000)}, 0},
		{"memory slow on the wall", []row{mem(0, 4000, 70000), disk(0, 4000, 40000)}, 1},
		{"disk more than 2x slower on one core", []row{mem(1, 60000, 90000), disk(1, 40000, 40000)}, 1},
		{"disk compared with the same gzip level only", []row{mem(0, 60000, 60000), mem(1, 200000, 200000), disk(0, 31000, 31000)}, 0},
		{"everything missed", []row{mem(0, 1000, 1000), disk(0, 100, 100)}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkTargets(tt.rows); len(got) != tt.want {
				t.Errorf("misses %q, want %d", got, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantEvents int
		wantReps   int
		wantErr    bool
	}{
		{"defaults", nil, 200000, 3, false},
		{"quick", []string{"-quick"}, 20800, 1, false},
		{"rounded up to full bulks", []string{"-events", "1601"}, 3200, 3, false},
		{"zero events", []string{"-events", "0"}, 0, 0, true},
		{"gzip level out of range", []string{"-gzip", "10"}, 0, 0, true},
		{"stray argument", []string{"extra"}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (o.events != tt.wantEvents || o.reps != tt.wantReps) {
				t.Errorf("events %d reps %d, want %d %d", o.events, o.reps, tt.wantEvents, tt.wantReps)
			}
		})
	}
}

// TestRunSmall runs the whole harness on one bulk of documents per
// combination: server child process, template, queue, output, verification.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the test server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-events", "1600", "-reps", "1"}, &out, &errOut)
	if err != nil && !errors.Is(err, errTarget) {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	for _, want := range []string{"| memory |    0 |", "| memory |    1 |", "| disk   |    0 |", "| disk   |    1 |", "document "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("report:\n%s", out.String())
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "small"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			g := newGenerator(namespace, full)
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				buf, _ = g.next(buf[:0])
				n += len(buf)
			}
			b.SetBytes(int64(n / max(b.N, 1)))
		})
	}
}
