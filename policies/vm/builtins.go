package vm

import (
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// sooner holds the built-in functions that run here in place of OPA's: each gives OPA's
// answer, without the work the answer does not need. OPA compares two sets by sorting
// both, even when their sizes already tell; the decision compares every rule's
// violations with the empty set on every review.
var sooner = map[string]topdown.BuiltinFunc{
	ast.Equal.Name: func(_ topdown.BuiltinContext, args []*ast.Term, iter func(*ast.Term) error) error {
		return iter(ast.InternedTerm(!sizesDiffer(args[0], args[1]) && args[0].Equal(args[1])))
	},
	ast.NotEqual.Name: func(_ topdown.BuiltinContext, args []*ast.Term, iter func(*ast.Term) error) error {
		return iter(ast.InternedTerm(sizesDiffer(args[0], args[1]) || !args[0].Equal(args[1])))
	},
}

// sizesDiffer is true when a and b are sets of different sizes, which are not equal.
func sizesDiffer(a, b *ast.Term) bool {
	x, ok := a.Value.(ast.Set)
	if !ok {
		return false
	}
	y, ok := b.Value.(ast.Set)
	return ok && x.Len() != y.Len()
}
