package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// buildESServer builds the Elasticsearch test server
// (tests/esserver/cmd/esserver) into dir.
func buildESServer(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "esserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./tests/esserver/cmd/esserver")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build esserver: %w", err)
	}
	return bin, nil
}

// esServer is a test server in a child process, fresh for each storm.
type esServer struct {
	*child
	url string
}

// esNice is the test server's nice value. It stands in for a cluster on
// other machines, but here it shares the agent's two cores with a storm
// that keeps both busy: at the default priority it was starved (bulk
// requests of 3 s), the agent's memory queue filled, and the -es agent
// dropped a third of the 5 ms storm's documents, which measures this
// machine, not shipping. Ahead of the storm it answers as a remote
// cluster would; its own CPU is reported apart from the agent's.
const esNice = "-10"

// startESServer runs bin on a free loopback port, at nice esNice, and
// waits until it says where it serves ("serving Elasticsearch 8.x at
// http://127.0.0.1:PORT").
func startESServer(bin string) (*esServer, error) {
	// nice execs bin in its own process: the child's pid is the server's.
	c, err := startChild("esserver", exec.Command("nice", "-n", esNice, bin, "-addr", "127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !c.exited(); time.Sleep(20 * time.Millisecond) {
		for line := range strings.SplitSeq(c.logs.String(), "\n") {
			if _, u, ok := strings.Cut(line, " at http://"); ok {
				return &esServer{child: c, url: "http://" + strings.TrimSpace(u)}, nil
			}
		}
	}
	_ = c.stop(5 * time.Second)
	return nil, fmt.Errorf("start esserver: no URL in its log: %w; its log:\n%s", errNotStarted, tail(c.logs.String(), 2000))
}
