#!/usr/bin/python3
"""Run a command on a fresh pseudo-terminal and type lines into it.

Usage: ptydrive.py TIMEOUT_SECONDS LINES_JSON [--stdin=TEXT] -- ARGV...

The command gets a real controlling terminal (pty.fork), as an attacker's
shell does after `python3 -c 'import pty; pty.spawn(...)'`. Each line is
typed after a pause, because pty.spawn puts the terminal in raw mode with
TCSAFLUSH, discarding input typed ahead. Output is drained continuously so
the child never blocks. Exits with the child's status, or 124 on timeout.

With --stdin=TEXT the command's standard input is a pipe holding TEXT and
then end-of-file, as in `echo TEXT | python3`; its standard output and
error, and its controlling terminal, stay the pseudo-terminal.
"""
import json
import os
import pty
import select
import signal
import sys
import time

def main():
    timeout = float(sys.argv[1])
    lines = json.loads(sys.argv[2]) or []
    sep = sys.argv.index("--")
    argv = sys.argv[sep + 1:]
    stdin = None
    for opt in sys.argv[3:sep]:
        if not opt.startswith("--stdin="):
            sys.exit("ptydrive.py: unknown option " + opt)
        stdin = opt[len("--stdin="):]
    pid, fd = pty.fork()
    if pid == 0:
        if stdin is not None:
            # A pipe's buffer (64 KiB) holds the text: no writer process.
            r, w = os.pipe()
            os.write(w, stdin.encode())
            os.close(w)
            os.dup2(r, 0)
            os.close(r)
        os.execv(argv[0], argv)
    deadline = time.monotonic() + timeout
    pending = list(lines)
    next_write = time.monotonic() + 1.0
    while True:
        now = time.monotonic()
        if now > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.exit(124)
        if pending and now >= next_write:
            os.write(fd, (pending.pop(0) + "\n").encode())
            next_write = now + 1.0
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))

main()
