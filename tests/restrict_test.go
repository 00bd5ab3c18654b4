package tests

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// unitFile is the packaged systemd unit; the restriction tests read its
// capability bounding set from it, so that the two cannot drift apart.
const unitFile = "../dev-tools/packaging/files/systemd/spawnbeat.service"

// unitSetting returns the value of a [Service] setting of the unit.
func unitSetting(t *testing.T, key string) string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s sets no %s", unitFile, key)
	return ""
}

// The shell lines that reproduce, in a private mount namespace (unshare -m),
// what systemd's sandboxing settings do to the agent's view of the system,
// as systemd's namespace setup does it: read-only bind mounts, empty file
// systems over hidden folders, inaccessible files. Each ends with a probe
// that fails the run (exit 97) when the restriction is not in force, so
// that a test can never pass on an unrestricted agent. $home is the
// agent's home (its data and logs; $home/dev and $home/inaccessible, a
// mode 000 file, are made beforehand), $orig the binary path the test gave.
const (
	protectSystemStrict = `
# ProtectSystem=strict: every mount read-only but the API file systems.
for mp in $(awk '{print $5}' /proc/self/mountinfo); do
	case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
	mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
if (: > /var/spawnbeat-rw-probe) 2>/dev/null; then rm -f /var/spawnbeat-rw-probe; echo "/var is writable" >&2; exit 97; fi
`
	protectHome = `
# ProtectHome=yes: /home, /root and /run/user empty and inaccessible.
for d in /home /root /run/user; do
	[ -d "$d" ] && mount -t tmpfs -o mode=000 tmpfs "$d"
done
if [ -n "$(ls -A /root)" ]; then echo "/root is visible" >&2; exit 97; fi
`
	privateTmp = `
# PrivateTmp=yes: /tmp and /var/tmp of the service's own.
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
if [ -e "$orig" ]; then echo "the host's /tmp is visible" >&2; exit 97; fi
`
	privateDevices = `
# PrivateDevices=yes: a /dev with the pseudo devices and pseudo-terminals only.
d="$home/dev"
mount -t tmpfs -o mode=755,nosuid tmpfs "$d"
for n in null zero full random urandom tty; do : > "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
mkdir "$d/pts" "$d/shm" && mount --bind /dev/pts "$d/pts" && ln -s pts/ptmx "$d/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$d/shm"
mount --move "$d" /dev
if [ -e /dev/kmsg ] || [ -e /dev/mem ]; then echo "hardware devices are visible" >&2; exit 97; fi
`
	protectKernel = `
# ProtectKernelTunables=yes: /proc/sys, the other tunables and /sys
# read-only, /proc/kallsyms and /proc/kcore inaccessible; ProtectKernelLogs=yes:
# /proc/kmsg and /dev/kmsg inaccessible; ProtectKernelModules=yes: the
# modules folder inaccessible; ProtectControlGroups=yes: /sys/fs/cgroup
# read-only (with the rest of /sys).
for p in /proc/sys /proc/sysrq-trigger /proc/acpi /proc/apm /proc/asound /proc/bus /proc/fs /proc/irq \
	/proc/latency_stats /proc/mtrr /proc/scsi /proc/timer_stats; do
	[ -e "$p" ] && mount --bind "$p" "$p" && mount -o remount,bind,ro "$p"
done
for p in /proc/kallsyms /proc/kcore /proc/kmsg /dev/kmsg; do
	[ -e "$p" ] && mount --bind "$home/inaccessible" "$p"
done
for mp in $(awk '{print $5}' /proc/self/mountinfo); do
	case "$mp" in /sys|/sys/*) mount -o remount,bind,ro "$mp" ;; esac
done
[ -d /usr/lib/modules ] && mount -t tmpfs -o mode=000 tmpfs /usr/lib/modules
v=$(cat /proc/sys/kernel/printk_ratelimit)
if (echo "$v" > /proc/sys/kernel/printk_ratelimit) 2>/dev/null; then echo "/proc/sys is writable" >&2; exit 97; fi
if [ -s /proc/kallsyms ]; then echo "/proc/kallsyms is readable" >&2; exit 97; fi
if awk '$5 == "/sys" && $6 !~ /(^|,)ro(,|$)/ { exit 1 }' /proc/self/mountinfo; then :; else echo "/sys is writable" >&2; exit 97; fi
`
	// ReadWritePaths (the unit's StateDirectory= and LogsDirectory=): the
	// agent's data and logs writable again, after everything else.
	writableHome = `
mount --bind "$home" "$home"
mount -o remount,bind,rw "$home"
`
)

