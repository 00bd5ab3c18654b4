package ecs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/shirou/gopsutil/v3/common"
	"github.com/shirou/gopsutil/v3/host"
	psnet "github.com/shirou/gopsutil/v3/net"
	"go.uber.org/zap"
)

// HostOptions configures ReadHost. The zero value reads the running host. It
// is a plain value, safe to copy.
type HostOptions struct {
	// EtcDir is where os-release and machine-id are read ("" = "/etc"); it
	// is also handed to gopsutil as HOST_ETC, so that an agent in a
	// container can describe the host through a bind mount.
	EtcDir string
}

// hostSource is what ReadHost reads, separated so that tests can describe a
// host without being on it.
type hostSource struct {
	info       func(ctx context.Context) (*host.InfoStat, error)
	interfaces func(ctx context.Context) (psnet.InterfaceStatList, error)
	etcDir     string
}

// ReadHost reads the host.* metadata once, at start: hostname, machine id,
// architecture, kernel, OS (gopsutil's host.Info plus os-release) and the
// addresses of every non-loopback interface. host.os.type is "linux".
//
// It fails only when gopsutil cannot describe the host at all or the
// hostname is empty. Missing parts (no os-release, no machine-id, no
// readable interfaces) leave their fields absent and are logged as
// warnings on log.
func ReadHost(ctx context.Context, log *zap.Logger, opts HostOptions) (*Host, error) {
	if log == nil {
		log = zap.NewNop()
	}
	etc := opts.EtcDir
	if etc == "" {
		etc = "/etc"
	}
	if opts.EtcDir != "" {
		ctx = context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostEtcEnvKey: etc})
	}
	return readHost(ctx, log.Named("host"), hostSource{
		info:       host.InfoWithContext,
		interfaces: psnet.InterfacesWithContext,
		etcDir:     etc,
	})
}

func readHost(ctx context.Context, log *zap.Logger, src hostSource) (*Host, error) {
	info, err := src.info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read host info: %w", err)
	}
	if info.Hostname == "" {
		return nil, fmt.Errorf("read host info: %w", ErrNoHostname)
	}
	h := &Host{
		Name:         info.Hostname,
		Hostname:     info.Hostname,
		Architecture: info.KernelArch,
		OS: OS{
			Type:     "linux",
			Family:   info.PlatformFamily,
			Platform: info.Platform,
			Version:  info.PlatformVersion,
			Kernel:   info.KernelVersion,
		},
	}

	// Beats and Elastic Defend use the systemd machine id as host.id;
	// gopsutil prefers the DMI product UUID, which only root can read and
	// which clones of one VM image share, so it is only the fallback.
	id, err := readMachineID(filepath.Join(src.etcDir, "machine-id"))
	switch {
	case err == nil:
		h.ID = id
	case info.HostID != "":
		h.ID = info.HostID
		log.Warn("no machine-id, using gopsutil's host id", zap.Error(err), zap.String("host.id", h.ID))
	default:
		log.Warn("no host id", zap.Error(err))
	}

	rel, err := readOSRelease(src.etcDir)
	if err != nil {
		log.Warn("no os-release, host.os.name and host.os.full are absent", zap.Error(err))
	} else {
		h.OS.Name = rel["NAME"]
		h.OS.Full = rel["PRETTY_NAME"]
		if h.OS.Platform == "" {
			h.OS.Platform = rel["ID"]
		}
		if h.OS.Version == "" {
			h.OS.Version = rel["VERSION_ID"]
		}
	}

	ifaces, err := src.interfaces(ctx)
	if err != nil {
		log.Warn("cannot list network interfaces, host.ip and host.mac are absent", zap.Error(err))
	} else {
		h.IP, h.MAC = addresses(ifaces)
	}
	return h, nil
}

// readMachineID reads a systemd machine id: 32 lowercase hex digits.
func readMachineID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read machine id %s: %w", path, err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 32 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
		return "", fmt.Errorf("read machine id %s: %w", path, ErrInvalidMachineID)
	}
	return strings.ToLower(id), nil
}

// readOSRelease reads os-release(5) from etcDir, falling back to
// /usr/lib/os-release as the man page says.
func readOSRelease(etcDir string) (map[string]string, error) {
	paths := []string{filepath.Join(etcDir, "os-release")}
	if etcDir == "/etc" {
		paths = append(paths, "/usr/lib/os-release")
	}
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("read os-release %s: %w", p, err))
			continue
		}
		return ParseOSRelease(b), nil
	}
	return nil, errors.Join(errs...)
}

// ParseOSRelease parses os-release(5) content: KEY=value lines, values
// optionally in double or single quotes with backslash escapes; comments,
// blank and malformed lines are skipped. Later assignments win.
func ParseOSRelease(b []byte) map[string]string {
	m := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validEnvName(k) {
			continue
		}
		m[k] = unquoteShell(v)
	}
	return m
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// unquoteShell undoes the quoting os-release allows: a value wholly in
// double quotes (with \" \\ \$ \` escapes) or single quotes (literal).
func unquoteShell(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		if !strings.Contains(v, `\`) {
			return v
		}
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			sb.WriteByte(v[i])
		}
		return sb.String()
	}
	return v
}

// addresses returns the IP addresses (without prefix length) and MAC
// addresses (ECS form: upper case, dash separated) of every non-loopback
// interface, each once, in interface order.
func addresses(ifaces psnet.InterfaceStatList) (ips, macs []string) {
	for _, ifc := range ifaces {
		if isLoopback(ifc) {
			continue
		}
		for _, a := range ifc.Addrs {
			s := a.Addr
			if p, err := netip.ParsePrefix(s); err == nil {
				s = p.Addr().String()
			} else if ad, err := netip.ParseAddr(s); err == nil {
				s = ad.String()
			} else {
				continue
			}
			ips = appendUnique(ips, s)
		}
		if mac := ecsMAC(ifc.HardwareAddr); mac != "" {
			macs = appendUnique(macs, mac)
		}
	}
	return ips, macs
}

func isLoopback(ifc psnet.InterfaceStat) bool {
	for _, f := range ifc.Flags {
		if f == "loopback" {
			return true
		}
	}
	return false
}

// ecsMAC converts "aa:bb:cc:dd:ee:ff" to ECS's "AA-BB-CC-DD-EE-FF"; an
// empty or all-zero address is none.
func ecsMAC(s string) string {
	if s == "" || strings.Trim(s, "0:") == "" {
		return ""
	}
	return strings.ToUpper(strings.ReplaceAll(s, ":", "-"))
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// isNotExist reports a missing file, the normal state of optional inputs.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
