package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// makeOutput runs make in the repository root and returns what it printed.
func makeOutput(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s", "--no-print-directory"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = makefileDefaults(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makefileDefaults is the environment without what would set the Makefile's variables:
// a make that runs these tests (make test-stress STRESS_RUNS=1) passes its command-line
// variables down in MAKEFLAGS and the environment.
func makefileDefaults(t *testing.T) []string {
	set := map[string]bool{"MAKEFLAGS": true, "MFLAGS": true, "MAKEOVERRIDES": true, "MAKELEVEL": true}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) \??=`).FindAllStringSubmatch(repoFile(t, "Makefile"), -1) {
		set[m[1]] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !set[name] {
			env = append(env, kv)
		}
	}
	return env
}

// TestMakeHelpListsEverything checks that make help lists every phony target of the
// Makefile and every variable a user can set (each "?=" one), with its value.
func TestMakeHelpListsEverything(t *testing.T) {
	makefile := repoFile(t, "Makefile")
	help := makeOutput(t, "help")
	targetsPart, variablesPart, ok := strings.Cut(help, "\nVariables ")
	if !ok {
		t.Errorf("make help has no Variables part:\n%s", help)
	}
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-zA-Z0-9_-]+)  +\S`).FindAllStringSubmatch(targetsPart, -1) {
		listed = append(listed, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^\.PHONY: (.+)$`).FindAllStringSubmatch(makefile, -1) {
		for _, target := range strings.Fields(m[1]) {
			if !slices.Contains(listed, target) {
				t.Errorf("make help does not list the target %s (give it a \"## \" comment after its prerequisites)", target)
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+) \?= ?(.*)$`).FindAllStringSubmatch(makefile, -1) {
		name := m[1]
		line := regexp.MustCompile(`(?m)^  ` + name + ` = (.*)\n      \S`).FindStringSubmatch(variablesPart)
		if line == nil {
			t.Errorf("make help does not list the variable %s (give it a \"## \" comment line above)", name)
			continue
		}
		// A literal default is shown as is; a computed one only has to be there.
		if !strings.ContainsAny(m[2], "$") && strings.TrimSpace(line[1]) != m[2] {
			t.Errorf("make help shows %s = %q, the Makefile sets %q", name, line[1], m[2])
		}
	}
}

// TestMakeRunAddresses checks that make run serves on the addresses the variables give.
func TestMakeRunAddresses(t *testing.T) {
	out := makeOutput(t, "-n", "run", "PORT=19443", "METRICS_BIND_ADDRESS=127.0.0.1:19080", "HEALTH_PROBE_BIND_ADDRESS=127.0.0.1:19081")
	for _, want := range []string{"--port 19443", "--metrics-bind-address 127.0.0.1:19080", "--health-probe-bind-address 127.0.0.1:19081"} {
		if !strings.Contains(out, want) {
			t.Errorf("make run does not pass %s:\n%s", want, out)
		}
	}
}
