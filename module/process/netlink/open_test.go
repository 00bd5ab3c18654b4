package netlink

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// onFreshThread runs fn on a locked OS thread that is discarded afterwards,
// so per-thread changes (capabilities, namespaces) cannot leak to other
// goroutines or tests.
func onFreshThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fn()
	}()
	<-done
}

func TestIntegrationOpenErrors(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name    string
		setup   func() error // runs on the thread that then calls Open
		wantErr error
	}{
		{
			name: "no CAP_NET_ADMIN",
			setup: func() error {
				hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
				var data [2]unix.CapUserData
				if err := unix.Capget(&hdr, &data[0]); err != nil {
					return err
				}
				data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
				return unix.Capset(&hdr, &data[0])
			},
			wantErr: ErrPermission,
		},
		{
			name:    "other network namespace",
			setup:   func() error { return unix.Unshare(unix.CLONE_NEWNET) },
			wantErr: ErrUnsupported,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var setupErr, openErr error
			onFreshThread(func() {
				if setupErr = tt.setup(); setupErr != nil {
					return
				}
				var c *Conn
				if c, openErr = Open(Options{}, nil); openErr == nil {
					_ = c.Close()
				}
			})
			if setupErr != nil {
				t.Fatalf("setup: %v", setupErr)
			}
			t.Logf("Open: %v", openErr)
			if !errors.Is(openErr, tt.wantErr) {
				t.Errorf("Open: %v, want %v", openErr, tt.wantErr)
			}
		})
	}
}

// helperEnv makes the test binary, re-executed by a test, run
// TestHelperOpen's body and print the outcome of Open.
const helperEnv = "SPAWNBEAT_NETLINK_HELPER"

// TestHelperOpen is not a test of its own: TestIntegrationOpenOtherPIDNamespace
// runs the test binary with helperEnv set to call Open in a new PID namespace.
func TestHelperOpen(t *testing.T) {
	if os.Getenv(helperEnv) != "open" {
		t.Skip("helper process for TestIntegrationOpenOtherPIDNamespace")
	}
	c, err := Open(Options{}, nil)
	if err == nil {
		_ = c.Close()
	}
	fmt.Printf("open-result unsupported=%v err=%v\n", errors.Is(err, ErrUnsupported), err)
}

// TestIntegrationOpenOtherPIDNamespace checks the kernel's silent refusal:
// outside the initial PID namespace PROC_CN_MCAST_LISTEN gets no answer at
// all, which Open must report as ErrUnsupported rather than succeed and
// deliver nothing.
func TestIntegrationOpenOtherPIDNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOpen$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=open")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "open-result unsupported=true") {
		t.Errorf("Open in a new PID namespace: want ErrUnsupported, helper said:\n%s", out)
	}
}
