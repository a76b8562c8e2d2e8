package vm

import (
	"context"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// The tests in this file pin what this package relies on in OPA's plans beyond what
// package ir specifies (doc.go lists each with its test): an OPA upgrade that changes
// one of them fails here, by name, rather than in a review.

// irModule has a rule reached through a dynamic path, a function, a partial set and a
// comprehension: the shapes the built-in policies use.
const irModule = `package p.a
import rego.v1

r := input.v if input.v > 1

double(x) := 2 * x

s contains y if {
	some y in input.list
	y > double(1)
}

n := count([z | some z in input.list; z > 0])
`

// planOf plans query on irModule, and returns the plan as OPA handed it to the target.
func planOf(t *testing.T, query string) (*ir.Policy, *ast.Compiler) {
	t.Helper()
	c := ast.NewCompiler()
	if c.Compile(map[string]*ast.Module{"p.rego": ast.MustParseModule(irModule)}); c.Failed() {
		t.Fatal(c.Errors)
	}
	defer c.WithEvalMode(ast.EvalModeTopdown)
	s := &slot{caps: c.Capabilities()}
	if _, err := rego.New(rego.Query(query), rego.Compiler(c), rego.Target(Target)).
		PrepareForEval(context.WithValue(t.Context(), slotKey{}, s)); err != nil {
		t.Fatal(err)
	}
	if s.policy == nil {
		t.Fatal("OPA handed no plan to the target")
	}
	return s.policy, c
}

// TestDynamicCallLayout pins the "return 3" of an undefined CallDynamicStmt (eval.go,
// opCallDynamic). ir says only that the statement stores the result; the planner puts
// it first in a block "c1" followed by BreakStmt{1}, c1 first of a BlockStmt of two
// blocks (c1, then the lookup of the path in base data, "c2"), and that BlockStmt in a
// block "b" that ends with BreakStmt{2}, which leaves b and two blocks around it when
// neither finds a value. An undefined rule leaves the same blocks at once: b is three
// levels up from c1.
func TestDynamicCallLayout(t *testing.T) {
	policy, _ := planOf(t, "x := data.p[input.k].r")
	found := 0
	var walk func(b *ir.Block, parents []*ir.Block)
	walk = func(b *ir.Block, parents []*ir.Block) {
		chain := append(slices.Clone(parents), b)
		for _, s := range b.Stmts {
			if _, ok := s.(*ir.CallDynamicStmt); ok {
				found++
				checkDynamicLayout(t, chain)
			}
			for _, child := range childBlocks(s) {
				walk(child, chain)
			}
		}
	}
	for _, p := range policy.Plans.Plans {
		for _, b := range p.Blocks {
			walk(b, nil)
		}
	}
	if found == 0 {
		t.Fatal("the planner made no CallDynamicStmt for data.p[input.k].r")
	}
}

func checkDynamicLayout(t *testing.T, chain []*ir.Block) {
	t.Helper()
	if len(chain) < 3 {
		t.Fatalf("CallDynamicStmt is %d blocks deep, want at least 3", len(chain))
	}
	c1, b := chain[len(chain)-1], chain[len(chain)-2]
	if len(c1.Stmts) != 2 || !isBreak(c1.Stmts[1], 1) {
		t.Errorf("the block of a CallDynamicStmt is %v, want it followed by BreakStmt{1} alone", c1.Stmts)
	}
	if len(b.Stmts) != 2 || !isBreak(b.Stmts[1], 2) {
		t.Fatalf("the block around the call is %v, want a BlockStmt followed by BreakStmt{2}", b.Stmts)
	}
	bs, ok := b.Stmts[0].(*ir.BlockStmt)
	if !ok || len(bs.Blocks) != 2 || bs.Blocks[0] != c1 {
		t.Errorf("the call's block is not the first of two blocks (call, then base data lookup)")
	}
}

func isBreak(s ir.Stmt, index uint32) bool {
	b, ok := s.(*ir.BreakStmt)
	return ok && b.Index == index
}

func childBlocks(s ir.Stmt) []*ir.Block {
	switch s := s.(type) {
	case *ir.BlockStmt:
		return s.Blocks
	case *ir.ScanStmt:
		return []*ir.Block{s.Block}
	case *ir.NotStmt:
		return []*ir.Block{s.Block}
	case *ir.WithStmt:
		return []*ir.Block{s.Block}
	}
	return nil
}

// TestRulesAreFunctionsOfInputAndData pins how load recognises a rule, whose value it
// keeps for the rest of an evaluation (compile.go, function): ir does not say which
// functions are rules; the planner makes a rule a function of two parameters (input,
// data) with a return local, and a Rego function one of more parameters. A function
// taken for a rule would answer its first call's value to every call.
func TestRulesAreFunctionsOfInputAndData(t *testing.T) {
	policy, c := planOf(t, "x := [data.p.a.r, data.p.a.s, data.p.a.n, data.p.a.double(input.v)]")
	kinds := map[string]bool{} // rule or function, by data path
	for _, f := range policy.Funcs.Funcs {
		if len(f.Path) < 2 {
			t.Fatalf("function %s has no data path", f.Name)
		}
		ref := ast.Ref{ast.DefaultRootDocument}
		for _, p := range f.Path[1:] { // the first is the planner's generation
			ref = append(ref, ast.StringTerm(p))
		}
		rules := c.GetRules(ref)
		if len(rules) == 0 {
			t.Fatalf("function %s: no rule at %v", f.Name, ref)
		}
		isRule := len(rules[0].Head.Args) == 0
		shape := len(f.Params) == 2 && f.Return >= 0
		if isRule != shape {
			t.Errorf("%v: rule %v, but planned with %d parameters and return %d", ref, isRule, len(f.Params), f.Return)
		}
		kinds[ref.String()] = isRule
	}
	want := map[string]bool{"data.p.a.r": true, "data.p.a.s": true, "data.p.a.n": true, "data.p.a.double": false}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("planned functions %v, want %v", kinds, want)
	}
	// And what load makes of them: rules memoised, the function not.
	pl, err := load(policy, c.Capabilities())
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range pl.funcs {
		rule := len(fn.params) == 2
		if (fn.memo >= 0) != rule {
			t.Errorf("%s: memo slot %d with %d parameters", fn.name, fn.memo, len(fn.params))
		}
	}
}

