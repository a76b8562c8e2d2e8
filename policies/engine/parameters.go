package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/podguard/podguard/policies/config"
)

// customRules lists the custom rules of a set with the parameters each declares in its
// package METADATA, custom.parameters: a mapping of each parameter to the JSON schema of
// its value. A rule that declares them has its configuration checked as a built-in
// rule's is: a parameter it does not declare is refused with those it does, and a value
// its schema refuses is blamed on the configuration key, before any Rego reads it.
func customRules(ctx context.Context, modules map[string]*ast.Module, ids []string) ([]config.CustomRule, error) {
	var out []config.CustomRule
	byID := map[string]*ast.Module{}
	for _, m := range modules {
		if id, ok := ruleID(m.Package.Path); ok {
			for _, a := range m.Annotations {
				if a.Scope == "package" && a.Custom["parameters"] != nil {
					byID[id] = m
				}
			}
		}
	}
	match, err := rego.New(rego.Query("x := json.match_schema(input.value, input.schema)"), rego.Capabilities(capabilities()), rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	verify, err := rego.New(rego.Query("x := json.verify_schema(input.schema)"), rego.Capabilities(capabilities())).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if isBuiltin(id) {
			continue
		}
		r := config.CustomRule{ID: id}
		m := byID[id]
		if m == nil {
			out = append(out, r)
			continue
		}
		var declared any
		var at *ast.Location
		for _, a := range m.Annotations {
			if a.Scope == "package" && a.Custom["parameters"] != nil {
				declared, at = a.Custom["parameters"], a.Location
			}
		}
		params, ok := declared.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: METADATA custom.parameters must map each parameter to the JSON schema of its value", at)
		}
		r.Parameters = map[string]func(string, any) error{}
		for name, schema := range params {
			rs, err := verify.Eval(ctx, rego.EvalInput(map[string]any{"schema": schema}))
			if err != nil {
				return nil, err
			}
			if len(rs) != 1 {
				return nil, fmt.Errorf("%s: METADATA custom.parameters.%s could not be checked as a JSON schema", at, name)
			}
			if res, _ := rs[0].Bindings["x"].([]any); len(res) == 2 && res[0] != true {
				return nil, fmt.Errorf("%s: METADATA custom.parameters.%s is not a JSON schema: %v", at, name, res[1])
			}
			r.Parameters[name] = func(path string, v any) error {
				// json.match_schema reads a string as JSON text: every value goes as its JSON.
				doc, err := json.Marshal(v)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				rs, err := match.Eval(ctx, rego.EvalInput(map[string]any{"value": string(doc), "schema": schema}))
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if len(rs) != 1 {
					return fmt.Errorf("%s: the schema in METADATA custom.parameters of %s could not be checked", path, id)
				}
				res, _ := rs[0].Bindings["x"].([]any)
				if len(res) == 2 && res[0] == true {
					return nil
				}
				errs, _ := res[1].([]any)
				var msgs []string
				for _, e := range errs {
					m, _ := e.(map[string]any)
					msg := fmt.Sprint(m["desc"])
					if f, _ := m["field"].(string); f != "" && !strings.EqualFold(f, "(root)") {
						msg = f + ": " + msg
					}
					msgs = append(msgs, msg)
				}
				sort.Strings(msgs)
				return fmt.Errorf("%s: %s (the schema in METADATA custom.parameters of %s)", path, strings.Join(msgs, "; "), id)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
