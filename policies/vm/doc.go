// Package vm evaluates a policy set as OPA's planner compiles it: into the intermediate
// representation (package ir) that OPA's Wasm compiler also starts from. Rules stay Rego,
// compiled and type-checked by OPA; what changes is how the plan runs: as a loop over
// statements on OPA values, with OPA's own built-in functions (builtins.go has the few
// that answer sooner here, with OPA's answers), instead of OPA's
// tree-walking evaluator, whose unification and bindings cost most of a review.
//
// The package is an evaluation target of OPA's rego package (target.go): Prepare plans a
// query through rego.Target, and the Query it returns runs the plan, called directly
// (Eval, what the engine calls) or through OPA's prepared query for the target (what the
// conformance test calls). Prepare fails, with the reason, for a set the planner cannot
// plan; callers then use OPA's evaluator.
//
// # What the plan is assumed to be beyond what package ir says
//
// Package ir describes statements, not how the planner arranges them. This package
// relies on the following, each pinned by a test, so that an OPA upgrade that changes
// one fails that test by name:
//
//   - An undefined rule at a CallDynamicStmt ends the lookup at once: eval.go returns
//     from its block as if a BreakStmt{3} stood there, which copies the layout the
//     planner gives a dynamic lookup (the call in a block followed by BreakStmt{1}, first
//     of two blocks with the lookup in base data, inside a block ending in
//     BreakStmt{2}). TestDynamicCallLayout.
//   - A function of two parameters (input, data) with a return local is a rule, whose
//     value is kept for the rest of an evaluation (or of a with statement); a Rego
//     function has more parameters. ir does not mark rules. TestRulesAreFunctionsOfInputAndData.
//   - topdown.BuiltinContext is filled here, by hand (OPA fills it inside its evaluator):
//     every field it has is either filled or known to be left empty.
//     TestBuiltinContextFields.
//   - The plan's result set holds, per result, an object from the query's one variable
//     to its value, which Query.Eval reads as rego reads it for a target.
//     TestQueryResultIsOneVariable; TestRegoTestsPlanned (policies/engine) for every test
//     rule of the built-in policies.
//   - rego switches the compiler to the planner's mode (EvalModeIR) when it plans for a
//     target, and leaves it so; Prepare switches it back for OPA's evaluator, which the
//     engine prepares on the same compiler. TestPrepareLeavesCompilerForOPAEvaluator.
//   - A function's data path (ir.Func.Path) is the planner's generation followed by the
//     rule's path, which is what a CallDynamicStmt's path names; a function that ends
//     without a ReturnLocalStmt has its value in its return local; a break out of a
//     function's outer block ends the function; a collection changes only through the
//     statements that add to it (ArrayAppend, ObjectInsert(Once), SetAdd) and is shared
//     only through AssignVar(Once), so that a literal one is made once (compile.go,
//     fold). These hold wherever OPA's own evaluation cases reach:
//     TestOPAEvaluationCases, which compares this package with OPA's evaluator on OPA's
//     own cases through OPA's interface (part of make test, through make unit).
package vm
