package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podguard/podguard/policies/offline"
)

// TestEvalFix: --fix writes podguard's defaults into a file with comments, anchors, flow
// mappings and odd indentation, giving the golden file byte for byte; a second run changes
// nothing; eval on the fixed file finds no violation that podguard's defaults fill; and
// --dry-run prints the change as a unified diff without writing it.
func TestEvalFix(t *testing.T) {
	const dir = fixtures + "fix/"
	input, err := os.ReadFile(dir + "manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "manifests.yaml")
	if err := os.WriteFile(file, input, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := evalCommand(t.Context(), "test", args, strings.NewReader(""), &out, &errOut)
		return code, strings.ReplaceAll(out.String(), tmp, "DIR"), strings.ReplaceAll(errOut.String(), tmp, "DIR")
	}
	filledByPodguard := func() []string {
		t.Helper()
		_, out, _ := run("-o", "json", file)
		var results []offline.Result
		if err := json.Unmarshal([]byte(out), &results); err != nil {
			t.Fatal(err)
		}
		var filled []string
		for _, r := range results {
			for _, f := range r.Findings {
				if f.FilledBy == "podguard" {
					filled = append(filled, r.Name+": "+f.Field)
				}
			}
		}
		return filled
	}
	if len(filledByPodguard()) == 0 {
		t.Fatal("the fixture has no violation that podguard's defaults fill: nothing to fix")
	}

	code, diff, stderr := run("--fix", "--dry-run", file)
	if code != 0 || stderr != "" {
		t.Errorf("--fix --dry-run: exit %d, stderr %q", code, stderr)
	}
	checkGolden(t, dir+"manifests.diff", []byte(diff))
	if now, _ := os.ReadFile(file); !bytes.Equal(now, input) {
		t.Error("--dry-run changed the file")
	}

	if code, _, stderr := run("--fix", file); code != 0 || !strings.Contains(stderr, "podguard eval: --fix: added DIR/manifests.yaml:") {
		t.Errorf("--fix: exit %d, stderr %q", code, stderr)
	}
	fixed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, dir+"manifests.fixed.yaml", fixed)
	if filled := filledByPodguard(); len(filled) != 0 {
		t.Errorf("after --fix, podguard's defaults still fill %q", filled)
	}

	if code, out, stderr := run("--fix", file); code != 0 || stderr != "" || strings.Contains(out, "REFUSED") {
		t.Errorf("second --fix: exit %d, stdout %q, stderr %q; want nothing to do", code, out, stderr)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, fixed) {
		t.Errorf("second --fix changed the file:\n%s", again)
	}
}

// TestEvalFixLabels: --fix writes the required labels the configuration gives a value
// for, into a flow mapping, a missing labels mapping (a CronJob's pod template); a labels
// mapping that is anchored and shared through an alias is left alone, and named.
func TestEvalFixLabels(t *testing.T) {
	const dir = fixtures + "fix/"
	input, err := os.ReadFile(dir + "labels.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	file := filepath.Join(tmp, "labels.yaml")
	if err := os.WriteFile(file, input, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", dir + "labels.config.yaml", "--fix", file}
	const notFixed = `podguard eval: --fix: DIR/labels.yaml:45 Pod shop/tool: not fixed: the value is inside an anchored node (&podlabels), which its aliases share; change it by hand (metadata.labels["team"]); ` +
		`the value is inside an anchored node (&podlabels), which its aliases share; change it by hand (metadata.labels["tier"])` + "\n"
	var out, errOut bytes.Buffer
	code := evalCommand(t.Context(), "test", args, strings.NewReader(""), &out, &errOut)
	stderr := strings.ReplaceAll(errOut.String(), tmp, "DIR")
	if code != 1 || !strings.HasPrefix(stderr, notFixed) || !strings.Contains(stderr, `added DIR/labels.yaml:10 spec.template.metadata.labels["team"]=shop`) {
		t.Errorf("--fix: exit %d (want 1: the Pod still lacks its labels), stderr %q", code, stderr)
	}
	fixed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, dir+"labels.fixed.yaml", fixed)
	errOut.Reset()
	evalCommand(t.Context(), "test", args, strings.NewReader(""), &out, &errOut)
	if again, _ := os.ReadFile(file); !bytes.Equal(again, fixed) || strings.Contains(errOut.String(), "added") {
		t.Errorf("second --fix changed the file (stderr %q):\n%s", errOut.String(), again)
	}
}
