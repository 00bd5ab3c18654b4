// Command spawnbeat captures every process start on a Linux host as an
// Elastic Common Schema document, runs detection rules on it inline and ships
// it to Elasticsearch. This package only parses flags, builds the logger,
// handles signals and starts things; the work happens in beater/ and module/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses, as Beats and the rules CLI document them.
const (
	statusOK    = 0
	statusError = 1
	statusUsage = 2
)

func main() {
	reexecNarrowed = narrowAndReexec
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries a command's exit status; main exits with Code.
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string { return e.Err.Error() }
func (e *exitError) Unwrap() error { return e.Err }

// usageError marks a command line that cannot be run (exit status 2).
func usageError(err error) error { return &exitError{Code: statusUsage, Err: err} }

func run(args []string, stdout, stderr io.Writer) int {
	return runWithInput(args, os.Stdin, stdout, stderr)
}

// runWithInput is run with the stdin of the caller's choosing: the keystore
// commands read secrets from it.
func runWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return statusOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.Err != nil && ee.Err.Error() != "" {
			fmt.Fprintln(stderr, "spawnbeat:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "spawnbeat:", err)
	return statusError
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "spawnbeat",
		Short:         "Capture every process start as an ECS document, detect attacks inline, ship to Elasticsearch",
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBeat(cmd, g)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	g.register(root)
	root.AddCommand(
		newRunCommand(g),
		newTestCommand(g),
		newExportCommand(g),
		newSetupCommand(g),
		newVersionCommand(),
		newRulesCommand(g),
		newKeystoreCommand(g),
	)
	return root
}

func newRunCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run spawnbeat (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBeat(cmd, g)
		},
	}
}
