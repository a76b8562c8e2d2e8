package engine

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/podguard/podguard/policies/config"
)

// TestRulePackagesList: main.rego gives the same decision whether it finds the rule
// packages itself (every package under pod.rules evaluated, as in opa test) or walks the
// list storeData gives it (rules that are off never evaluated), for built-in and custom
// rules that are on, off, or switched on for a namespace.
func TestRulePackagesList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("no_host_network/rule.rego", "package pod.rules.no_host_network\n\nviolation contains {\"msg\": \"host network\", \"field\": \"spec.hostNetwork\"} if input.spec.hostNetwork\n")
	write("always_off/rule.rego", "package pod.rules.always_off\n\nviolation contains \"bare string\" if true\n")
	srcs, err := readSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	for _, s := range srcs {
		if strings.HasSuffix(s.name, "_test.rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(s.name, string(s.text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			t.Fatal(err)
		}
		modules[s.name] = m
	}
	cfg, err := config.Parse([]byte(`
rules:
  always-off: {enforcement: "off"}
  liveness-probe: {enforcement: warn, enforceAfter: "2199-01-01T00:00:00Z"}
namespaces:
  overrides: [{names: [legacy], enforcement: audit, rules: [startup-probe]}]
`), []string{"always-off", "no-host-network"})
	if err != nil {
		t.Fatal(err)
	}
	data := storeData(cfg, modules)
	// always-off is off everywhere, so it is not listed; startup-probe is off but an override
	// switches it on in legacy. The override makes every enforcement depend on the namespace.
	rule := func(id, enforcement string) map[string]any {
		return map[string]any{"id": id, "enforcement": enforcement, "static": false}
	}
	if got, want := data["pod"].(map[string]any)["rule_packages"], map[string]any{
		"image_tag": rule("image-tag", "deny"), "liveness_probe": rule("liveness-probe", "warn"),
		"no_host_network": rule("no-host-network", "deny"), "readiness_probe": rule("readiness-probe", "deny"),
		"required_labels": rule("required-labels", "deny"), "resources_limits": rule("resources-limits", "deny"),
		"resources_requests": rule("resources-requests", "deny"), "startup_probe": rule("startup-probe", "off"),
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("rule_packages = %v, want %v", got, want)
	}
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	if compiler.Compile(modules); compiler.Failed() {
		t.Fatal(compiler.Errors)
	}
	prepare := func(d map[string]any) rego.PreparedEvalQuery {
		q, err := rego.New(rego.Query("data.pod.decision"), rego.Compiler(compiler),
			rego.Store(inmem.NewFromObjectWithOpts(d, inmem.OptReturnASTValuesOnRead(true))), rego.StrictBuiltinErrors(true)).PrepareForEval(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	listed := prepare(data)
	withoutList := map[string]any{"pod": maps.Clone(data["pod"].(map[string]any))}
	delete(withoutList["pod"].(map[string]any), "rule_packages")
	found := prepare(withoutList)
	bodies, _ := filepath.Glob(filepath.Join("..", "..", "test", "bench", "bodies", "*.json"))
	if len(bodies) == 0 {
		t.Fatal("no bodies in test/bench/bodies")
	}
	plan := planFor(cfg, compiler)
	for _, name := range bodies {
		var obj map[string]any
		if err := json.Unmarshal(ReviewObject(t, name), &obj); err != nil {
			t.Fatal(err)
		}
		spec := obj["spec"].(map[string]any)
		if obj["kind"] != "Pod" {
			spec = spec["template"].(map[string]any)["spec"].(map[string]any)
		}
		spec["hostNetwork"] = true
		for _, ns := range []string{"shop", "legacy"} {
			o, err := FromMap(obj)
			if err != nil {
				t.Fatal(err)
			}
			o.Namespace = ns
			in, err := o.input(&o.pod, nil, false, &plan)
			if err != nil {
				t.Fatal(err)
			}
			a, err := listed.Eval(t.Context(), rego.EvalParsedInput(in))
			if err != nil {
				t.Fatal(err)
			}
			b, err := found.Eval(t.Context(), rego.EvalParsedInput(in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s in %s: with the list\n%v\nwithout\n%v", filepath.Base(name), ns, a, b)
			}
			got := a[0].Expressions[0].String()
			for rule, want := range map[string]bool{"no-host-network": true, "startup-probe": ns == "legacy", "always-off": false} {
				if strings.Contains(got, rule) != want {
					t.Errorf("%s in %s: %s in the decision is %v, want %v", filepath.Base(name), ns, rule, !want, want)
				}
			}
		}
	}
}
