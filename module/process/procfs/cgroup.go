package procfs

import (
	"bytes"
	"fmt"
)

// ContainerID reads /proc/PID/cgroup and returns the id of the container
// the process runs in (ECS container.id), or "" when its cgroups name
// none. It returns an error wrapping ErrGone when the process is gone.
func (r *Reader) ContainerID(pid int) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("read process %d: %w", pid, ErrBadPID)
	}
	r.pidPath(pid, "/")
	b, _, err := readFile(r.file("cgroup"), r.buf, maxFileBytes, false)
	r.buf = b[:0]
	if isGone(err) {
		return "", wrapRead(pid, "cgroup", err)
	}
	if err != nil {
		return "", fmt.Errorf("read process %d cgroup: %w", pid, err)
	}
	return string(containerIDOf(b)), nil
}

// containerIDLen is the length of a container id as Docker, containerd,
// CRI-O and Podman name cgroups: 64 hex digits.
const containerIDLen = 64

// containerIDOf finds a container id in the lines of a cgroup file
// ("hierarchy:controllers:path", cgroups(7)): the last path component that
// is 64 hex digits, once a runtime's prefix and ".scope" are cut off —
//
//	/docker/<id>                                   cgroup v1, Docker
//	/system.slice/docker-<id>.scope                systemd driver
//	/kubepods/burstable/pod<uid>/<id>              Kubernetes, cgroupfs driver
//	/kubepods.slice/…/cri-containerd-<id>.scope    Kubernetes, systemd driver
//	/machine.slice/libpod-<id>.scope, crio-<id>.scope
//
// It returns nil when no line names one.
func containerIDOf(b []byte) []byte {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		// The path follows the second colon; it may hold colons itself.
		_, rest, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		_, path, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			continue
		}
		for len(path) > 0 {
			name := path
			if i := bytes.LastIndexByte(path, '/'); i >= 0 {
				name, path = path[i+1:], path[:i]
			} else {
				path = nil
			}
			name = bytes.TrimSuffix(name, []byte(".scope"))
			if i := bytes.LastIndexByte(name, '-'); i >= 0 {
				name = name[i+1:]
			}
			if isContainerID(name) {
				return name
			}
		}
	}
	return nil
}

func isContainerID(b []byte) bool {
	if len(b) != containerIDLen {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
