package procfs

import (
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestPickEnv(t *testing.T) {
	environ := []byte("PATH=/usr/bin\x00LD_PRELOAD=/tmp/evil.so\x00HISTFILE=/dev/null\x00NOEQUALS\x00LD_PRELOADX=no\x00HISTFILE=again\x00LD_LIBRARY_PATH=/cut-by-the-lim")
	got := pickEnv(environ, []string{"HISTFILE", "LD_PRELOAD", "LD_LIBRARY_PATH"}, nil)
	want := []string{"LD_PRELOAD=/tmp/evil.so", "HISTFILE=/dev/null", "HISTFILE=again"}
	if !slices.Equal(got, want) {
		t.Errorf("pickEnv = %q, want %q", got, want)
	}
	if got := pickEnv(environ, nil, nil); got != nil {
		t.Errorf("no names: %q, want nil", got)
	}
}

// TestEnvVarsLive reads the environment of a child started with a known
// one, and of a process that does not exist.
func TestEnvVarsLive(t *testing.T) {
	r := liveReader(t, 0)
	cmd := exec.Command("/bin/sleep", "5")
	cmd.Env = []string{"PATH=/usr/bin", "HISTFILE=/dev/null", "SPAWNBEAT_TEST=x"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Start returns when the exec has begun (the close-on-exec pipe
	// closed), which is before the new stack holds the environment: wait
	// for it, as spawnbeat does for the exec event, sent once it does.
	want := []string{"HISTFILE=/dev/null"}
	for _, execd := range []bool{false, true} {
		var got []string
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			var err error
			if got, err = r.EnvVars(cmd.Process.Pid, []string{"HISTFILE", "LD_PRELOAD"}, execd); err != nil {
				t.Fatal(err)
			}
			if got != nil || time.Now().After(deadline) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("EnvVars (execd %v) = %q, want %q", execd, got, want)
		}
	}
	if _, err := r.EnvVars(1<<30, []string{"PATH"}, false); !errors.Is(err, ErrGone) {
		t.Errorf("EnvVars of no process: %v, want ErrGone", err)
	}
}

func FuzzPickEnv(f *testing.F) {
	f.Add([]byte("A=1\x00B=2\x00"), "A")
	f.Fuzz(func(t *testing.T, environ []byte, name string) {
		for _, kv := range pickEnv(environ, []string{name}, nil) {
			if len(kv) <= len(name) || kv[:len(name)] != name || kv[len(name)] != '=' {
				t.Fatalf("pickEnv(%q, %q) gave %q", environ, name, kv)
			}
		}
	})
}
