package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/podguard/podguard/policies/offline"
)

// The fixtures live outside policies/ so that `opa test policies` does not read them as data.
const fixtures = "../../test/fixtures/eval/"

var update = flag.Bool("update", false, "rewrite the golden files with what eval prints now")

// checkGolden fails the test unless got is the content of the golden file at path; with
// -update it first writes got there.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestEvalCommand(t *testing.T) {
	read := func(name string) string {
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
		golden     string // file holding the exact stdout
		wantOut    string // exact stdout, when set
		wantInOut  []string
		wantStderr string
	}{
		"multi-document file with a List: exits 1 for the refused Pod": {
			args: []string{"-f", fixtures + "multi.yaml"}, wantCode: 1, golden: "multi.golden.txt",
		},
		"LimitRanges in the input fill the gaps of workloads in their namespace only": {
			args:     []string{"-f", fixtures + "limitrange.yaml", "--config", fixtures + "no-cpu-limit-default.config.yaml"},
			wantCode: 1, golden: "limitrange.golden.txt",
		},
		"--evaluator=rego: OPA's evaluator gives the same answers": {
			args: []string{"-f", fixtures + "multi.yaml", "--evaluator=rego"}, wantCode: 1, golden: "multi.golden.txt",
		},
		"an unknown evaluator is a usage error": {
			args: []string{"-f", fixtures + "compliant.yaml", "--evaluator", "wasm"}, wantCode: 2,
			wantStderr: "podguard eval: --evaluator: evaluator \"wasm\": use plan or rego\n" + evalSynopsis + "\n",
		},
		"JUnit: one case per manifest, refused ones fail, lines point at the fields": {
			args: []string{"-f", fixtures + "multi.yaml", "-o", "junit"}, wantCode: 1, golden: "multi.golden.junit.xml",
		},
		"a repository tree: the Pod, the built kustomization and the rendered chart judged, their files and the chart's values skipped": {
			args: []string{"-f", fixtures + "tree"}, wantCode: 1, golden: "tree.golden.txt",
		},
		"a repository tree in JUnit: skipped documents skipped": {
			args: []string{"-f", fixtures + "tree", "-o", "junit"}, wantCode: 1, golden: "tree.golden.junit.xml",
		},
		"--quiet leaves out what is not judged": {
			args: []string{"--quiet", "-f", fixtures + "tree"}, wantCode: 1, golden: "tree.quiet.golden.txt",
		},
		"documents as kubectl reads them: inline separator refused, IPAllowList an object, PodList items are Pods, cluster-scoped kinds without namespace": {
			args: []string{"-f", fixtures + "kubectl-reading.yaml"}, wantCode: 2, golden: "kubectl-reading.golden.txt",
		},
		"what kubectl refuses is refused: a key twice (both lines named), an object without apiVersion": {
			args: []string{"-f", fixtures + "kubectl-refuses.yaml"}, wantCode: 1,
			wantOut: "../../test/fixtures/eval/kubectl-refuses.yaml:10: REFUSED: key \"containers\" twice in one mapping (lines 7 and 10): kubectl refuses the file (key \"containers\" already set in map)\n" +
				"../../test/fixtures/eval/kubectl-refuses.yaml:15: REFUSED: Pod without apiVersion, which kubectl refuses (Object 'apiVersion' is missing)\n" +
				"2 manifests: 2 refused, 0 admitted\n",
		},
		"a repository: the rendered charts, the built overlay and plain manifests judged; the unvendored chart, the chart with a required value unset, values, kustomize sources and the duplicate key named with reasons; vendor/ excluded (exit 1)": {
			args: []string{fixtures + "repo", "--exclude", "vendor/"}, wantCode: 1, golden: "repo.golden.txt",
		},
		"the same with --strict: the chart that cannot be rendered fails the run (exit 2)": {
			args: []string{fixtures + "repo", "--exclude", "vendor/", "--strict", "--quiet"}, wantCode: 2, golden: "repo.strict.golden.txt",
		},
		"the same without --exclude: the template in vendor/ is unreadable (exit 2)": {
			args: []string{fixtures + "repo", "--quiet"}, wantCode: 2, golden: "repo.unexcluded.golden.txt",
		},
		"the same as GitHub workflow commands": {
			args: []string{fixtures + "repo", "--exclude", "vendor/", "-o", "github"}, wantCode: 1, golden: "repo.golden.github.txt",
			wantStderr: "podguard eval: ../../test/fixtures/eval/repo/helm/api/Chart.yaml: helm template ../../test/fixtures/eval/repo/helm/api: execution error at (api/templates/deployment.yaml:11:20): set image: the api's image reference\n" +
				"podguard eval: ../../test/fixtures/eval/repo/helm/billing/Chart.yaml: helm template ../../test/fixtures/eval/repo/helm/billing: dependency postgresql named in Chart.yaml is not vendored in charts/ (helm dependency build fetches it; podguard eval fetches nothing)\n",
		},
		"--helm-chart with --helm-values and --helm-set, in Helm's order: the last --set wins": {
			args:     []string{"--helm-chart", fixtures + "repo/helm/shop", "--helm-values", fixtures + "repo/helm/shop/values-staging.yaml", "--helm-set", "probes=true,image=shop:1", "--helm-set", "probes=false", "--quiet"},
			wantCode: 1, golden: "repo.helm-set.golden.txt",
		},
		"--config twice is refused, not last-wins": {
			args: []string{fixtures + "compliant.yaml", "--config", fixtures + "max-memory-1Gi.config.yaml", "--config", fixtures + "no-cpu-limit-default.config.yaml"}, wantCode: 2,
			wantStderr: "podguard eval: invalid value \"../../test/fixtures/eval/no-cpu-limit-default.config.yaml\" for flag -config: given twice (\"../../test/fixtures/eval/max-memory-1Gi.config.yaml\", then \"../../test/fixtures/eval/no-cpu-limit-default.config.yaml\"): it takes one value\n" + evalSynopsis + "\n",
		},
		"--policy-dir twice is refused": {
			args: []string{fixtures + "compliant.yaml", "--policy-dir", "a", "--policy-dir", "b"}, wantCode: 2,
			wantStderr: "podguard eval: invalid value \"b\" for flag -policy-dir: given twice (\"a\", then \"b\"): it takes one value\n" + evalSynopsis + "\n",
		},
		"--helm-set without --helm-chart is refused": {
			args: []string{fixtures + "repo", "--helm-set", "a=b"}, wantCode: 2,
			wantStderr: "podguard eval: --helm-values and --helm-set apply to the charts named with --helm-chart: name one\n" + evalSynopsis + "\n",
		},
		"kinds by API group: a Volcano Job is not checked, a batch Job is": {
			args: []string{"-f", fixtures + "kinds.yaml"}, wantCode: 1, golden: "kinds.golden.txt",
		},
		"a LimitRange's defaults as the API server completes them; a default above the maximum refuses, and says so": {
			args:     []string{"-f", fixtures + "limitrange-defaults.yaml", "--config", fixtures + "max-memory-1Gi.config.yaml"},
			wantCode: 1, golden: "limitrange-defaults.golden.txt",
		},
		"the same in JUnit and SARIF terms: the violation a default causes is the failure": {
			args:     []string{"-f", fixtures + "limitrange-defaults.yaml", "--config", fixtures + "max-memory-1Gi.config.yaml", "-o", "junit"},
			wantCode: 1, golden: "limitrange-defaults.golden.junit.xml",
		},
		"files as plain arguments, flags after them": {
			args: []string{fixtures + "compliant.yaml", "-o", "text"}, wantCode: 0,
			wantOut: "../../test/fixtures/eval/compliant.yaml:1 Deployment shop/web: admitted\n1 manifest: 0 refused, 1 admitted\n",
		},
		"--help prints the usage on stdout and exits 0": {
			args: []string{"--help"}, wantCode: 0,
			wantInOut: []string{"usage: podguard eval [-f] FILE|DIR|- ...", "Exit code:\n  0  ", "  -quiet\n"},
		},
		"-h too": {args: []string{"-f", "x.yaml", "-h"}, wantCode: 0, wantInOut: []string{"usage: podguard eval"}},
		"an unknown flag is named": {
			args: []string{"-f", fixtures + "compliant.yaml", "--bogus"}, wantCode: 2,
			wantStderr: "podguard eval: flag provided but not defined: -bogus\n" + evalSynopsis + "\n",
		},
		"a bad flag value is named": {
			args: []string{"-f", fixtures + "compliant.yaml", "--mutate=maybe"}, wantCode: 2,
			wantStderr: "podguard eval: invalid boolean value \"maybe\" for -mutate: parse error\n" + evalSynopsis + "\n",
		},
		"--mutate with a report format is a usage error": {
			args: []string{"-f", fixtures + "compliant.yaml", "--mutate", "-o", "sarif"}, wantCode: 2,
			wantStderr: "podguard eval: --mutate prints manifests: use -o text (YAML) or -o json, not -o sarif\n" + evalSynopsis + "\n",
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
				`  warn   [image-tag] container "app": image "registry.example.com/old:latest" uses the disallowed tag "latest"`,
			},
		},
		"compliant workload exits 0": {
			args: []string{"-f", fixtures + "compliant.yaml"}, wantCode: 0,
			wantOut: "../../test/fixtures/eval/compliant.yaml:1 Deployment shop/web: admitted\n1 manifest: 0 refused, 1 admitted\n",
		},
		"stdin": {
			args: []string{"-f", "-"}, stdin: read("compliant.yaml"), wantCode: 0,
			wantOut: "<stdin>:1 Deployment shop/web: admitted\n1 manifest: 0 refused, 1 admitted\n",
		},
		"a bad document is named by file and line, after the good one before it is judged": {
			args: []string{"-f", fixtures + "broken.yaml"}, wantCode: 2,
			wantInOut: []string{
				"../../test/fixtures/eval/broken.yaml:1 Pod default/ok: REFUSED\n",
				"../../test/fixtures/eval/broken.yaml:9: UNREADABLE: did not find expected ',' or ']'\n",
				"1 manifest: 1 refused, 0 admitted; 1 other document: 1 unreadable\n",
			},
		},
		"a missing file is reported and the other inputs are still judged": {
			args: []string{"-f", fixtures + "nope.yaml", "-f", fixtures + "compliant.yaml"}, wantCode: 2,
			wantOut: "../../test/fixtures/eval/nope.yaml: UNREADABLE: no such file or directory\n" +
				"../../test/fixtures/eval/compliant.yaml:1 Deployment shop/web: admitted\n" +
				"1 manifest: 0 refused, 1 admitted; 1 other document: 1 unreadable\n",
		},
		"no input is a usage error": {
			args: nil, wantCode: 2,
			wantStderr: "podguard eval: no input: name files, directories or - (stdin), with or without -f\n" + evalSynopsis + "\n",
		},
		"unknown output format": {
			args: []string{"-f", fixtures + "multi.yaml", "-o", "xml"}, wantCode: 2,
			wantStderr: "podguard eval: -o \"xml\": use text, json, junit, sarif, github or report\n" + evalSynopsis + "\n",
		},
		"--policy-dir runs the directory's tests, and a failing one is named (exit 2)": {
			args: []string{"--policy-dir", fixtures + "policies/failing-test", "-f", fixtures + "compliant.yaml"}, wantCode: 2,
			wantStderr: "podguard eval: policy tests failed:\n" +
				"  ../../test/fixtures/eval/policies/failing-test/no_host_network_test.rego:10: data.pod.rules.no_host_network_test.test_no_host_network_reported_twice\n",
		},
		"--policy-dir warnings name file and line on stderr; the verdict stands": {
			args: []string{"--policy-dir", fixtures + "policies/metadata-id", "-f", fixtures + "compliant.yaml"}, wantCode: 0,
			wantStderr: "podguard eval: warning: ../../test/fixtures/eval/policies/metadata-id/no_privileged.rego:1: METADATA custom.id \"no-priv\" does not match the package: " +
				"package pod.rules.no_privileged is rule \"no-privileged\" (podguard names a rule after its package, in messages and in the configuration)\n",
		},
		"--mutate prints what the cluster stores, as YAML": {
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
			code := evalCommand(t.Context(), "test", tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			if tc.golden != "" {
				checkGolden(t, fixtures+tc.golden, out.Bytes())
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
	code := evalCommand(t.Context(), "test", []string{"-f", fixtures + "multi.yaml", "-o", "json"}, nil, &out, &errOut)
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

// TestMutate: --mutate prints what the cluster would store for each kind: a Pod with
// the defaults the API server and podguard fill in, anything else as written.
func TestMutate(t *testing.T) {
	input, err := offline.ReadInputs(offline.Inputs{Paths: []string{fixtures + "mutate.yaml"}}, nil)
	if err != nil || len(input) != 2 {
		t.Fatalf("reading the fixture: %d documents, %v", len(input), err)
	}
	var out, errOut bytes.Buffer
	if code := evalCommand(t.Context(), "test", []string{"-f", fixtures + "mutate.yaml", "--mutate", "-o", "json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var list struct {
		APIVersion, Kind string
		Items            []map[string]any
	}
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatalf("--mutate -o json is not JSON: %v\n%s", err, out.String())
	}
	if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("want a v1 List of 2 objects, got %s %s with %d", list.APIVersion, list.Kind, len(list.Items))
	}
	asJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := asJSON(list.Items[0]), asJSON(input[0].Object); got != want {
		t.Errorf("the Deployment is not as written:\n%s\nwant:\n%s", got, want)
	}
	pod := asJSON(list.Items[1])
	for _, s := range []string{
		`"podguard.io/defaults":"app:requests.cpu=100m,app:limits.cpu=500m"`,
		`"resources":{"limits":{"cpu":"500m","memory":"64Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}`,
	} {
		if !strings.Contains(pod, s) {
			t.Errorf("the stored Pod lacks %s:\n%s", s, pod)
		}
	}

	// One object is printed as itself, not as a List.
	out.Reset()
	if code := evalCommand(t.Context(), "test", []string{"-f", "-", "--mutate", "-o", "json"}, strings.NewReader(asJSON(input[1].Object)), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var obj map[string]any
	if err := json.Unmarshal(out.Bytes(), &obj); err != nil || obj["kind"] != "Pod" {
		t.Errorf("one Pod: got %v (%v)", obj["kind"], err)
	}
}
