// Command ptyshell gives a shell a pseudo-terminal in a new session, as
// sshd does for an interactive login, so that the end-to-end tests can run
// that look-alike where no sshd is installed: it opens /dev/ptmx, unlocks
// the slave, and starts the shell with setsid(2) and TIOCSCTTY on the slave
// (ioctl_tty(2)), as a login shell ("-sh" as argv[0], as sshd passes it). It
// is not Python: the kernel sees what sshd's session child does.
//
// Usage: ptyshell SHELL
//
// It types "exit" into the shell after a second, drains its output and
// exits with the shell's status.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: ptyshell SHELL")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "ptyshell:", err)
		os.Exit(1)
	}
}

func run(shell string) error {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer master.Close()
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("pty number: %w", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	cmd := exec.Command(shell)
	cmd.Args = []string{"-" + filepath.Base(shell)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return err
	}
	slave.Close()
	go func() { _, _ = io.Copy(io.Discard, master) }()
	time.Sleep(time.Second)
	if _, err := master.WriteString("exit\n"); err != nil {
		return err
	}
	return cmd.Wait()
}
