package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/podguard/podguard/policies/config"
)

// factsCases are objects whose facts the Rego test helper must read as Go does: the bodies
// of the load benchmark, and odd shapes a manifest or a raw client may carry.
var factsCases = map[string]string{
	"null lists and entries": `{"kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1", "b": 2, "c": null}},
		"spec": {"containers": [null, "x", {"name": "app"}], "initContainers": null, "ephemeralContainers": {"name": "e"}}}`,
	"probes": `{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a",
		"livenessProbe": {"exec": {"command": ["true"]}, "grpc": null}, "readinessProbe": {}, "startupProbe": "x"},
		{"name": "b", "livenessProbe": null, "readinessProbe": {"httpGet": {}, "tcpSocket": {}}}]}}`,
	"images": `{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
		{"name": "a", "image": "registry:5000/team/app:1.2@sha256:abc"}, {"name": "b", "image": "app:"},
		{"name": "c", "image": "x:y:z"}, {"name": "d", "image": ""}, {"name": "e", "image": 7}, {"name": "f", "image": "app@"},
		{"name": "g", "image": "a//b:c"}, {"name": "h", "image": "ünïcode:látest"}]}}`,
	"resources": `{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
		{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "", "ephemeral-storage": null}, "limits": {"cpu": 0.5, "memory": "lots"}}},
		{"name": "b", "resources": {"requests": "x", "limits": {"memory": true}}},
		{"name": "c", "resources": null}]}}`,
	"native sidecar and restart policies": `{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"initContainers": [
		{"name": "a", "restartPolicy": "Always"}, {"name": "b", "restartPolicy": "Never"}, {"name": "c", "restartPolicy": 1}],
		"ephemeralContainers": [{"name": "d", "restartPolicy": "Always"}]}}`,
	"cronjob": `{"kind": "CronJob", "metadata": {"name": "c", "labels": {"x": "y"}}, "spec": {"jobTemplate": {"spec": {"template": {
		"metadata": {"labels": {"app.kubernetes.io/name": "c"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}}}`,
	"deployment without a template": `{"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}}`,
	"pod-level resources": `{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "200Mi"}},
		"containers": [{"name": "a"}]}}`,
}

// TestFactsMatchTheRegoHelper holds the Rego test helper (pod.testing.input_of), with which
// policy tests build their inputs, to the facts podguard's Go reader gives the rules, so
// that what the policy tests check is what runs.
func TestFactsMatchTheRegoHelper(t *testing.T) {
	srcs, err := readSources("")
	if err != nil {
		t.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	for _, s := range srcs {
		if strings.HasSuffix(s.name, "_test.rego") && !strings.Contains(s.name, "/testing/") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(s.name, string(s.text), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		modules[s.name] = m
	}
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	bodies, _ := filepath.Glob(filepath.Join("..", "..", "test", "bench", "bodies", "*.json"))
	if len(bodies) == 0 {
		t.Fatal("no bodies in test/bench/bodies")
	}
	cases := maps.Clone(factsCases)
	for _, b := range bodies {
		cases[filepath.Base(b)] = string(ReviewObject(t, b))
	}
	compiler := ast.NewCompiler()
	if compiler.Compile(modules); compiler.Failed() {
		t.Fatal(compiler.Errors)
	}
	plan := planFor(cfg, compiler)
	// input.spec and input.object, which a rule that reads them gets, are held too.
	plan.spec, plan.object = true, true
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			o, err := decode(text)
			if err != nil {
				t.Fatal(err)
			}
			want, err := o.input(&o.pod, nil, false, &plan)
			if err != nil {
				t.Fatal(err)
			}
			// The object as a policy test writes it, and the quantities it uses.
			spec, _ := jsonValue(o.specText, ast.NewObject())
			labels, _ := jsonValue(o.pod.labels, ast.NewObject())
			whole, _ := jsonValue(o.text, ast.NewObject())
			written := ast.NewObject(
				[2]*ast.Term{ast.StringTerm("kind"), ast.StringTerm(o.Kind)},
				[2]*ast.Term{ast.StringTerm("namespace"), ast.StringTerm(o.Namespace)},
				[2]*ast.Term{ast.StringTerm("name"), ast.StringTerm(o.Name)},
				[2]*ast.Term{ast.StringTerm("labels"), ast.NewTerm(labels)},
				[2]*ast.Term{ast.StringTerm("labels_path"), ast.StringTerm(o.prefixPath + "metadata.labels")},
				[2]*ast.Term{ast.StringTerm("spec_path"), ast.StringTerm(o.prefixPath + "spec")},
				[2]*ast.Term{ast.StringTerm("spec"), ast.NewTerm(spec)},
				[2]*ast.Term{ast.StringTerm("object"), ast.NewTerm(whole)},
			)
			var anyObj any
			if err := json.Unmarshal([]byte(text), &anyObj); err != nil {
				t.Fatal(err)
			}
			quantities := map[string]any{}
			collectQuantities(anyObj, quantities)
			store := inmem.NewFromObject(map[string]any{"pod": map[string]any{"config": cfg.Data, "quantities": quantities}})
			rs, err := rego.New(rego.Query("x := data.pod.testing.input_of(input)"), rego.Compiler(compiler),
				rego.Store(store), rego.ParsedInput(written), rego.StrictBuiltinErrors(true)).Eval(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("input_of is undefined for %v", written)
			}
			got, err := ast.InterfaceToValue(rs[0].Bindings["x"])
			if err != nil {
				t.Fatal(err)
			}
			if ast.Compare(got, want) != 0 {
				t.Errorf("the Rego helper reads\n%v\nGo reads\n%v", got, want)
			}
		})
	}
}

