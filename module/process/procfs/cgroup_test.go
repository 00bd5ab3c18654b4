package procfs

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestContainerIDOf(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name, file, want string
	}{
		{"cgroup v1, Docker", "12:pids:/docker/" + id + "\n11:memory:/docker/" + id + "\n", id},
		{"cgroup v2, systemd driver", "0::/system.slice/docker-" + id + ".scope\n", id},
		{"Kubernetes, cgroupfs driver", "0::/kubepods/burstable/pod6f5b1c3a-1f2e-4b8a-9c3d-2a1b0c9d8e7f/" + id + "\n", id},
		{"Kubernetes, systemd driver, containerd",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f5b1c3a_1f2e.slice/cri-containerd-" + id + ".scope\n", id},
		{"CRI-O", "0::/kubepods.slice/crio-" + id + ".scope\n", id},
		{"Podman", "0::/machine.slice/libpod-" + id + ".scope/container\n", id},
		{"a v1 line names it, v2 does not", "9:name=systemd:/\n4:memory:/docker/" + id + "\n0::/\n", id},
		{"no container: host", "0::/user.slice/user-1000.slice/session-2.scope\n", ""},
		{"no container: root", "0::/\n", ""},
		{"63 hex digits", "0::/docker/" + id[1:] + "\n", ""},
		{"upper case is no id", "0::/docker/" + strings.ToUpper(id) + "\n", ""},
		{"no newline at the end", "0::/docker/" + id, id},
		{"malformed lines", "garbage\n:\n0:\n", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(containerIDOf([]byte(tt.file))); got != tt.want {
				t.Errorf("containerIDOf(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

// TestContainerIDLive reads the test process's own cgroup file, and a
// process that does not exist.
func TestContainerIDLive(t *testing.T) {
	r := liveReader(t, 0)
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no cgroup file: %v", err)
	}
	got, err := r.ContainerID(os.Getpid())
	if err != nil {
		t.Fatalf("ContainerID(self): %v", err)
	}
	if want := string(containerIDOf(b)); got != want {
		t.Errorf("ContainerID(self) = %q, want %q", got, want)
	}
	if _, err := r.ContainerID(1 << 30); !errors.Is(err, ErrGone) {
		t.Errorf("ContainerID of no process: %v, want ErrGone", err)
	}
}

func FuzzContainerIDOf(f *testing.F) {
	f.Add([]byte("0::/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope\n"))
	f.Add([]byte("12:pids:/docker/x\n0::/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id := containerIDOf(b); id != nil && !isContainerID(id) {
			t.Fatalf("containerIDOf(%q) = %q: not 64 hex digits", b, id)
		}
	})
}
