package chart

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/podguard/podguard/test/harness"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// valueSet is one way of installing the chart: the defaults, or a ci/*-values.yaml file
// (the sets chart-testing installs too).
type valueSet struct {
	name  string
	files []string
}

func valueSets(t *testing.T) []valueSet {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ci/*-values.yaml in the chart")
	}
	sets := []valueSet{{name: "default"}}
	for _, f := range files {
		sets = append(sets, valueSet{name: strings.TrimSuffix(filepath.Base(f), "-values.yaml"), files: []string{f}})
	}
	return sets
}

func render(t *testing.T, o Options) *Release {
	t.Helper()
	r, err := Render(t.Context(), o)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// mergedValues are the values a template sees: the chart's values.yaml with the set's
// files over it.
func mergedValues(t *testing.T, files []string) chartutil.Values {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	vals, err := mergeValues(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := chartutil.CoalesceValues(c, vals)
	if err != nil {
		t.Fatal(err)
	}
	return merged
}

// evalResult is one manifest in `podguard eval -o json`.
type evalResult struct {
	Kind       string      `json:"kind"`
	Name       string      `json:"name"`
	Verdict    string      `json:"verdict"`
	Violations []violation `json:"violations"`
}

type violation struct {
	Rule        string `json:"rule"`
	Message     string `json:"message"`
	Field       string `json:"field"`
	Enforcement string `json:"enforcement"`
	Exception   string `json:"exception"`
}

// podguardEval runs the real podguard binary's eval on data and returns its exit code and
// parsed output.
func podguardEval(t *testing.T, data []byte, args ...string) (int, []evalResult) {
	t.Helper()
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"eval", "-o", "json", "-f", "-"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, err := harness.ExitCode(cmd.Run())
	if err != nil {
		t.Fatal(err)
	}
	if code == 2 {
		t.Fatalf("podguard eval: usage or input error:\n%s", stderr.String())
	}
	var results []evalResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("podguard eval output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return code, results
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := WriteFile(path, data); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