// FuzzDecode holds the scanner to encoding/json on arbitrary bytes: an object it reads is
// valid JSON, and valid JSON is never refused for its syntax. Whatever the input, reading
// it neither panics nor takes more than a pass over it.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"kind":"Pod","spec":{"containers":[{"name":"a"}]}}`, `{}`, `{"kind":"Pod"} x`, `[1]`, `{"a":[`,
		`{"kind":"Pod","metadata":{"labels":{"a":"\u00e9"}},"spec":{"containers":[{"resources":{"limits":{"cpu":1e3}}}]}}`,
		`{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"image":"a\"b"}]}}}}`, `{"a":"\x01"}`, `{"a":1.}`,
		`{"kind":"Pod","kind":"CronJob","spec":{}}`, strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := decode(string(raw))
		var syntax bool
		if err != nil {
			syntax = errors.As(err, new(*depthError)) || strings.HasPrefix(err.Error(), "invalid JSON") ||
				err.Error() == "the object is not a JSON object"
		}
		valid := json.Valid(raw)
		var top any
		if valid {
			_ = json.Unmarshal(raw, &top)
			if _, isObject := top.(map[string]any); !isObject {
				if !syntax {
					t.Fatalf("%q is not an object, read without a syntax error (%v)", raw, err)
				}
				return
			}
		}
		if valid && syntax {
			t.Fatalf("valid JSON %q refused: %v", raw, err)
		}
		if !valid && !syntax {
			t.Fatalf("invalid JSON %q read (error %v)", raw, err)
		}
	})
}

// TestContainerBound: a PodSpec of up to MaxContainers containers, of every type together,
// is read; one more is refused with the bound, for a Pod and a pod template alike.
func TestContainerBound(t *testing.T) {
	pod := func(n int, wrap string) []byte {
		spec := `{"containers":[` + strings.Repeat(`{},`, n-1) + `{}],"initContainers":[{}]}`
		return []byte(strings.Replace(wrap, "SPEC", spec, 1))
	}
	for desc, wrap := range map[string]string{
		"Pod":        `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":SPEC}`,
		"Deployment": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"template":{"spec":SPEC}}}`,
	} {
		t.Run(desc, func(t *testing.T) {
			if _, err := Decode(pod(MaxContainers-1, wrap)); err != nil {
				t.Errorf("%d containers: %v", MaxContainers, err)
			}
			_, err := Decode(pod(MaxContainers, wrap))
			if want := fmt.Sprintf("more than %d containers, init containers and ephemeral containers together", MaxContainers); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%d containers: error %v, want one saying %q", MaxContainers+1, err, want)
			}
		})
	}
}
