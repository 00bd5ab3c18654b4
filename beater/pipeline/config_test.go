package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-ucfg"
	"github.com/elastic/go-ucfg/yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/spawnbeat/spawnbeat/config"
)

// section parses a YAML document as the settings of one queue type, the
// way config hands them on.
func section(t *testing.T, doc string) *ucfg.Config {
	t.Helper()
	raw, err := yaml.NewConfig([]byte(doc), ucfg.PathSep("."))
	if err != nil {
		t.Fatalf("parse YAML: %v", err)
	}
	return raw
}

func TestUnpack(t *testing.T) {
	mem := DefaultMemConfig()
	disk := DefaultDiskConfig()
	tests := []struct {
		name string
		mem  bool
		doc  string
		want any
	}{
		{name: "mem defaults", mem: true, doc: "{}", want: mem},
		{
			name: "mem overrides", mem: true,
			doc:  "events: 8192\nflush.min_events: 0\nflush.timeout: 250ms\n",
			want: MemConfig{Events: 8192, Flush: FlushConfig{MinEvents: 0, Timeout: 250 * time.Millisecond}},
		},
		{name: "disk defaults", doc: "{}", want: disk},
		{
			name: "disk overrides with units",
			doc:  "path: /var/lib/spawnbeat/q\nmax_size: 2GiB\nsegment_size: 32MB\nfsync: always\n",
			want: DiskConfig{
				Path: "/var/lib/spawnbeat/q", MaxSize: 2 << 30, SegmentSize: 32_000_000, Fsync: FsyncAlways,
				FsyncInterval: DefaultFsyncInterval, Flush: disk.Flush,
			},
		},
		{
			name: "disk sizes as integers",
			doc:  "max_size: 1048576\nsegment_size: 65536\n",
			want: DiskConfig{MaxSize: 1 << 20, SegmentSize: 1 << 16, Fsync: FsyncInterval, FsyncInterval: time.Second, Flush: disk.Flush},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			var err error
			if tt.mem {
				got, err = UnpackMem(section(t, tt.doc))
			} else {
				got, err = UnpackDisk(section(t, tt.doc))
			}
			if err != nil {
				t.Fatalf("unpack: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestValidate: Unpack reports every problem of a queue's settings at
// once, each a *config.KeyError naming its key below queue.<type>, so that
// config can say on which line it is.
func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mem  bool
		doc  string
		want []string // the keys of every problem, in order
	}{
		{name: "valid mem", mem: true, doc: "events: 10\nflush.min_events: 10"},
		{name: "valid disk", doc: "fsync: never"},
		{name: "every mem problem at once", mem: true, doc: "events: 0\nflush.min_events: -1\nflush.timeout: -1s\n",
			want: []string{"events", "flush.min_events", "flush.timeout"}},
		{name: "min_events above events", mem: true, doc: "events: 10\nflush.min_events: 11\n", want: []string{"flush.min_events"}},
		{name: "every disk problem at once", doc: "max_size: 1KiB\nsegment_size: 100\nfsync: sometimes\n",
			want: []string{"segment_size", "max_size", "fsync"}},
		{name: "interval without a period", doc: "fsync_interval: 0s\n", want: []string{"fsync_interval"}},
		{name: "max_size below segment_size", doc: "max_size: 1MiB\nsegment_size: 2MiB\n", want: []string{"max_size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.mem {
				_, err = UnpackMem(section(t, tt.doc))
			} else {
				_, err = UnpackDisk(section(t, tt.doc))
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unpack = %v, want nil", err)
				}
				return
			}
			var ue ucfg.Error
			if !errors.As(err, &ue) || !errors.Is(ue.Reason(), ErrInvalidConfig) {
				t.Fatalf("unpack = %v, want go-ucfg to report Validate's ErrInvalidConfig", err)
			}
			got := keyErrors(ue.Reason())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems reported (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
			if !strings.Contains(err.Error(), tt.want[0]+": ") {
				t.Errorf("message %q does not name %s", err, tt.want[0])
			}
		})
	}
}

// keyErrors lists the keys of the *config.KeyErrors in err's tree.
func keyErrors(err error) []string {
	// A walk of the tree itself: each node is looked at, not what it wraps.
	if ke, ok := err.(*config.KeyError); ok { //nolint:errorlint // walks the tree node by node
		return []string{ke.Key}
	}
	var keys []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			keys = append(keys, keyErrors(e)...)
		}
	}
	return keys
}
