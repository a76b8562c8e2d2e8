// Package vm evaluates a policy set as OPA's planner compiles it: into the intermediate
// representation (package ir) that OPA's Wasm compiler also starts from. Rules stay Rego,
// compiled and type-checked by OPA; what changes is how the plan runs: as a loop over
// statements on OPA values, with OPA's own built-in functions (builtins.go has the few
// that answer sooner here, with OPA's answers), instead of OPA's
// tree-walking evaluator, whose unification and bindings cost most of a review.
//
// A Program is compiled once per policy set and shared by every evaluation. Callers fall
// back to OPA's evaluator (rego) for a set the planner cannot plan.
package vm
