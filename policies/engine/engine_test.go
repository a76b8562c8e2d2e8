package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
)

func load(t testing.TB, opts engine.Options) *engine.Engine {
	t.Helper()
	e, err := engine.Load(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fixture(t testing.TB, name string) *engine.Object {
	t.Helper()
	y, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "engine", name))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	o, err := engine.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func strs(vs []engine.Violation) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}

func TestJudge(t *testing.T) {
	e := load(t, engine.Options{})
	tests := map[string]struct {
		fixture  string
		wantDeny []string
	}{
		"compliant pod": {fixture: "pod-small.yaml", wantDeny: []string{}},
		"deployment template: paths point into the template, labels read from it": {
			fixture: "deployment-violating.yaml",
			wantDeny: []string{
				`[liveness-probe] container "api": livenessProbe is not set (spec.template.spec.containers[0].livenessProbe). Fix: set livenessProbe (handler: exec, httpGet, tcpSocket or grpc), so the kubelet restarts the container when it stops responding`,
				`[required-labels] required label "app.kubernetes.io/name" is not set (spec.template.metadata.labels["app.kubernetes.io/name"]). Fix: add label "app.kubernetes.io/name" to spec.template.metadata.labels`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := e.Judge(t.Context(), fixture(t, tc.fixture), engine.Namespace{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strs(d.Deny); strings.Join(got, "\n") != strings.Join(tc.wantDeny, "\n") {
				t.Errorf("deny:\n got %q\nwant %q", got, tc.wantDeny)
			}
		})
	}
}

func TestMutate(t *testing.T) {
	e := load(t, engine.Options{})
	o := fixture(t, "pod-request-above-default-limit.yaml")
	mutated, adds, err := e.Mutate(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range adds {
		got = append(got, a.Field(o)+"="+a.Value)
	}
	want := []string{
		// The user's 512Mi request and 1 cpu are above the default limits: the added limits
		// take the request's value, so the Pod stays valid.
		"spec.containers[0].resources.limits.cpu=1",
		"spec.containers[0].resources.limits.memory=512Mi",
		// The init container's 50m cpu limit is below the default request of 100m.
		"spec.initContainers[0].resources.requests.cpu=50m",
		"spec.initContainers[0].resources.requests.memory=128Mi",
		"spec.initContainers[0].resources.limits.memory=256Mi",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("additions:\n got %q\nwant %q", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal(mutated, &m); err != nil {
		t.Fatal(err)
	}
	ann := m["metadata"].(map[string]any)["annotations"].(map[string]any)[engine.DefaultsAnnotation]
	if ann != "app:limits.cpu=1,app:limits.memory=512Mi,migrate:requests.cpu=50m,migrate:requests.memory=128Mi,migrate:limits.memory=256Mi" {
		t.Errorf("annotation = %q", ann)
	}
	if strings.Contains(string(o.JSON()), engine.DefaultsAnnotation) {
		t.Error("Mutate changed its input")
	}
	mo, err := engine.Decode(mutated)
	if err != nil {
		t.Fatal(err)
	}
	again, adds2, err := e.Mutate(t.Context(), mo)
	if err != nil {
		t.Fatal(err)
	}
	if len(adds2) != 0 || string(again) != string(mutated) {
		t.Errorf("mutating the output again added %v", adds2)
	}
	d, err := e.Judge(t.Context(), mo, engine.Namespace{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Deny) != 0 {
		t.Errorf("mutated Pod still denied: %q", strs(d.Deny))
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := map[string]struct {
		files   map[string]string
		config  string
		wantErr string
	}{
		"syntax error names file and line": {
			files:   map[string]string{"bad/bad.rego": "package pod.rules.bad\n\nviolation contains v if {\n  v := \n}\n"},
			wantErr: "bad.rego:5: rego_parse_error",
		},
		"network access is refused at compile time": {
			files: map[string]string{"net/net.rego": `package pod.rules.net

violation contains {"msg": r.body} if {
	r := http.send({"method": "GET", "url": "http://example.invalid"})
}
`},
			wantErr: "undefined function http.send",
		},
		"a rule whose own test fails": {
			files: map[string]string{
				"always/always.rego": `package pod.rules.always

violation contains {"msg": "always"} if input.kind == "Pod"
`,
				"always/always_test.rego": `package pod.rules.always_test

import data.pod.rules.always

test_never if count(always.violation) == 0 with input as {"kind": "Pod"}
`,
			},
			wantErr: "policy tests failed",
		},
		"config naming an unknown rule": {
			config:  "rules: {no-such-rule: {enforcement: deny}}",
			wantErr: "rules.no-such-rule: unknown rule",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := engine.Options{RunTests: true}
			if tc.files != nil {
				opts.PolicyDir = writeFiles(t, tc.files)
			}
			if tc.config != "" {
				opts.ConfigFile = filepath.Join(writeFiles(t, map[string]string{"config.yaml": tc.config}), "config.yaml")
			}
			_, err := engine.Load(t.Context(), opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCustomRule(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"no_host_network/no_host_network.rego": `# METADATA
# title: No host network
# custom:
#   id: no-host-network
package pod.rules.no_host_network

violation contains {"msg": "uses the host network", "field": sprintf("%s.hostNetwork", [input.spec_path]), "fix": "remove hostNetwork"} if {
	input.spec.hostNetwork == true
}
`,
		"config.yaml": "rules: {no-host-network: {enforcement: warn}}",
	})
	e := load(t, engine.Options{PolicyDir: dir, ConfigFile: filepath.Join(dir, "config.yaml"), RunTests: true})
	o := withSpec(t, fixture(t, "pod-small.yaml"), "hostNetwork", true)
	d, err := e.Judge(t.Context(), o, engine.Namespace{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"[no-host-network] uses the host network (spec.hostNetwork). Fix: remove hostNetwork"}
	if got := strs(d.Warn); strings.Join(got, "\n") != strings.Join(want, "\n") || len(d.Deny) != 0 {
		t.Errorf("warn %q deny %q, want warn %q", got, strs(d.Deny), want)
	}
}

// TestEnforceAfter: a rule with enforceAfter denies from that time on; until then it has
// its enforcement (warn or audit), or warns when that is deny, each warning naming the time.
// With off, the configuration is refused.
func TestEnforceAfter(t *testing.T) {
	o := fixture(t, "deployment-violating.yaml")
	before, after := time.Date(2027, 2, 28, 23, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		enforcement string
		now         time.Time
		want        string // the list the liveness-probe violation is in
	}{
		"warn until the time":          {"warn", before, "warn"},
		"warn, then deny":              {"warn", after, "deny"},
		"audit until the time":         {"audit", before, "audit"},
		"audit, then deny":             {"audit", after, "deny"},
		"deny warns until the time":    {"deny", before, "warn"},
		"deny denies from the time on": {"deny", after, "deny"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"config.yaml": fmt.Sprintf(`rules: {liveness-probe: {enforcement: %s, enforceAfter: "2027-03-01T00:00:00Z"}}`, tc.enforcement)})
			e := load(t, engine.Options{ConfigFile: filepath.Join(dir, "config.yaml"), Now: func() time.Time { return tc.now }})
			d, err := e.Judge(t.Context(), o, engine.Namespace{})
			if err != nil {
				t.Fatal(err)
			}
			lists := map[string][]engine.Violation{"deny": d.Deny, "warn": d.Warn, "audit": d.Audit}
			var found *engine.Violation
			for list, vs := range lists {
				for _, v := range vs {
					if v.Rule == "liveness-probe" {
						if list != tc.want {
							t.Errorf("liveness-probe is in %s, want %s", list, tc.want)
						}
						found = &v
					}
				}
			}
			if found == nil {
				t.Fatalf("liveness-probe not in the decision %+v", d)
			}
			if waiting := tc.now.Before(after); waiting != strings.Contains(found.String(), "Enforced from 2027-03-01T00:00:00Z.") {
				t.Errorf("%q: says when enforcement starts = %v, want %v", found, !waiting, waiting)
			}
		})
	}
	dir := writeFiles(t, map[string]string{"config.yaml": `rules: {liveness-probe: {enforcement: "off", enforceAfter: "2027-03-01T00:00:00Z"}}`})
	_, err := engine.Load(t.Context(), engine.Options{ConfigFile: filepath.Join(dir, "config.yaml")})
	if err == nil || !strings.Contains(err.Error(), "rules.liveness-probe.enforceAfter: the rule is off") {
		t.Errorf("off with enforceAfter: error %v, want one naming rules.liveness-probe.enforceAfter", err)
	}
}

func BenchmarkJudge(b *testing.B) {
	e := load(b, engine.Options{})
	for _, name := range []string{"pod-small.yaml", "pod-10-containers.yaml"} {
		o := fixture(b, name)
		b.Run(strings.TrimSuffix(name, ".yaml"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Judge(b.Context(), o, engine.Namespace{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withSpec returns the object with spec.<key> (of its Pod) set to value.
func withSpec(t testing.TB, o *engine.Object, key string, value any) *engine.Object {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(o.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	spec := m["spec"].(map[string]any)
	if o.Kind != "Pod" {
		spec = spec["template"].(map[string]any)["spec"].(map[string]any)
	}
	spec[key] = value
	out, err := engine.FromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHostileQuantitiesCostLikeOthers: a quantity the API server accepts but that is
// enormous or absurdly precise (1e999999, a hundred thousand digits) costs a review what an
// ordinary one does, plus at most a few times its own length in memory: it is read digit by
// digit, never turned into a number of a million digits. Each is refused, naming the value.
func TestHostileQuantitiesCostLikeOthers(t *testing.T) {
	e := load(t, engine.Options{})
	pod := func(memory string) *engine.Object {
		o, err := engine.FromMap(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "app:1",
				"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": memory}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	// What a review costs, in bytes allocated: the hostile ones are refused, which takes a
	// few kilobytes of messages an ordinary review does not need.
	const messages = 8 << 10
	cost := func(o *engine.Object) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 5 {
			if _, err := e.Judge(t.Context(), o, engine.Namespace{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Review(t.Context(), engine.Request{Mutate: true, Operation: engine.Create, Object: engine.BodyOf(o.JSON())}); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 5
	}
	ordinary := cost(pod("1Gi"))
	tests := map[string]struct {
		memory, shown string
	}{
		"huge exponent":                       {"1e999999", `"1e999999"`},
		"exponent beyond six digits":          {"1e1000002", `"1e1000002"`},
		"exponent wrapping around int32":      {"1e-2147483648", ""},
		"a hundred thousand digits":           {strings.Repeat("9", 100000), `"99999999999999999999999999999999... (100000 characters)"`},
		"a fraction of a hundred thousand 0s": {"0." + strings.Repeat("0", 100000) + "1", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := pod(tc.memory)
			if got, limit := cost(o), ordinary+messages+uint64(10*len(tc.memory)); got > limit {
				t.Errorf("a review costs %d bytes, an ordinary one %d: more than 10 bytes per character of the value", got, ordinary)
			}
			if tc.shown == "" {
				return // read as a tiny quantity, which is valid
			}
			d, err := e.Judge(t.Context(), o, engine.Namespace{})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range d.Deny {
				found = found || strings.Contains(v.Message, "memory request "+tc.shown)
			}
			if !found {
				t.Errorf("no denial naming %s: %q", tc.shown, strs(d.Deny))
			}
		})
	}
}

// TestPassedTestsAreKeptByTheirCaller: the Rego whose tests passed is remembered in the
// record the caller passes (a server's reloader), not in the package: a load without one
// runs the tests, and a failing set is never recorded.
func TestPassedTestsAreKeptByTheirCaller(t *testing.T) {
	dir := writeFiles(t, map[string]string{"custom/custom_test.rego": "package custom_test\n\ntest_ok if true\n"})
	var passed engine.PassedTests
	if passed.Load() != nil {
		t.Fatal("a new record holds a hash")
	}
	if _, err := engine.Load(t.Context(), engine.Options{PolicyDir: dir, RunTests: true, Passed: &passed}); err != nil {
		t.Fatal(err)
	}
	if passed.Load() == nil {
		t.Error("the passing set was not recorded")
	}
	failing := writeFiles(t, map[string]string{"custom/custom_test.rego": "package custom_test\n\ntest_fails if false\n"})
	var other engine.PassedTests
	if _, err := engine.Load(t.Context(), engine.Options{PolicyDir: failing, RunTests: true, Passed: &other}); err == nil {
		t.Error("a failing policy test loaded")
	}
	if other.Load() != nil {
		t.Error("a failing set was recorded")
	}
}