// TestBuiltinContextFields pins the topdown.BuiltinContext that eval fills by hand (OPA
// fills it inside its evaluator, which the plan does not use). A field OPA adds may be
// one a built-in function reads: it fails this test until it is filled in eval.go or
// listed here as left empty, with why.
func TestBuiltinContextFields(t *testing.T) {
	filled := map[string]string{
		"Context":      "the evaluation's context",
		"Metrics":      "a no-op registry",
		"Seed":         "crypto/rand",
		"Time":         "the evaluation's time, as time.now_ns reads it",
		"Cancel":       "cancelled when the context ends",
		"Cache":        "one per evaluation",
		"Capabilities": "the compiler's (allow_net)",
		"Location":     "the call's, for errors",
	}
	empty := map[string]string{
		"Runtime":                     "opa.runtime is denied",
		"InterQueryBuiltinCache":      "no state is kept across evaluations",
		"InterQueryBuiltinValueCache": "no state is kept across evaluations",
		"NDBuiltinCache":              "no decision logs",
		"Tracers":                     "no tracing",
		"QueryTracers":                "no tracing",
		"TraceEnabled":                "no tracing",
		"QueryID":                     "no tracing",
		"ParentID":                    "no tracing",
		"PrintHook":                   "print is compiled out",
		"RoundTripper":                "http.send is denied",
		"DistributedTracingOpts":      "no tracing",
		"RequestMetadata":             "no wrapping project",
		"ResponseMetadata":            "no wrapping project",
	}
	typ := reflect.TypeFor[topdown.BuiltinContext]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		_, isFilled := filled[f.Name]
		_, isEmpty := empty[f.Name]
		if !isFilled && !isEmpty {
			t.Errorf("topdown.BuiltinContext has a field %s that eval neither fills nor knows to leave empty", f.Name)
		}
	}
	// And eval does fill what it says it fills.
	pq, err := Prepare(t.Context(), compiled(t, `package q
x := time.now_ns()`), "data.q.x", ast.NewTerm(ast.NewObject()))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	v, err := pq.Eval(t.Context(), nil, now)
	if err != nil || v == nil || v.Compare(ast.Number(strconv.FormatInt(now.UnixNano(), 10))) != 0 {
		t.Errorf("time.now_ns() is %v (%v), want %d", v, err, now.UnixNano())
	}
}

// TestQueryResultIsOneVariable pins what Query.Eval reads of the plan's result set: one
// object per result, from the query's one variable to its value, as rego reads it for
// a target (valueToQueryResult). Eval and OPA's rego over the target answer the same.
func TestQueryResultIsOneVariable(t *testing.T) {
	c := compiled(t, irModule)
	q, err := Prepare(t.Context(), c, "data.p.a.n", ast.NewTerm(ast.NewObject()))
	if err != nil {
		t.Fatal(err)
	}
	input := ast.MustParseTerm(`{"list": [-1, 1, 2]}`).Value
	got, err := q.Eval(t.Context(), input, time.Now())
	if err != nil || got == nil || got.Compare(ast.Number("2")) != 0 {
		t.Fatalf("Eval: %v (%v), want 2", got, err)
	}
	rs, err := q.rego.Eval(t.Context(), rego.EvalParsedInput(input))
	if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
		t.Fatalf("rego over the target: %v (%v), want one result", rs, err)
	}
	if got := rs[0].Expressions[0].String(); got != "2" {
		t.Errorf("rego over the target: %s, want 2", got)
	}
}

// TestPrepareLeavesCompilerForOPAEvaluator pins the switch back in Prepare: rego puts
// the compiler in the planner's mode (EvalModeIR) to plan for a target, where it no
// longer builds the comprehension indices of queries that OPA's evaluator uses; the
// engine prepares the same compiler for OPA's evaluator after planning.
func TestPrepareLeavesCompilerForOPAEvaluator(t *testing.T) {
	c := compiled(t, irModule)
	mode := func() ast.CompilerEvalMode {
		return ast.CompilerEvalMode(reflect.ValueOf(c).Elem().FieldByName("evalMode").Uint())
	}
	s := &slot{caps: c.Capabilities()}
	if _, err := rego.New(rego.Query("data.p.a.n"), rego.Compiler(c), rego.Target(Target)).
		PrepareForEval(context.WithValue(t.Context(), slotKey{}, s)); err != nil {
		t.Fatal(err)
	}
	if mode() != ast.EvalModeIR {
		t.Fatalf("rego left the compiler in mode %v after planning: Prepare's switch back may be needless", mode())
	}
	if _, err := Prepare(t.Context(), c, "data.p.a.n", ast.NewTerm(ast.NewObject())); err != nil {
		t.Fatal(err)
	}
	if mode() != ast.EvalModeTopdown {
		t.Errorf("after Prepare the compiler is in mode %v, want EvalModeTopdown", mode())
	}
}

func compiled(t *testing.T, module string) *ast.Compiler {
	t.Helper()
	c := ast.NewCompiler()
	if c.Compile(map[string]*ast.Module{"m.rego": ast.MustParseModule(module)}); c.Failed() {
		t.Fatal(c.Errors)
	}
	return c
}
