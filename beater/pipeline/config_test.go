package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-ucfg"
	"github.com/elastic/go-ucfg/yaml"
	"github.com/google/go-cmp/cmp"
)

// unpackQueue unpacks the queue section of a YAML document the way the
// config loader does: defaults first, the user's keys on top.
func unpackQueue(t *testing.T, doc string) (Config, error) {
	t.Helper()
	raw, err := yaml.NewConfig([]byte(doc), ucfg.PathSep("."))
	if err != nil {
		t.Fatalf("parse YAML: %v", err)
	}
	var root struct {
		Queue Config `config:"queue"`
	}
	root.Queue = DefaultConfig()
	err = raw.Unpack(&root, ucfg.PathSep("."))
	return root.Queue, err
}

// unpackRaw unpacks like unpackQueue without go-ucfg calling Validate, so
// that the test sees Validate's own error.
func unpackRaw(t *testing.T, doc string) Config {
	t.Helper()
	raw, err := yaml.NewConfig([]byte(doc), ucfg.PathSep("."))
	if err != nil {
		t.Fatalf("parse YAML: %v", err)
	}
	type plain Config // no Validate method
	var root struct {
		Queue plain `config:"queue"`
	}
	if err := raw.Unpack(&root, ucfg.PathSep(".")); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return Config(root.Queue)
}

func TestConfigUnpack(t *testing.T) {
	mem := DefaultMemConfig()
	disk := DefaultDiskConfig()
	tests := []struct {
		name string
		doc  string
		want Config
	}{
		{name: "empty", doc: "", want: Config{}},
		{name: "mem defaults", doc: "queue.mem: {}", want: Config{Mem: &mem}},
		{
			name: "mem overrides",
			doc:  "queue.mem:\n  events: 8192\n  flush.min_events: 0\n  flush.timeout: 250ms\n",
			want: Config{Mem: &MemConfig{Events: 8192, Flush: FlushConfig{MinEvents: 0, Timeout: 250 * time.Millisecond}}},
		},
		{name: "disk defaults", doc: "queue.disk: {}", want: Config{Disk: &disk}},
		{
			name: "disk overrides with units",
			doc:  "queue.disk:\n  path: /var/lib/spawnbeat/q\n  max_size: 2GiB\n  segment_size: 32MB\n  fsync: always\n",
			want: Config{Disk: &DiskConfig{
				Path: "/var/lib/spawnbeat/q", MaxSize: 2 << 30, SegmentSize: 32_000_000, Fsync: FsyncAlways,
				FsyncInterval: DefaultFsyncInterval, Flush: disk.Flush,
			}},
		},
		{
			name: "disk sizes as integers",
			doc:  "queue.disk:\n  max_size: 1048576\n  segment_size: 65536\n",
			want: Config{Disk: &DiskConfig{MaxSize: 1 << 20, SegmentSize: 1 << 16, Fsync: FsyncInterval, FsyncInterval: time.Second, Flush: disk.Flush}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unpackQueue(t, tt.doc)
			if err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // every problem, by key path
	}{
		{name: "valid mem", doc: "queue.mem.events: 10\nqueue.mem.flush.min_events: 10"},
		{name: "valid disk", doc: "queue.disk.fsync: never"},
		{name: "both queues", doc: "queue.mem: {}\nqueue.disk: {}", want: []string{"queue: only one of queue.mem and queue.disk"}},
		{
			name: "every mem problem at once",
			doc:  "queue.mem:\n  events: 0\n  flush.min_events: -1\n  flush.timeout: -1s\n",
			want: []string{"queue.mem.events:", "queue.mem.flush.min_events:", "queue.mem.flush.timeout:"},
		},
		{name: "min_events above events", doc: "queue.mem:\n  events: 10\n  flush.min_events: 11\n", want: []string{"queue.mem.flush.min_events: 11 exceeds"}},
		{
			name: "every disk problem at once",
			doc:  "queue.disk:\n  max_size: 1KiB\n  segment_size: 100\n  fsync: sometimes\n",
			want: []string{"queue.disk.segment_size:", "queue.disk.max_size:", "queue.disk.fsync:"},
		},
		{name: "interval without a period", doc: "queue.disk:\n  fsync_interval: 0s\n", want: []string{"queue.disk.fsync_interval:"}},
		{name: "max_size below segment_size", doc: "queue.disk:\n  max_size: 1MiB\n  segment_size: 2MiB\n", want: []string{"queue.disk.max_size:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, uerr := unpackQueue(t, tt.doc)
			err := unpackRaw(t, tt.doc).Validate()
			if len(tt.want) == 0 {
				if err != nil || uerr != nil {
					t.Fatalf("Validate() = %v (unpack %v), want nil", err, uerr)
				}
				return
			}
			if uerr == nil || !strings.Contains(uerr.Error(), tt.want[0]) {
				t.Errorf("unpack = %v, want go-ucfg to report %q through Validate", uerr, tt.want[0])
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			var got []string
			for _, line := range strings.Split(err.Error(), "\n") {
				for _, w := range tt.want {
					if strings.HasPrefix(line, w) {
						got = append(got, w)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems reported (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
				t.Errorf("Validate() reported %d problems, want %d:\n%v", n, len(tt.want), err)
			}
		})
	}
}
