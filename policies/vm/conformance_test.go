package vm

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/test/cases"
)

// knownDifferences are cases where the planner and OPA's evaluator disagree by design:
// OPA's evaluator reads data[2] from the store as data["2"]; the plan looks the number
// up in the data object, where it is no key. Policies read data by string keys.
var knownDifferences = map[string]bool{
	"data/toplevel integer": true,
	"data/nested integer":   true,
}

// simpleQuery is the form of most of OPA's evaluation cases: a rule's value bound to x.
var simpleQuery = regexp.MustCompile(`^data((?:\.[A-Za-z_][A-Za-z0-9_]*)+) = x$`)

// TestOPAEvaluationCases runs the evaluation cases OPA tests its own evaluator with (its
// module's test/cases/testdata/v1) through both OPA's evaluator and this package, and
// requires the same value, or an error from both. A case this package cannot plan is
// left to OPA's evaluator, as the engine does with such a policy set; how many were
// compared is checked, so that a planning regression cannot pass as a smaller test.
func TestOPAEvaluationCases(t *testing.T) {
	dir := opaModuleDir(t)
	set, err := cases.Load(filepath.Join(dir, "v1", "test", "cases", "testdata", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	caps := ast.CapabilitiesForThisVersion()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var compared, unplanned, skipped int
	unplannedWhy := map[string]int{}
	for _, tc := range set.Cases {
		m := simpleQuery.FindStringSubmatch(tc.Query)
		if m == nil || tc.InputTerm != nil || len(tc.Env) > 0 || usesNondeterminism(tc.Modules) || knownDifferences[tc.Note] {
			skipped++
			continue
		}
		modules := map[string]*ast.Module{}
		ok := true
		for i, text := range tc.Modules {
			mod, err := ast.ParseModuleWithOpts(filepathName(i), text, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				ok = false
				break
			}
			modules[filepathName(i)] = mod
		}
		if !ok {
			skipped++
			continue
		}
		want, wantErr, compiled := evalWithOPA(tc, modules, now)
		if !compiled {
			skipped++
			continue
		}
		compiler := ast.NewCompiler().WithCapabilities(caps)
		if compiler.Compile(modules); compiler.Failed() {
			skipped++
			continue
		}
		var data map[string]any
		if tc.Data != nil {
			data = *tc.Data
		}
		dataValue, err := ast.InterfaceToValue(data)
		if err != nil {
			t.Fatalf("%s: data: %v", tc.Note, err)
		}
		planned, err := Prepare(context.Background(), compiler, tc.Query, ast.NewTerm(dataValue))
		if err != nil {
			unplanned++
			unplannedWhy[firstWords(err.Error())]++
			continue
		}
		compared++
		got, gotErr := evalPrepared(planned.rego, tc, now)
		switch {
		case (gotErr != nil) != (wantErr != nil):
			t.Errorf("%s (%s): error %v, OPA's evaluator: %v", tc.Note, tc.Filename, gotErr, wantErr)
		case gotErr == nil && !sameValue(got, want):
			t.Errorf("%s (%s): %v, OPA's evaluator: %v", tc.Note, tc.Filename, got, want)
		}
	}
	t.Logf("%d cases compared, %d not planned, %d of another form", compared, unplanned, skipped)
	var why []string
	for k, n := range unplannedWhy {
		why = append(why, k+": "+strconv.Itoa(n))
	}
	sort.Strings(why)
	t.Logf("not planned: %s", strings.Join(why, "; "))
	if compared < 1500 {
		t.Errorf("only %d cases compared, want at least 1500", compared)
	}
}

func evalWithOPA(tc cases.TestCase, modules map[string]*ast.Module, now time.Time) (*ast.Term, error, bool) {
	opts := []func(*rego.Rego){rego.Query(tc.Query), rego.StrictBuiltinErrors(true)}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	data := map[string]any{}
	if tc.Data != nil {
		data = *tc.Data
	}
	opts = append(opts, rego.Store(inmem.NewFromObject(data)))
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		return nil, nil, false
	}
	t, err := evalPrepared(pq, tc, now)
	return t, err, true
}

// evalPrepared evaluates a case's query, prepared for either evaluator, the same way:
// x's value, nil when the query has no result.
func evalPrepared(pq rego.PreparedEvalQuery, tc cases.TestCase, now time.Time) (*ast.Term, error) {
	opts := []rego.EvalOption{rego.EvalTime(now),
		rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil })}
	if tc.Input != nil {
		opts = append(opts, rego.EvalInput(*tc.Input))
	}
	rs, err := pq.Eval(context.Background(), opts...)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	t, _ := rs[0].Bindings["x"].(*ast.Term)
	return t, nil
}

func sameValue(a, b *ast.Term) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Value.Compare(b.Value) == 0
}

// usesNondeterminism: such cases give different values on every evaluation.
func usesNondeterminism(modules []string) bool {
	for _, m := range modules {
		for _, name := range []string{"rand.", "uuid.", "http.send", "net.", "opa.runtime", "crypto.x509.parse_and_verify", "io.jwt.encode_sign"} {
			if strings.Contains(m, name) {
				return true
			}
		}
	}
	return false
}

func filepathName(i int) string { return "module" + strconv.Itoa(i) + ".rego" }

func firstWords(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// opaModuleDir is where the Go toolchain keeps the OPA module this build uses.
func opaModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/open-policy-agent/opa").Output()
	if err != nil {
		t.Fatalf("finding the OPA module: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("finding the OPA module: go list printed nothing (run go mod download)")
	}
	return dir
}
