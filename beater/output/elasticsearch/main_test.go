package elasticsearch

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/spawnbeat/spawnbeat/tests/esserver"
)

// serverChildEnv makes the test binary run only a test server (see
// startESProcess): benchmarks that measure the client's CPU keep the
// server's work out of their own process.
const serverChildEnv = "SPAWNBEAT_ES_TEST_SERVER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(serverChildEnv) == "1" {
		os.Exit(serveChild())
	}
	os.Exit(m.Run())
}

// serveChild runs a test server, prints its URL on stdout and serves until
// stdin closes (the parent ended).
func serveChild() int {
	srv, err := esserver.Start(esserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "esserver:", err)
		return 1
	}
	defer srv.Close()
	fmt.Println(srv.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startESProcess runs a test server in a child process of the test binary
// and returns its URL; the child ends with the test.
func startESProcess(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("test binary: %v", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serverChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start test server process: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("test server process: no URL: %v", err)
	}
	return strings.TrimSpace(line)
}
