package execargs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBindingsMatchSource: the committed object and Go bindings were made
// from the committed C source. exec_bpfel.sha256 names the sources `go
// generate` compiled; the object holds the maps and programs exec.c
// declares, by the names the bindings use; and the limits the Go side
// assumes are exec.c's. Edit exec.c or vmlinux.h without regenerating, and
// this fails.
func TestBindingsMatchSource(t *testing.T) {
	sums, err := os.ReadFile("exec_bpfel.sha256")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(sums), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := os.ReadFile(f[1])
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s changed since the object was generated: run go generate in module/process/execargs", f[1])
		}
	}

	src, err := os.ReadFile("exec.c")
	if err != nil {
		t.Fatal(err)
	}
	var maps, progs []string
	// A map is declared by an anonymous struct ("} name SEC") or a named
	// one ("struct type name SEC").
	for _, m := range regexp.MustCompile(`(?m)^(?:\}|struct \w+) (\w+) SEC\("\.maps"\);`).FindAllSubmatch(src, -1) {
		maps = append(maps, string(m[1]))
	}
	for _, m := range regexp.MustCompile(`(?m)^SEC\("[^"]+"\)\nint (\w+)\(`).FindAllSubmatch(src, -1) {
		progs = append(progs, string(m[1]))
	}
	spec, err := loadExec()
	if err != nil {
		t.Fatal(err)
	}
	var objMaps, objProgs []string
	for name := range spec.Maps {
		objMaps = append(objMaps, name)
	}
	for name := range spec.Programs {
		objProgs = append(objProgs, name)
	}
	for _, c := range []struct {
		what           string
		source, object []string
		bindings       []string
	}{
		{"maps", maps, objMaps, []string{execMapExecRing, execMapExecScratch, execMapWakeAny, execMapWakeNames, execMapWakeParents}},
		{"programs", progs, objProgs, []string{execProgExecImage}},
	} {
		slices.Sort(c.source)
		slices.Sort(c.object)
		slices.Sort(c.bindings)
		if len(c.source) == 0 || !slices.Equal(c.source, c.object) || !slices.Equal(c.source, c.bindings) {
			t.Errorf("%s: exec.c declares %q, the object holds %q, the bindings name %q", c.what, c.source, c.object, c.bindings)
		}
	}
	if p := spec.Programs[execProgExecImage]; p == nil || p.SectionName != "raw_tracepoint/sched_process_exec" {
		t.Errorf("program %s: want section raw_tracepoint/sched_process_exec", execProgExecImage)
	}

	defines := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(string(src)))
	re := regexp.MustCompile(`^#define (\w+) \(?(\d+)(?: << (\d+))?\)?`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.Atoi(m[2])
			if m[3] != "" {
				s, _ := strconv.Atoi(m[3])
				v <<= s
			}
			defines[m[1]] = v
		}
	}
	for name, want := range map[string]int{"PATHS_MAX": pathsMax, "TASK_COMM_LEN": commLen, "RECORD_MAX": headerLen + dataMax, "WAKE_NAMES_MAX": MaxWakeNames} {
		if got, ok := defines[name]; !ok || got != want {
			t.Errorf("exec.c's %s is %d (found %v), the Go side assumes %d", name, got, ok, want)
		}
	}
	if ringSize := spec.Maps[execMapExecRing].MaxEntries; ringSize != 1<<20 {
		t.Errorf("ring of %d bytes, the docs say 1 MiB", ringSize)
	}
}
