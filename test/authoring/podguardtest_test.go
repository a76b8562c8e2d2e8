package authoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podguard/podguard/test/harness"
)

// TestPodguardTestFromTheBinaryAlone runs `podguard test DIR` with a copy of the built
// binary in a directory holding nothing but it and the custom rules: their tests use
// data.pod.lib and data.pod.testing, which only the binary's embedded library provides.
// A passing set exits 0; a failing test exits 1 and is shown with the expression that
// failed and what the rule gave.
func TestPodguardTestFromTheBinaryAlone(t *testing.T) {
	built, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	fixtures := filepath.Join("..", "fixtures", "podguard-test")
	tests := map[string]struct {
		files    []string // from the fixtures, into rules/
		wantCode int
		wantOut  []string
	}{
		"passing tests": {
			files:    []string{"rules/team_label.rego", "rules/team_label_test.rego"},
			wantCode: 0,
			wantOut:  []string{"PASS: 2/2"},
		},
		"a failing test": {
			files:    []string{"rules/team_label.rego", "rules/team_label_test.rego", "failing_test.rego"},
			wantCode: 1,
			wantOut: []string{
				"data.pod.rules.team_label_failing_test.test_label_set_expected_to_fail: FAIL",
				"rules/failing_test.rego:8:",
				`team_label.violation == {{"msg": "label team is not set", "field": "metadata.labels.team"`,
				"set()", // what the rule gave
				"PASS: 2/3",
				"FAIL: 1/3",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Nothing of podguard's source in reach: the binary, the rules, an empty HOME.
			dir := t.TempDir()
			bin := filepath.Join(dir, "podguard")
			copyFile(t, built, bin, 0o755)
			for _, f := range tc.files {
				copyFile(t, filepath.Join(fixtures, f), filepath.Join(dir, "rules", filepath.Base(f)), 0o644)
			}
			cmd := exec.CommandContext(t.Context(), bin, "test", "rules")
			cmd.Dir = dir
			cmd.Env = []string{"HOME=" + dir, "PATH=/nonexistent"}
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			code, err := harness.ExitCode(cmd.Run())
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || errOut.Len() > 0 {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.wantCode, errOut.String())
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
