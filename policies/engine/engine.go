package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/podguard/podguard/policies/config"
)

// Engine is one compiled policy set with its configuration. It is immutable and safe for
// concurrent use; a new policy set means a new Engine.
type Engine struct {
	decision rego.PreparedEvalQuery
	defaults rego.PreparedEvalQuery
	cfg      *config.Config
	rules    []string
	info     map[string]RuleInfo
	now      func() time.Time
	revision string
}

// Violation is one thing wrong with an object, as a rule reported it.
type Violation struct {
	Rule        string `json:"rule"`
	Enforcement string `json:"enforcement"`
	Message     string `json:"message"`
	Field       string `json:"field"`
	Container   string `json:"container,omitempty"`
	Fix         string `json:"fix"`
	// EnforceAfter is set while a deny rule is still in its warning period.
	EnforceAfter string `json:"enforceAfter,omitempty"`
}

// Key identifies a violation across two versions of an object, so an UPDATE can tell a
// new problem from one the object already had.
func (v Violation) Key() string {
	return v.Rule + "\x00" + v.Field + "\x00" + v.Message
}

// String is the text users read: [rule-id] container "app": what (path). Fix: how.
func (v Violation) String() string {
	var b strings.Builder
	b.WriteString("[" + v.Rule + "] ")
	if v.Container != "" {
		fmt.Fprintf(&b, "container %q: ", v.Container)
	}
	b.WriteString(v.Message)
	if v.Field != "" {
		b.WriteString(" (" + v.Field + ")")
	}
	b.WriteString(".")
	if v.Fix != "" {
		b.WriteString(" Fix: " + v.Fix)
	}
	if v.EnforceAfter != "" {
		b.WriteString(". Enforced from " + v.EnforceAfter + ".")
	}
	return b.String()
}

// Decision is every violation of one object, sorted by enforcement.
type Decision struct {
	Deny  []Violation `json:"deny"`
	Warn  []Violation `json:"warn"`
	Audit []Violation `json:"audit"`
}

// All returns every violation, deny first.
func (d Decision) All() []Violation {
	out := make([]Violation, 0, len(d.Deny)+len(d.Warn)+len(d.Audit))
	out = append(out, d.Deny...)
	out = append(out, d.Warn...)
	return append(out, d.Audit...)
}

// Addition is one default the mutation fills in.
type Addition struct {
	ContainerType string `json:"containerType"`
	Index         int    `json:"index"`
	Container     string `json:"container"`
	Section       string `json:"section"` // requests or limits
	Resource      string `json:"resource"`
	Value         string `json:"value"`
}

// Field is the path of the added value inside the object.
func (a Addition) Field(o *Object) string {
	return fmt.Sprintf("%sspec.%s[%d].resources.%s.%s", o.prefixPath, a.ContainerType, a.Index, a.Section, a.Resource)
}

// Revision is a hash of the policy files and configuration being served.
func (e *Engine) Revision() string { return e.revision }

// Rules lists the rule ids of the set, built-in and custom.
func (e *Engine) Rules() []string { return e.rules }

// Info returns what a rule's METADATA says about it.
func (e *Engine) Info(rule string) RuleInfo { return e.info[rule] }

// Config is the effective configuration.
func (e *Engine) Config() *config.Config { return e.cfg }

// Evaluate runs every rule on the object.
func (e *Engine) Evaluate(ctx context.Context, o *Object) (Decision, error) {
	val, err := e.eval(ctx, e.decision, o)
	if err != nil {
		return Decision{}, err
	}
	m, ok := val.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("data.pod.decision is %s, not an object", ast.ValueName(val))
	}
	var d Decision
	for _, part := range []struct {
		key string
		out *[]Violation
	}{{"deny", &d.Deny}, {"warn", &d.Warn}, {"audit", &d.Audit}} {
		list, ok := field(m, part.key).(*ast.Array)
		if !ok {
			return Decision{}, fmt.Errorf("data.pod.decision.%s is missing or not a list", part.key)
		}
		for i := range list.Len() {
			v, err := violation(list.Elem(i).Value)
			if err != nil {
				return Decision{}, err
			}
			*part.out = append(*part.out, v)
		}
	}
	return d, nil
}

