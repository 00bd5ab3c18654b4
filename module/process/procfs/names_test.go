package procfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestNames(t *testing.T) {
	root := t.TempDir()
	etc := filepath.Join(root, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "# comment\nroot:x:0:0:root:/root:/bin/bash\n\nalice:x:1000:1000::/home/alice:/bin/sh\nbadline\nbob:x:notanumber:1:::\ndup:x:1000:1:::\n+nisuser::::::\n"
	group := "root:x:0:\nstaff:x:50:alice,bob\n"
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(etc, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("passwd", passwd)
	write("group", group)

	n := NewNames(root, time.Nanosecond, zap.NewNop())
	tests := []struct {
		name   string
		lookup func(uint32) (string, bool)
		id     uint32
		want   string
		wantOK bool
	}{
		{name: "root user", lookup: n.User, id: 0, want: "root", wantOK: true},
		{name: "first entry wins", lookup: n.User, id: 1000, want: "alice", wantOK: true},
		{name: "unknown user", lookup: n.User, id: 4242},
		{name: "group", lookup: n.Group, id: 50, want: "staff", wantOK: true},
		{name: "unknown group", lookup: n.Group, id: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.lookup(tt.id)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("lookup(%d) = %q, %v; want %q, %v", tt.id, got, ok, tt.want, tt.wantOK)
			}
		})
	}

	t.Run("reload on change", func(t *testing.T) {
		write("passwd", passwd+"carol:x:4242:4242::/home/carol:/bin/sh\n")
		if got, ok := n.User(4242); got != "carol" || !ok {
			t.Errorf("User(4242) after adding carol = %q, %v", got, ok)
		}
	})
	t.Run("keep names when the file goes", func(t *testing.T) {
		if err := os.Remove(filepath.Join(etc, "group")); err != nil {
			t.Fatal(err)
		}
		if got, ok := n.Group(50); got != "staff" || !ok {
			t.Errorf("Group(50) after removal = %q, %v; want the last good table", got, ok)
		}
	})
}

func TestNamesMissingFilesLogOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	n := NewNames(t.TempDir(), time.Nanosecond, zap.New(core))
	for range 3 {
		if _, ok := n.User(0); ok {
			t.Fatal("User(0) found without a passwd file")
		}
	}
	if got := logs.FilterMessage("id names file missing").Len(); got != 1 {
		t.Errorf("logged the missing file %d times, want once", got)
	}
}
