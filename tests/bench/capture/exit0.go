package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// exit0 is a static program that only exits with status 0: an ELF header,
// one loadable segment and three instructions, no loader, no libc. Its
// exec is the cheapest there is, so a storm of it shows the proc
// connector and spawnbeat at the highest exec rate the machine reaches.
// /bin/true costs a dynamic loader and libc's start-up on top.
func exit0() ([]byte, error) {
	var machine uint16
	var code []byte
	switch runtime.GOARCH {
	case "amd64":
		machine = 62 // EM_X86_64
		code = []byte{
			0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
			0x31, 0xff, // xor edi, edi
			0x0f, 0x05, // syscall
		}
	case "arm64":
		machine = 183 // EM_AARCH64
		code = []byte{
			0x00, 0x00, 0x80, 0xd2, // mov x0, #0
			0xa8, 0x0b, 0x80, 0xd2, // mov x8, #93 (exit)
			0x01, 0x00, 0x00, 0xd4, // svc #0
		}
	default:
		return nil, fmt.Errorf("no exit0 program for %s", runtime.GOARCH)
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	size := uint64(ehsize + phsize + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, 0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little-endian */, 1 /* version */, 0 /* System V */)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, machine)
	b = le.AppendUint32(b, 1)                  // version
	b = le.AppendUint64(b, base+ehsize+phsize) // entry: the code
	b = le.AppendUint64(b, ehsize)             // program headers' offset
	b = le.AppendUint64(b, 0)                  // no section headers
	b = le.AppendUint32(b, 0)                  // flags
	b = le.AppendUint16(b, ehsize)             // header size
	b = le.AppendUint16(b, phsize)             // program header size
	b = le.AppendUint16(b, 1)                  // one program header
	b = le.AppendUint16(b, 64)                 // section header size
	b = le.AppendUint16(b, 0)                  // no sections
	b = le.AppendUint16(b, 0)                  // no section names
	b = le.AppendUint32(b, 1)                  // PT_LOAD
	b = le.AppendUint32(b, 5)                  // PF_R | PF_X
	b = le.AppendUint64(b, 0)                  // from the file's start
	b = le.AppendUint64(b, base)               // vaddr
	b = le.AppendUint64(b, base)               // paddr
	b = le.AppendUint64(b, size)               // file size
	b = le.AppendUint64(b, size)               // memory size
	b = le.AppendUint64(b, 0x1000)             // alignment
	return append(b, code...), nil
}

// exit0Path is where the harness writes exit0 for its launchers: beside
// its own binary (go run's private build directory), which the launcher
// processes, the same binary, find too.
func exit0Path() string {
	exe, err := os.Executable()
	if err != nil {
		return filepath.Join(os.TempDir(), "spawnbeat-bench-exit0")
	}
	return filepath.Join(filepath.Dir(exe), "exit0")
}

// writeExit0 writes exit0 to exit0Path.
func writeExit0() error {
	prog, err := exit0()
	if err != nil {
		return err
	}
	if err := os.WriteFile(exit0Path(), prog, 0o755); err != nil { // an executable, on purpose
		return fmt.Errorf("write exit0: %w", err)
	}
	return nil
}
