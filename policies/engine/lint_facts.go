package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// containerLists are the references a rule takes containers from.
var containerLists = []ast.Ref{
	ast.MustParseRef("data.pod.lib.containers"), ast.MustParseRef("input.containers"),
	ast.MustParseRef("data.pod.lib.containers_of"),
}

// lintFacts warns about a comparison of a container's type with a value the facts never
// hold (c.type == "container"): the comparison is never true, so the rule never fires
// (or always does, negated), whatever the Pod.
func lintFacts(m *ast.Module, warn func(*ast.Location, string, ...any)) {
	resolve := importResolver(m)
	fromContainers := func(t *ast.Term) bool {
		var ref ast.Ref
		switch v := t.Value.(type) {
		case ast.Ref:
			ref = v
		case ast.Call:
			ref, _ = v[0].Value.(ast.Ref)
		}
		if ref == nil {
			return false
		}
		full := resolve(ref.GroundPrefix())
		return slices.ContainsFunc(containerLists, func(r ast.Ref) bool { return full.Equal(r) })
	}
	ast.WalkBodies(m, func(b ast.Body) bool {
		vars := map[ast.Var]bool{}
		for _, e := range b {
			// some c in lib.containers; c := lib.containers[_]
			if decl, ok := e.Terms.(*ast.SomeDecl); ok {
				for _, s := range decl.Symbols {
					if call, ok := s.Value.(ast.Call); ok && len(call) >= 3 && fromContainers(call[len(call)-1]) {
						if v, ok := call[len(call)-2].Value.(ast.Var); ok {
							vars[v] = true
						}
					}
				}
			}
			if e.IsAssignment() || e.IsEquality() {
				ops := e.Operands()
				if v, ok := ops[0].Value.(ast.Var); ok && len(ops) == 2 {
					if r, ok := ops[1].Value.(ast.Ref); ok && fromContainers(ast.NewTerm(r)) && len(r) > 1 {
						vars[v] = true
					}
				}
			}
		}
		for _, e := range b {
			if !e.IsCall() {
				continue
			}
			op := e.Operator().String()
			if op != "equal" && op != "neq" && op != "eq" {
				continue
			}
			ops := e.Operands()
			if len(ops) != 2 {
				continue
			}
			for i, t := range ops {
				ref, ok := t.Value.(ast.Ref)
				lit, isString := ops[1-i].Value.(ast.String)
				if !ok || !isString || len(ref) != 2 || !ref[1].Equal(ast.InternedTerm("type")) {
					continue
				}
				v, ok := ref[0].Value.(ast.Var)
				if !ok || !vars[v] || slices.Contains(containerTypes[:], string(lit)) {
					continue
				}
				hint := ""
				for _, ct := range containerTypes {
					if strings.HasPrefix(ct, string(lit)) || strings.EqualFold(ct, string(lit)+"s") {
						hint = fmt.Sprintf(": did you mean %q?", ct)
						break
					}
				}
				if hint == "" {
					hint = fmt.Sprintf(" (it is one of %s)", strings.Join(containerTypes[:], ", "))
				}
				always := "never true"
				if op == "neq" {
					always = "always true"
				}
				warn(e.Location, "%s compares a container's type with %q, which it never is, so it is %s%s", e.Location.Text, string(lit), always, hint)
			}
		}
		return false
	})
}
