package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// errNotTerminal: a prompt needs a terminal on stdin.
var errNotTerminal = errors.New("stdin is not a terminal")

// terminal returns stdin as a file when it is a terminal.
func terminal(in io.Reader) (*os.File, bool) {
	f, ok := in.(*os.File)
	if !ok {
		return nil, false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return f, err == nil
}

// readSecret prints prompt and reads one line from the terminal with echo
// off (termios(3): ECHO cleared, canonical mode kept so that the kernel does
// the line editing), and restores the terminal however the read ends, Ctrl-C
// included. Echo goes off before the prompt shows, so nothing typed after it
// is echoed.
func readSecret(ctx context.Context, tty *os.File, out io.Writer, prompt string) ([]byte, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, errNotTerminal
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return nil, fmt.Errorf("turn off echo: %w", err)
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }()
	fmt.Fprint(out, prompt)
	defer fmt.Fprintln(out) // the newline the user typed was not echoed
	return readLine(ctx, tty)
}

// readLine reads up to a newline (not included). The read runs on its own
// goroutine so that Ctrl-C, which the signal handler turns into a cancelled
// context, ends the prompt; the process exits soon after.
func readLine(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var line []byte
		b := make([]byte, 1)
		for {
			n, err := r.Read(b)
			if n == 1 {
				if b[0] == '\n' {
					done <- result{line: line}
					return
				}
				line = append(line, b[0])
			}
			if err != nil {
				if errors.Is(err, io.EOF) && len(line) > 0 {
					err = nil
				}
				done <- result{line: line, err: err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		return r.line, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
}

// promptYesNo asks on the terminal; an empty answer takes def.
func promptYesNo(ctx context.Context, tty *os.File, out io.Writer, question string, def bool) (bool, error) {
	choices := "[y/N]"
	if def {
		choices = "[Y/n]"
	}
	for {
		fmt.Fprintf(out, "%s %s: ", question, choices)
		line, err := readLine(ctx, tty)
		if err != nil {
			fmt.Fprintln(out)
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(string(line))) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}
