package vm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Target is the name of this package's evaluation target in OPA's rego package
// (rego.Target): a query prepared for it is planned by OPA's planner, and its Eval runs
// the plan here.
const Target = "podguard-plan"

// Query is one query of a compiled policy set, planned. It holds no state of its own
// between evaluations, so one serves every evaluation at once.
//
// It is evaluated two ways, which run the same plan: Eval, what podguard's engine calls,
// and rego, OPA's own prepared query for this package's target, whose Eval takes the
// input (rego.EvalParsedInput or rego.EvalInput) and time (rego.EvalTime) of its options.
// rego answers through OPA's interface (an EvalContext made, a store transaction opened,
// a ResultSet built), which costs every evaluation about 14 allocations and 1.2 KB more
// than Eval (BenchmarkReview measured both), so the engine calls Eval; the conformance
// test evaluates OPA's cases through rego, as OPA hands a plan to a target.
type Query struct {
	p    *prepared
	rego rego.PreparedEvalQuery
}

// Prepare plans query (a reference to a rule of the compiled set, such as
// "data.pod.decision", or a query such as "data.p.x = x") with OPA's planner, through
// OPA's target-plugin interface, with data as the whole of data (the plan reads no
// store). It fails for a set that the planner or this package cannot handle, with the
// reason; the caller then prepares that set for OPA's evaluator.
func Prepare(ctx context.Context, compiler *ast.Compiler, query string, data *ast.Term) (*Query, error) {
	// Planning switches the compiler to the planner's mode, which only leaves out
	// indices that OPA's evaluator builds; it is switched back for the callers that
	// prepare the same compiler for OPA's evaluator.
	defer compiler.WithEvalMode(ast.EvalModeTopdown)
	s := &slot{caps: compiler.Capabilities(), data: data}
	q, err := rego.New(
		rego.Query(query),
		rego.Compiler(compiler),
		rego.Capabilities(s.caps),
		rego.StrictBuiltinErrors(true),
		rego.Target(Target),
	).PrepareForEval(context.WithValue(ctx, slotKey{}, s))
	if err != nil {
		return nil, fmt.Errorf("planning %s: %w", query, err)
	}
	if s.prepared == nil {
		// rego plans a query for a target only when a plugin claims it.
		return nil, fmt.Errorf("planning %s: OPA did not hand the plan to target %s", query, Target)
	}
	return &Query{p: s.prepared, rego: q}, nil
}

// Eval evaluates the query with input (nil: none) at time now (time.now_ns). It
// returns the query's one value, nil when it is undefined. Built-in functions run with
// strict errors: a built-in error ends the evaluation with it. The evaluation stops
// with an error when ctx ends.
func (q *Query) Eval(ctx context.Context, input ast.Value, now time.Time) (ast.Value, error) {
	var in *ast.Term
	if input != nil {
		in = ast.NewTerm(input)
	}
	results, err := q.p.eval(ctx, in, now)
	if err != nil {
		return nil, err
	}
	// The query binds its value to one variable: each result is {"<variable>": value}.
	var out *ast.Term
	results.Until(func(r *ast.Term) bool {
		obj, ok := r.Value.(ast.Object)
		if !ok || obj.Len() != 1 || out != nil {
			err = fmt.Errorf("the plan gave an unexpected result %v", results)
			return true
		}
		obj.Foreach(func(_, v *ast.Term) { out = v })
		return false
	})
	if err != nil || out == nil {
		return nil, err
	}
	return out.Value, nil
}

// slot carries, from Prepare to the plugin, what the plan is evaluated with besides its
// input: rego hands a plugin the plan alone.
type slot struct {
	caps     *ast.Capabilities
	data     *ast.Term
	prepared *prepared
	policy   *ir.Policy // the plan as OPA made it, for the tests that pin its layout
}

type slotKey struct{}

// plugin is the target plugin rego finds by Target.
type plugin struct{}

func (plugin) IsTarget(t string) bool { return t == Target }

func (plugin) PrepareForEval(ctx context.Context, policy *ir.Policy, _ ...rego.PrepareOption) (rego.TargetPluginEval, error) {
	s, ok := ctx.Value(slotKey{}).(*slot)
	if !ok {
		return nil, fmt.Errorf("target %s is prepared with vm.Prepare, which gives it its data", Target)
	}
	s.policy = policy
	pl, err := load(policy, s.caps)
	if err != nil {
		return nil, err
	}
	s.prepared = &prepared{plan: pl, caps: s.caps, data: s.data}
	return s.prepared, nil
}

func init() { rego.RegisterPlugin(Target, plugin{}) }

// prepared is one planned query, and rego's TargetPluginEval for it.
type prepared struct {
	plan *plan
	caps *ast.Capabilities // to the built-in functions, which read some of it (allow_net)
	data *ast.Term
}

// Eval runs the plan. Its answer is the set of the query's results, each an object from
// the query's variables to their values, which rego turns into its ResultSet.
func (p *prepared) Eval(ctx context.Context, ectx *rego.EvalContext, _ ast.Value) (ast.Value, error) {
	if !ectx.StrictBuiltinErrors() {
		return nil, errors.New("the plan runs built-in functions with strict errors: use vm.Prepare's query")
	}
	var input *ast.Term
	if v := ectx.ParsedInput(); v != nil {
		input = ast.NewTerm(v)
	} else if raw := ectx.RawInput(); raw != nil {
		// rego leaves a raw input unparsed for a target plugin.
		v, err := ast.InterfaceToValue(*raw)
		if err != nil {
			return nil, fmt.Errorf("converting the input: %w", err)
		}
		input = ast.NewTerm(v)
	}
	now := ectx.Time()
	if now.IsZero() {
		now = time.Now() // as OPA's evaluator has it without rego.EvalTime
	}
	return p.eval(ctx, input, now)
}
