#!/bin/sh
# capture.sh copies the /proc files spawnbeat's procfs reads for the given
# PIDs into ./proc/<pid>/ (stat, status, cmdline, comm, and exe/cwd recreated
# as symlinks with the same target), plus /proc/stat for btime. Run as root
# on a real host; the fake tree it builds is what the table-driven tests read.
set -eu
out=${OUT:-proc}
mkdir -p "$out"
cp /proc/stat "$out/stat"
for pid in "$@"; do
	d="$out/$pid"
	mkdir -p "$d"
	for f in stat status cmdline comm; do
		cat "/proc/$pid/$f" >"$d/$f" 2>/dev/null || rm -f "$d/$f"
	done
	for l in exe cwd; do
		if t=$(readlink "/proc/$pid/$l" 2>/dev/null); then ln -sfn "$t" "$d/$l"; fi
	done
done
