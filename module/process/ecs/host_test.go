package ecs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shirou/gopsutil/v3/host"
	psnet "github.com/shirou/gopsutil/v3/net"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

func debianInfo() *host.InfoStat {
	return &host.InfoStat{
		Hostname:        "build-01",
		OS:              "linux",
		Platform:        "debian",
		PlatformFamily:  "debian",
		PlatformVersion: "12.8",
		KernelVersion:   "6.1.0-28-amd64",
		KernelArch:      "x86_64",
		HostID:          "8c4f0d2e-1111-2222-3333-444455556666",
	}
}

func testInterfaces() psnet.InterfaceStatList {
	return psnet.InterfaceStatList{
		{Name: "lo", Flags: []string{"up", "loopback", "running"}, Addrs: psnet.InterfaceAddrList{{Addr: "127.0.0.1/8"}, {Addr: "::1/128"}}},
		{Name: "eth0", HardwareAddr: "52:54:00:12:34:56", Flags: []string{"up", "broadcast", "multicast"},
			Addrs: psnet.InterfaceAddrList{{Addr: "10.0.2.15/24"}, {Addr: "fe80::5054:ff:fe12:3456/64"}}},
		{Name: "eth1", HardwareAddr: "52:54:00:ab:cd:ef", Flags: []string{"broadcast"},
			Addrs: psnet.InterfaceAddrList{{Addr: "10.0.2.15/24"}, {Addr: "not-an-ip"}, {Addr: "192.168.1.7"}}},
		{Name: "tun0", Flags: []string{"up", "pointtopoint"}, Addrs: psnet.InterfaceAddrList{{Addr: "10.8.0.2/32"}}},
		{Name: "dummy", HardwareAddr: "00:00:00:00:00:00"},
	}
}

