package procfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewFS(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		root     string
		wantRoot string
		wantErr  error
	}{
		{name: "default", root: "", wantRoot: DefaultRoot},
		{name: "cleaned", root: "testdata/proc/", wantRoot: "testdata/proc"},
		{name: "missing", root: "testdata/nope", wantErr: os.ErrNotExist},
		{name: "file", root: file, wantErr: ErrNotDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, err := NewFS(tt.root)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NewFS(%q) = %v, want %v", tt.root, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewFS(%q): %v", tt.root, err)
			}
			if fs.Root() != tt.wantRoot {
				t.Errorf("Root() = %q, want %q", fs.Root(), tt.wantRoot)
			}
			if fs.ClockTicks() != UserHZ {
				t.Errorf("ClockTicks() = %d, want %d on Linux", fs.ClockTicks(), UserHZ)
			}
		})
	}
}

func TestPIDs(t *testing.T) {
	got, err := fakeFS(t).PIDs(make([]int, 3, 8)) // stale contents must go
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []int{2, 14, 2739, 8524, 8525, 8527, 8529, 8531, 9073, 90001, 90002, 90003, 90005, 90006, 90007, 90008}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PIDs mismatch (-want +got):\n%s", diff)
	}
}

func TestPIDsErrors(t *testing.T) {
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.PIDs(nil)
	if err != nil || len(got) != 0 {
		t.Errorf("PIDs of an empty root = %v, %v; want none", got, err)
	}
	gone := FS{root: filepath.Join(t.TempDir(), "removed")}
	if _, err := gone.PIDs(nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PIDs of a missing root = %v, want ErrNotExist", err)
	}
}

func TestBootTime(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Time
		wantErr error
	}{
		{name: "captured", want: time.Unix(1795759322, 0)},
		{name: "btime last, no newline", stat: "cpu  1 2 3\nbtime 1700000000", want: time.Unix(1700000000, 0)},
		{name: "no btime", stat: "cpu  1 2 3\nctxt 5\n", wantErr: ErrMalformed},
		{name: "bad btime", stat: "btime soon\n", wantErr: ErrMalformed},
		{name: "missing file", stat: "-", wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := fakeFS(t)
			if tt.stat != "" {
				root := t.TempDir()
				if tt.stat != "-" {
					if err := os.WriteFile(filepath.Join(root, "stat"), []byte(tt.stat), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				fs = FS{root: root, hz: UserHZ}
			}
			got, err := fs.BootTime()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("BootTime() = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("BootTime() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStartTime(t *testing.T) {
	boot := time.Unix(1795759322, 0)
	tests := []struct {
		name  string
		hz    uint64
		ticks uint64
		want  time.Time
	}{
		{name: "zero", hz: 100, ticks: 0, want: boot},
		{name: "centiseconds", hz: 100, ticks: 49275, want: boot.Add(492*time.Second + 750*time.Millisecond)},
		{name: "other hz", hz: 1024, ticks: 1536, want: boot.Add(1500 * time.Millisecond)},
		{name: "unset hz means USER_HZ", hz: 0, ticks: 150, want: boot.Add(1500 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FS{root: "/proc", hz: tt.hz}.StartTime(boot, tt.ticks)
			if !got.Equal(tt.want) {
				t.Errorf("StartTime(%d) = %v, want %v", tt.ticks, got, tt.want)
			}
		})
	}
}
