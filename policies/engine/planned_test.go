package engine

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/podguard/podguard/policies/config"
	"github.com/podguard/podguard/policies/vm"
)

// TestRegoTestsPlanned runs every test rule of the built-in policies (with input, with
// data, helpers, every rule's corner cases) through the planned evaluation and through
// OPA's evaluator, and requires the same value: the policy tests are written against
// OPA's evaluator, and the webhook serves the plan.
func TestRegoTestsPlanned(t *testing.T) {
	srcs, err := readSources("")
	if err != nil {
		t.Fatal(err)
	}
	modules, tests, err := parseSources(srcs)
	if err != nil {
		t.Fatal(err)
	}
	all := make(map[string]*ast.Module, len(modules)+len(tests))
	maps.Copy(all, modules)
	maps.Copy(all, tests)
	compiler := ast.NewCompiler().WithCapabilities(capabilities())
	if compiler.Compile(all); compiler.Failed() {
		t.Fatal(compiler.Errors)
	}
	def, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	quantities, err := testQuantities(def)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"pod": map[string]any{"config": def.Data, "quantities": quantities}}
	dataValue, err := ast.InterfaceToValue(data)
	if err != nil {
		t.Fatal(err)
	}
	store := inmem.NewFromObject(data)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

	var queries []string
	for _, m := range tests {
		for _, r := range m.Rules {
			// test_x, or test_x[note] for a test of several cases.
			name := r.Head.Ref()[0].Value.(ast.Var).String()
			if strings.HasPrefix(name, "test_") {
				queries = append(queries, m.Package.Path.String()+"."+name)
			}
		}
	}
	queries = unique(queries)
	if len(queries) < 90 {
		t.Fatalf("found %d test rules, want the built-in ones", len(queries))
	}
	value := func(pq rego.PreparedEvalQuery) (*ast.Term, error) {
		rs, err := pq.Eval(t.Context(), rego.EvalTime(now),
			rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }))
		if err != nil || len(rs) != 1 {
			return nil, err
		}
		v, _ := rs[0].Expressions[0].Value.(*ast.Term)
		return v, nil
	}
	for _, q := range queries {
		pq, err := rego.New(rego.Query(q), rego.Compiler(compiler), rego.Store(store), rego.StrictBuiltinErrors(true)).PrepareForEval(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		planned, err := vm.Prepare(t.Context(), compiler, q, ast.NewTerm(dataValue))
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := value(pq)
		got, gotErr := planned.Eval(t.Context(), nil, now)
		switch {
		case (gotErr != nil) != (wantErr != nil):
			t.Errorf("%s: error %v, OPA's evaluator: %v", q, gotErr, wantErr)
		case (got == nil) != (want == nil) || (got != nil && got.Compare(want.Value) != 0):
			t.Errorf("%s: %v, OPA's evaluator: %v", q, got, want)
		}
	}
	t.Logf("%d test rules compared", len(queries))
}

func unique(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