// restrictedAgent starts the agent under the shell setup, in a mount
// namespace of its own, from a copy of the binary in a home outside /tmp
// (which PrivateTmp hides), exec'd by exec (setpriv, say) when given.
func restrictedAgent(t *testing.T, setup string, execWith []string) *agent {
	t.Helper()
	home, err := os.MkdirTemp("/run", "spawnbeat-restrict-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	copyFile(t, binary, filepath.Join(home, "spawnbeat"), 0o755)
	if err := os.Mkdir(filepath.Join(home, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "inaccessible"), nil, 0); err != nil {
		t.Fatal(err)
	}
	// mount -n: no record in /run/mount (read-only under ProtectSystem).
	script := "set -e\nhome=\"$0\"; orig=\"$1\"; shift\nmount() { command mount -n \"$@\"; }\n" + setup + "\nexec " + strings.Join(execWith, " ") + ` "$home/spawnbeat" "$@"`
	wrapper := []string{"unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script, home}
	return startAgentUnder(t, wrapper, home, fileConfig)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// setprivBounding turns the unit's CapabilityBoundingSet into setpriv's
// flags, with no_new_privs (NoNewPrivileges=yes).
func setprivBounding(t *testing.T) []string {
	t.Helper()
	caps := []string{"-all"}
	for _, c := range strings.Fields(unitSetting(t, "CapabilityBoundingSet")) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return []string{"/usr/bin/setpriv", "--bounding-set", strings.Join(caps, ","), "--no-new-privs"}
}

// checkCapture runs processes the agent must see whole under any of the
// unit's restrictions: one in /root (hidden by ProtectHome), one as
// another user (its /proc files need CAP_SYS_PTRACE), one on a
// pseudo-terminal (PrivateDevices), each with its arguments, executable,
// working directory and parent.
func checkCapture(t *testing.T, a *agent) {
	t.Helper()
	a.waitLog("capturing with the kernel's proc connector", 10*time.Second)
	a.waitLog("arguments in the kernel at each exec", 10*time.Second)
	if strings.Contains(a.logs(), "capabilities not dropped") {
		t.Errorf("the agent could not narrow its capabilities:\n%s", a.logs())
	}

	marker := fmt.Sprintf("e2e-restrict-%d", time.Now().UnixNano())
	inRoot := exec.Command("/bin/sh", "-c", "sleep 0.05", marker+"-root")
	inRoot.Dir = "/root"
	asNobody := exec.Command("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c", "sleep 0.05", marker+"-nobody")
	asNobody.Dir = "/tmp"
	for _, cmd := range []*exec.Cmd{inRoot, asNobody} {
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	drive(t, nil, "/bin/sh", "-c", "sleep 0.05", marker+"-tty")

	for _, want := range []struct{ suffix, cwd, user string }{
		{"-root", "/root", "0"}, {"-nobody", "/tmp", "65534"}, {"-tty", "", ""},
	} {
		docs := a.waitDocs(1, 10*time.Second, isShell(marker+want.suffix))
		if len(docs) == 0 {
			t.Errorf("no exec document with the arguments of %s%s", marker, want.suffix)
			continue
		}
		d := docs[0]
		if str(d, "process.executable") == "" || len(strs(d, "process.parent.args")) == 0 {
			t.Errorf("%s: executable %q, parent args %q: want both", want.suffix, str(d, "process.executable"), strs(d, "process.parent.args"))
		}
		if want.cwd != "" && str(d, "process.working_directory") != want.cwd {
			t.Errorf("%s: working_directory %q, want %q", want.suffix, str(d, "process.working_directory"), want.cwd)
		}
		if want.user != "" && str(d, "process.user.id") != want.user {
			t.Errorf("%s: user.id %q, want %s", want.suffix, str(d, "process.user.id"), want.user)
		}
		if want.suffix == "-tty" && num(d, "process.tty.char_device.major") != 136 {
			t.Errorf("tty: process.tty %v, want a pseudo-terminal (major 136)", get(d, "process.tty"))
		}
	}
}

// isShell matches the exec document of `sh -c 'sleep 0.05' marker`, not
// those of the launchers that carry the marker in their arguments too.
func isShell(marker string) func(map[string]any) bool {
	return func(d map[string]any) bool {
		args := strs(d, "process.args")
		return str(d, "event.action") == "exec" && len(args) == 4 && args[0] == "/bin/sh" && args[3] == marker
	}
}

// TestE2EUnitRestrictions runs the real agent under each setting of the
// packaged unit that could plausibly break capture, reproduced without
// systemd as PID 1, and then under all of them at once, and checks that it
// still captures every process with its arguments. SystemCallFilter= and
// RestrictAddressFamilies= (seccomp filters) are not reproduced here.
func TestE2EUnitRestrictions(t *testing.T) {
	testenv.RequireRoot(t)
	bounding := setprivBounding(t)
	// As systemd orders them: the read-only tree first, then what is
	// writable again (data, logs, the private /tmp) or hidden.
	all := protectSystemStrict + writableHome + protectHome + privateTmp + privateDevices + protectKernel
	for _, tc := range []struct {
		name  string
		setup string
		exec  []string
	}{
		{"CapabilityBoundingSet and NoNewPrivileges", "", bounding},
		{"ProtectSystem=strict with the data and log folders writable", protectSystemStrict + writableHome, nil},
		{"ProtectHome", protectHome, nil},
		{"PrivateTmp", privateTmp, nil},
		{"PrivateDevices", privateDevices, nil},
		{"ProtectKernelTunables, Modules, Logs and ControlGroups", protectKernel, nil},
		{"all at once", all, bounding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := restrictedAgent(t, tc.setup, tc.exec)
			checkCapture(t, a)
			if tc.exec != nil {
				status := fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid)
				var unitSet uint64
				for _, c := range []string{"net_admin:12", "sys_ptrace:19", "dac_read_search:2", "bpf:39", "perfmon:38", "sys_nice:23"} {
					var bit uint
					fmt.Sscanf(c[strings.IndexByte(c, ':')+1:], "%d", &bit)
					unitSet |= 1 << bit
				}
				if got := capsOf(t, status, "CapBnd"); got&^unitSet != 0 {
					t.Errorf("CapBnd %#x holds capabilities outside the unit's %#x", got, unitSet)
				}
				// The agent narrows what it holds further, to what the
				// configuration needs (no CAP_SYS_NICE without priority_boost).
				if got, want := capsOf(t, status, "CapEff"), unitSet&^(1<<23); got != want {
					t.Errorf("CapEff %#x, want %#x", got, want)
				}
				if got := capsOf(t, status, "NoNewPrivs"); got != 1 {
					t.Errorf("NoNewPrivs = %d, want 1", got)
				}
			}
			if err := a.stop(); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}
		})
	}
}