// etcDir writes a fake /etc with the given files.
func etcDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadHostFromSource(t *testing.T) {
	wantFull := &Host{
		Name:         "build-01",
		Hostname:     "build-01",
		ID:           "3d1219c7c4c5404aaa1f6d2a48adfda4",
		Architecture: "x86_64",
		IP:           []string{"10.0.2.15", "fe80::5054:ff:fe12:3456", "192.168.1.7", "10.8.0.2"},
		MAC:          []string{"52-54-00-12-34-56", "52-54-00-AB-CD-EF"},
		OS: OS{
			Type: "linux", Family: "debian", Name: "Debian GNU/Linux", Platform: "debian",
			Version: "12.8", Kernel: "6.1.0-28-amd64", Full: "Debian GNU/Linux 12 (bookworm)",
		},
	}
	goodEtc := map[string]string{"machine-id": "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n", "os-release": debianOSRelease}
	infoErr := errors.New("boom")
	tests := []struct {
		name      string
		info      func() *host.InfoStat
		infoErr   error
		ifaceErr  error
		etc       map[string]string
		want      *Host
		wantErr   error
		wantWarns []string
	}{
		{name: "complete", info: debianInfo, etc: goodEtc, want: wantFull},
		{
			name: "no machine-id falls back to gopsutil's id",
			info: debianInfo,
			etc:  map[string]string{"os-release": debianOSRelease},
			want: func() *Host {
				h := *wantFull
				h.ID = "8c4f0d2e-1111-2222-3333-444455556666"
				return &h
			}(),
			wantWarns: []string{"no machine-id, using gopsutil's host id"},
		},
		{
			name: "invalid machine-id and no fallback",
			info: func() *host.InfoStat { i := debianInfo(); i.HostID = ""; return i },
			etc:  map[string]string{"machine-id": "not-an-id\n", "os-release": debianOSRelease},
			want: func() *Host {
				h := *wantFull
				h.ID = ""
				return &h
			}(),
			wantWarns: []string{"no host id"},
		},
		{
			name: "no os-release, gopsutil lacks platform",
			info: func() *host.InfoStat { i := debianInfo(); i.Platform, i.PlatformVersion = "", ""; return i },
			etc:  map[string]string{"machine-id": "3d1219c7c4c5404aaa1f6d2a48adfda4"},
			want: func() *Host {
				h := *wantFull
				h.OS.Name, h.OS.Full, h.OS.Platform, h.OS.Version = "", "", "", ""
				return &h
			}(),
			wantWarns: []string{"no os-release, host.os.name and host.os.full are absent"},
		},
		{
			name: "os-release fills what gopsutil lacks",
			info: func() *host.InfoStat { i := debianInfo(); i.Platform, i.PlatformVersion = "", ""; return i },
			etc:  goodEtc,
			want: func() *Host {
				h := *wantFull
				h.OS.Version = "12"
				return &h
			}(),
		},
		{
			name:     "interfaces unreadable",
			info:     debianInfo,
			ifaceErr: errors.New("netlink denied"),
			etc:      goodEtc,
			want: func() *Host {
				h := *wantFull
				h.IP, h.MAC = nil, nil
				return &h
			}(),
			wantWarns: []string{"cannot list network interfaces, host.ip and host.mac are absent"},
		},
		{name: "info fails", infoErr: infoErr, etc: goodEtc, wantErr: infoErr},
		{
			name:    "empty hostname",
			info:    func() *host.InfoStat { i := debianInfo(); i.Hostname = ""; return i },
			etc:     goodEtc,
			wantErr: ErrNoHostname,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.WarnLevel)
			src := hostSource{
				info: func(context.Context) (*host.InfoStat, error) {
					if tt.infoErr != nil {
						return nil, tt.infoErr
					}
					return tt.info(), nil
				},
				interfaces: func(context.Context) (psnet.InterfaceStatList, error) {
					if tt.ifaceErr != nil {
						return nil, tt.ifaceErr
					}
					return testInterfaces(), nil
				},
				etcDir: etcDir(t, tt.etc),
			}
			got, err := readHost(context.Background(), zap.New(core), src)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("readHost error = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readHost (-want +got):\n%s", diff)
			}
			var warns []string
			for _, e := range logs.All() {
				warns = append(warns, e.Message)
			}
			if diff := cmp.Diff(tt.wantWarns, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadHostLocal reads the machine the test runs on (no privileges
// needed) and checks the result against independent sources.
func TestReadHostLocal(t *testing.T) {
	h, err := ReadHost(context.Background(), zap.NewNop(), HostOptions{})
	if err != nil {
		t.Fatalf("ReadHost: %v", err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"host.name":         hostname,
		"host.hostname":     hostname,
		"host.os.type":      "linux",
		"host.os.kernel":    unix.ByteSliceToString(uts.Release[:]),
		"host.architecture": unix.ByteSliceToString(uts.Machine[:]),
	}
	// Containers often ship an empty machine-id; only a real one is
	// expected to become host.id.
	if b, err := os.ReadFile("/etc/machine-id"); err == nil && len(strings.TrimSpace(string(b))) == 32 {
		want["host.id"] = strings.ToLower(strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		want["host.os.full"] = ParseOSRelease(b)["PRETTY_NAME"]
	}
	got := map[string]string{
		"host.name":         h.Name,
		"host.hostname":     h.Hostname,
		"host.os.type":      h.OS.Type,
		"host.os.kernel":    h.OS.Kernel,
		"host.architecture": h.Architecture,
	}
	if _, ok := want["host.id"]; ok {
		got["host.id"] = h.ID
	}
	if _, ok := want["host.os.full"]; ok {
		got["host.os.full"] = h.OS.Full
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadHost (-want +got):\n%s", diff)
	}
	for _, ip := range h.IP {
		if strings.HasPrefix(ip, "127.") || ip == "::1" {
			t.Errorf("host.ip contains loopback address %s", ip)
		}
	}
}

func TestReadHostEtcDir(t *testing.T) {
	dir := etcDir(t, map[string]string{
		"machine-id": "0123456789abcdef0123456789abcdef\n",
		"os-release": "NAME=\"Fake OS\"\nPRETTY_NAME=\"Fake OS 1 (test)\"\nID=fake\n",
	})
	h, err := ReadHost(context.Background(), zap.NewNop(), HostOptions{EtcDir: dir})
	if err != nil {
		t.Fatalf("ReadHost: %v", err)
	}
	want := [3]string{"0123456789abcdef0123456789abcdef", "Fake OS", "Fake OS 1 (test)"}
	if diff := cmp.Diff(want, [3]string{h.ID, h.OS.Name, h.OS.Full}); diff != "" {
		t.Errorf("ReadHost with EtcDir (-want +got):\n%s", diff)
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"debian", debianOSRelease, map[string]string{
			"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux", "VERSION_ID": "12",
			"VERSION": "12 (bookworm)", "VERSION_CODENAME": "bookworm", "ID": "debian", "HOME_URL": "https://www.debian.org/",
		}},
		{"comments blanks and junk", "# c\n\n  \nJUNK\n1X=bad\nA-B=bad\n=x\nOK=yes\n", map[string]string{"OK": "yes"}},
		{"single quotes are literal", `A='x\"y'`, map[string]string{"A": `x\"y`}},
		{"double quote escapes", `A="a\"b\\c\$d\` + "`" + `e\nf"`, map[string]string{"A": "a\"b\\c$d`e\\nf"}},
		{"unbalanced quote kept", `A="open`, map[string]string{"A": `"open`}},
		{"later wins, spaces trimmed", "A=1\n  A=2  \n", map[string]string{"A": "2"}},
		{"empty value", "A=\nB=\"\"", map[string]string{"A": "", "B": ""}},
		{"CRLF", "A=x\r\nB=\"y\"\r\n", map[string]string{"A": "x", "B": "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseOSRelease([]byte(tt.in))); diff != "" {
				t.Errorf("ParseOSRelease (-want +got):\n%s", diff)
			}
		})
	}
}

func TestECSMAC(t *testing.T) {
	tests := []struct{ in, want string }{
		{"52:54:00:ab:cd:ef", "52-54-00-AB-CD-EF"},
		{"", ""},
		{"00:00:00:00:00:00", ""},
		{"02:42:ac:11:00:02", "02-42-AC-11-00-02"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ecsMAC(tt.in); got != tt.want {
				t.Errorf("ecsMAC(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
