package offline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/podguard/podguard/policies/offline"
)

// The fixtures live outside policies/ so that `opa test policies` does not read them as data.
const fixtures = "../../test/fixtures/eval/"

func TestEvalCommand(t *testing.T) {
	golden := func(name string) string {
		b, err := os.ReadFile(fixtures + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := map[string]struct {
		args       []string
		stdin      string
		wantCode   int
		wantOut    string // exact stdout, when set
		wantInOut  []string
		wantStderr string
	}{
		"multi-document file with a List: exits 1 for the refused Pod": {
			args: []string{"-f", fixtures + "multi.yaml"}, wantCode: 1, wantOut: golden("multi.golden.txt"),
		},
		"LimitRanges in the input fill the gaps of workloads in their namespace only": {
			args:     []string{"-f", fixtures + "limitrange.yaml", "--config", fixtures + "no-cpu-limit-default.config.yaml"},
			wantCode: 1, wantOut: golden("limitrange.golden.txt"),
		},
		"JUnit: one case per manifest, refused ones fail, lines point at the fields": {
			args: []string{"-f", fixtures + "multi.yaml", "-o", "junit"}, wantCode: 1, wantOut: golden("multi.golden.junit.xml"),
		},
		"--explain describes the rules that fired": {
			args: []string{"-f", fixtures + "multi.yaml", "--explain"}, wantCode: 1,
			wantInOut: []string{
				"\nRules:\n  image-tag: Image tag\n",
				"    See https://kubernetes.io/docs/concepts/containers/images/#image-names\n",
				"  resources-requests: Resource requests\n",
			},
		},
		"a namespaceSelector override reads the labels of Namespaces in the input": {
			args:     []string{"-f", fixtures + "namespace-selector.yaml", "--config", fixtures + "legacy-warn.config.yaml"},
			wantCode: 0,
			wantInOut: []string{
				"Pod billing/old: admitted\n",
				`  warn  [image-tag] container "app": image "registry.example.com/old:latest" uses the disallowed tag "latest"`,
			},
		},
		"compliant workload exits 0": {
			args: []string{"-f", fixtures + "compliant.yaml"}, wantCode: 0,
			wantOut: "../../test/fixtures/eval/compliant.yaml:1 Deployment shop/web: admitted\n1 manifests, 0 refused\n",
		},
		"stdin": {
			args: []string{"-f", "-"}, stdin: golden("compliant.yaml"), wantCode: 0,
			wantOut: "<stdin>:1 Deployment shop/web: admitted\n1 manifests, 0 refused\n",
		},
		"a bad document is named by file and line": {
			args: []string{"-f", fixtures + "broken.yaml"}, wantCode: 2,
			wantStderr: "podguard eval: ../../test/fixtures/eval/broken.yaml:9: did not find expected ',' or ']'\n",
		},
		"a missing file is an input error": {
			args: []string{"-f", fixtures + "nope.yaml"}, wantCode: 2,
			wantStderr: "podguard eval: stat ../../test/fixtures/eval/nope.yaml: no such file or directory\n",
		},
		"no input is a usage error": {
			args: nil, wantCode: 2,
			wantStderr: "usage: podguard eval -f FILE|DIR|- [-f ...] [--config FILE] [--policy-dir DIR] [-o text|json|junit|sarif] [--explain] [--mutate]\n",
		},
		"unknown output format": {
			args: []string{"-f", fixtures + "multi.yaml", "-o", "xml"}, wantCode: 2,
			wantStderr: "podguard eval: -o \"xml\": use text, json, junit or sarif\n",
		},
		"--mutate prints what the cluster stores": {
			args: []string{"-f", fixtures + "multi.yaml", "--mutate"}, wantCode: 1,
			wantInOut: []string{
				"podguard.io/defaults: app:requests.cpu=100m,app:requests.memory=128Mi,app:limits.cpu=500m,app:limits.memory=256Mi",
				"kind: Service",
				"\n---\n",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := offline.Main(t.Context(), "test", tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if tc.wantOut != "" && out.String() != tc.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), tc.wantOut)
			}
			for _, s := range tc.wantInOut {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			if errOut.String() != tc.wantStderr {
				t.Errorf("stderr %q, want %q", errOut.String(), tc.wantStderr)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	var out, errOut bytes.Buffer
	code := offline.Main(t.Context(), "test", []string{"-f", fixtures + "multi.yaml", "-o", "json"}, nil, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var results []struct {
		Kind, Name, Verdict string
		Item                int
		Line                int
		Violations          []struct {
			Rule      string
			Defaulted bool
		}
	}
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		line := r.Kind + "/" + r.Name + ":" + r.Verdict
		for _, v := range r.Violations {
			if !v.Defaulted {
				line += " " + v.Rule
			}
		}
		got = append(got, line)
	}
	want := []string{"Service/web:unchecked", "Pod/web:admit", "Pod/latest:refuse image-tag", "Pod/system:exempt"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
