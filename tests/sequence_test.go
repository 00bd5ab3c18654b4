package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spawnbeat/spawnbeat/internal/testenv"
)

// corpusRule is the path of a rule file of Elastic's corpus, which lives
// beside the repository (../shared/detection-rules/linux) and is never
// copied in. A missing corpus fails under CI=true and skips elsewhere.
func corpusRule(t *testing.T, file string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "shared", "detection-rules", "linux", file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("conformance corpus missing: %v", err)
		}
		t.Skipf("conformance corpus missing: %v", err)
	}
	return path
}

// Three of Elastic's sequence rules whose steps real processes on the host
// produce.
const (
	// Multiple Base64 Decoding Attempts from Unusual Location: two
	// base64 -d under one parent in /tmp/..., within 3 s.
	multiBase64ID = "03d856c2-7f74-4540-a530-e20af5e39789"
	// Unusual User Enumeration via Id: id USER 20 times under one parent
	// within 1 s (with runs=20).
	userEnumID = "afa135c0-a365-43ab-aa35-fd86df314a47"
	// Potential Shell via Wildcard Injection: tar with --checkpoint-action,
	// then a shell that tar starts, within 1 s (join keys per step:
	// tar's entity_id, the shell's parent entity_id).
	wildcardID = "0b803267-74c5-444d-ae29-32b5db2d562a"
)