// Defaults lists the resource defaults the object lacks.
func (e *Engine) Defaults(ctx context.Context, o *Object) ([]Addition, error) {
	val, err := e.eval(ctx, e.defaults, o)
	if err != nil {
		return nil, err
	}
	set, ok := val.(ast.Set)
	if !ok {
		return nil, fmt.Errorf("data.pod.defaults.additions is %s, not a set", ast.ValueName(val))
	}
	out := make([]Addition, 0, set.Len())
	var bad error
	set.Until(func(item *ast.Term) bool {
		m, _ := item.Value.(ast.Object)
		if m == nil {
			bad = fmt.Errorf("malformed addition %v", item)
			return true
		}
		a := Addition{
			ContainerType: str(m, "containerType"),
			Container:     str(m, "container"),
			Section:       str(m, "section"),
			Resource:      str(m, "resource"),
			Value:         quantityString(field(m, "value")),
		}
		idx, err := toInt(field(m, "index"))
		if err != nil || a.ContainerType == "" || a.Section == "" || a.Resource == "" {
			bad = fmt.Errorf("malformed addition %v", item)
			return true
		}
		a.Index = idx
		out = append(out, a)
		return false
	})
	if bad != nil {
		return nil, bad
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerType != b.ContainerType {
			return a.ContainerType < b.ContainerType // containers before initContainers
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		if a.Section != b.Section {
			return a.Section > b.Section // requests before limits
		}
		return a.Resource < b.Resource
	})
	return out, nil
}

func (e *Engine) eval(ctx context.Context, q rego.PreparedEvalQuery, o *Object) (ast.Value, error) {
	input, err := o.inputValue()
	if err != nil {
		return nil, fmt.Errorf("converting input: %w", err)
	}
	cache := getCache()
	defer putCache(cache)
	rs, err := q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(e.now()),
		rego.EvalVirtualCache(cache), rego.EvalGenerateJSON(asValue))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		// The entrypoint is always defined; no result means the policy set is broken,
		// which must never read as "no violations".
		return nil, errors.New("evaluating policies: the entrypoint gave no result")
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("evaluating policies: result is %T", rs[0].Expressions[0].Value)
	}
	return v, nil
}

// asValue hands the result over as OPA computed it: Evaluate and Defaults read the few
// fields they need from it, instead of having the whole result converted to Go values.
func asValue(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }

// field returns the value of key in an object, or nil.
func field(o ast.Object, key string) ast.Value {
	if t := o.Get(ast.InternedTerm(key)); t != nil {
		return t.Value
	}
	return nil
}

// str is the string value of key, or "" when it is missing or not a string.
func str(o ast.Object, key string) string {
	s, _ := field(o, key).(ast.String)
	return string(s)
}

func violation(item ast.Value) (Violation, error) {
	m, ok := item.(ast.Object)
	if !ok {
		return Violation{}, fmt.Errorf("violation %v is not an object", item)
	}
	v := Violation{
		Rule:         str(m, "rule"),
		Enforcement:  str(m, "enforcement"),
		Message:      str(m, "msg"),
		Field:        str(m, "field"),
		Container:    str(m, "container"),
		Fix:          str(m, "fix"),
		EnforceAfter: str(m, "enforce_after"),
	}
	if v.Rule == "" || v.Message == "" {
		return Violation{}, fmt.Errorf("violation %v lacks rule or msg", item)
	}
	return v, nil
}

// quantityString is a default value as the patch writes it: a string as it is, a number
// in its JSON form.
func quantityString(v ast.Value) string {
	switch x := v.(type) {
	case ast.String:
		return string(x)
	case ast.Number:
		return string(x)
	}
	// Config validation admits only quantities; anything else is printed as Go prints
	// the JSON value, as before.
	j, err := ast.JSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return fmt.Sprint(j)
}

func toInt(v ast.Value) (int, error) {
	if n, ok := v.(ast.Number); ok {
		if i, ok := n.Int(); ok {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%v is not an integer", v)
}

// storeData is the data a policy set is evaluated with: the configuration as
// data.pod.config, and the names of the packages under pod.rules as
// data.pod.rule_packages. main.rego walks that list instead of every package under
// pod.rules, so that a rule that is off is never evaluated (startup-probe, off by
// default, cost a fifth of the evaluation of a compliant Pod); without the list it
// finds the packages by evaluating them all, which is what opa test does.
func storeData(cfgData map[string]any, modules map[string]*ast.Module) map[string]any {
	names := rulePackages(modules)
	packages := make([]any, len(names))
	for i, name := range names {
		packages[i] = name
	}
	return map[string]any{"pod": map[string]any{"config": cfgData, "rule_packages": packages}}
}
