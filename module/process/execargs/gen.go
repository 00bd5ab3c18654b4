package execargs

// The program (exec.c) is compiled to BPF for little-endian hosts (amd64,
// arm64 and the rest: it reads no registers, so one object serves all),
// and bpf2go writes the object and its Go bindings (exec_bpfel.o,
// exec_bpfel.go). Both are committed, so building spawnbeat needs no
// clang; exec_bpfel.sha256 names the sources they were made from, which
// TestBindingsMatchSource checks. Regenerate with `go generate` here (or
// `mage generate`) after `apt-get install clang llvm libbpf-dev`.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -strip llvm-strip -target bpfel -type exec_header -type exec_flag -cflags "-O2 -g -Wall -Werror" exec exec.c
//go:generate sh -c "sha256sum exec.c vmlinux.h > exec_bpfel.sha256 && clang --version | head -n 1 | sed 's/^/# /' >> exec_bpfel.sha256"