// TestE2ESequenceRules runs three of Elastic's sequence rules through the
// real agent on real processes: each attack yields exactly one alert, on
// the document of the step that completes the sequence, and that alert
// names the earlier steps' documents by event.id in spawnbeat.sequence;
// the same attacks one step short, in shells of their own, yield none.
func TestE2ESequenceRules(t *testing.T) {
	testenv.RequireRoot(t)
	files := []string{
		corpusRule(t, "defense_evasion_multi_base64_decoding_attempt.toml"),
		corpusRule(t, "discovery_unusual_user_enumeration_via_id.toml"),
		corpusRule(t, "privilege_escalation_potential_wildcard_shell_spawn.toml"),
	}
	cfg := fileConfig + "spawnbeat.detection.rules: [" + strings.Join(quoteAll(files), ", ") + "]\n"
	a := startAgent(t, cfg)
	a.waitLog("rule set installed", 10*time.Second)

	work := t.TempDir() // under /tmp: the base64 rule wants /tmp/*
	if err := os.WriteFile(filepath.Join(work, "a"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("seq-%d", time.Now().UnixNano())
	run := func(script string) { t.Helper(); runAs(t, work, marker, script) }
	// Controls, one step short each, in shells of their own: no alert.
	control := fmt.Sprintf("ctl-%d", time.Now().UnixNano())
	runAs(t, work, control, `(sleep 0.1; echo aGkK) | base64 -d >/dev/null`)
	runAs(t, work, control, `for u in $(seq 19); do id root >/dev/null; done`)
	runAs(t, work, control, `tar -cf /dev/null a --checkpoint=1`)

	// base64 reads a pipe that stays open a little, so that each lives
	// long enough to be seen whole whatever reads its arguments.
	run(`(sleep 0.1; echo aGkK) | base64 -d >/dev/null; (sleep 0.1; echo aGkK) | base64 --decode >/dev/null`)
	run(`for u in root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc nobody root daemon bin; do id "$u" >/dev/null || true; done`)
	run(`tar -cf /dev/null a --checkpoint=1 "--checkpoint-action=exec=true $0"`)

	end := fmt.Sprintf("sequences-done-%d", time.Now().UnixNano())
	_ = exec.Command("/bin/sh", "-c", "sleep 0.05", end).Run()
	if len(a.waitDocs(1, 60*time.Second, hasArg(end))) == 0 {
		t.Fatalf("the end marker %s never arrived", end)
	}
	docs := a.docs()

	// The shells that ran the scripts carry the marker as $0; the tar and
	// its shell carry it in their arguments.
	shells := map[string]bool{}
	for _, d := range docs {
		if hasArg(marker)(d) && slices.Contains([]string{"dash", "sh"}, str(d, "process.name")) {
			shells[str(d, "process.entity_id")] = true
		}
	}
	children := func(name string) []map[string]any {
		var out []map[string]any
		for _, d := range docs {
			if str(d, "event.action") == "exec" && str(d, "process.name") == name && shells[str(d, "process.parent.entity_id")] {
				out = append(out, d)
			}
		}
		return out
	}
	alertsFor := func(rule string) []map[string]any {
		var out []map[string]any
		for _, d := range docs {
			if str(d, "event.kind") == "alert" && slices.Contains(ruleIDs(d), rule) {
				out = append(out, d)
			}
		}
		return out
	}
	ids := func(ds []map[string]any) []string {
		var out []string
		for _, d := range ds {
			out = append(out, str(d, "event.id"))
		}
		return out
	}

	t.Run("multiple base64 decoding", func(t *testing.T) {
		b64 := children("base64")
		if len(b64) != 2 {
			t.Fatalf("%d base64 exec documents under the script's shell, want 2", len(b64))
		}
		checkSequenceAlert(t, alertsFor(multiBase64ID), multiBase64ID, b64[1], ids(b64[:1]))
	})
	t.Run("user enumeration, runs=20", func(t *testing.T) {
		id := children("id")
		if len(id) != 20 {
			t.Fatalf("%d id exec documents under the script's shell, want 20", len(id))
		}
		checkSequenceAlert(t, alertsFor(userEnumID), userEnumID, id[19], ids(id[:19]))
	})
	t.Run("wildcard injection via tar", func(t *testing.T) {
		tar := children("tar")
		if len(tar) != 1 {
			t.Fatalf("%d tar exec documents, want 1", len(tar))
		}
		var shell []map[string]any
		for _, d := range docs {
			if str(d, "event.action") == "exec" && str(d, "process.parent.entity_id") == str(tar[0], "process.entity_id") &&
				slices.Contains([]string{"dash", "sh"}, str(d, "process.name")) {
				shell = append(shell, d)
			}
		}
		if len(shell) == 0 {
			t.Fatal("no shell exec document under tar")
		}
		checkSequenceAlert(t, alertsFor(wildcardID), wildcardID, shell[0], ids(tar))
	})
}

// runAs runs script with /bin/sh in dir, $0 set to name.
func runAs(t *testing.T, dir, name, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script, name)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// checkSequenceAlert wants exactly one alert of the rule, on the document
// of the completing step, naming the earlier steps' event.ids.
func checkSequenceAlert(t *testing.T, alerts []map[string]any, rule string, last map[string]any, earlier []string) {
	t.Helper()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts of rule %s, want 1: %v", len(alerts), rule, alerts)
	}
	al := alerts[0]
	if str(al, "event.id") != str(last, "event.id") {
		t.Errorf("the alert is document %s (%v), want the completing step %s (%v)",
			str(al, "event.id"), get(al, "process.args"), str(last, "event.id"), get(last, "process.args"))
	}
	if num(al, "event.risk_score") != 47 || num(al, "event.severity") != 47 || str(al, "message") == "" {
		t.Errorf("risk_score %v severity %v message %q", get(al, "event.risk_score"), get(al, "event.severity"), str(al, "message"))
	}
	seqs, _ := get(al, "spawnbeat.sequence").([]any)
	var got []string
	for _, s := range seqs {
		m, _ := s.(map[string]any)
		if m["rule_id"] == rule {
			got = strs(m, "event_ids")
		}
	}
	if !slices.Equal(got, earlier) {
		t.Errorf("spawnbeat.sequence for %s: event_ids %v, want %v (all: %v)", rule, got, earlier, seqs)
	}
}

// ruleIDs reads rule.id, a string or an array of strings.
func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
