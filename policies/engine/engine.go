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
	m, ok := val.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("data.pod.decision is %T, not an object", val)
	}
	var d Decision
	for _, part := range []struct {
		key string
		out *[]Violation
	}{{"deny", &d.Deny}, {"warn", &d.Warn}, {"audit", &d.Audit}} {
		list, ok := m[part.key].([]any)
		if !ok {
			return Decision{}, fmt.Errorf("data.pod.decision.%s is missing or not a list", part.key)
		}
		for _, item := range list {
			v, err := violation(item)
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
	list, ok := val.([]any)
	if !ok {
		return nil, fmt.Errorf("data.pod.defaults.additions is %T, not a set", val)
	}
	out := make([]Addition, 0, len(list))
	for _, item := range list {
		m, _ := item.(map[string]any)
		a := Addition{}
		a.ContainerType, _ = m["containerType"].(string)
		a.Container, _ = m["container"].(string)
		a.Section, _ = m["section"].(string)
		a.Resource, _ = m["resource"].(string)
		a.Value = fmt.Sprint(m["value"])
		idx, err := toInt(m["index"])
		if err != nil || a.ContainerType == "" || a.Section == "" || a.Resource == "" {
			return nil, fmt.Errorf("malformed addition %v", item)
		}
		a.Index = idx
		out = append(out, a)
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

func (e *Engine) eval(ctx context.Context, q rego.PreparedEvalQuery, o *Object) (any, error) {
	input, err := ast.InterfaceToValue(o.input())
	if err != nil {
		return nil, fmt.Errorf("converting input: %w", err)
	}
	rs, err := q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(e.now()))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		// The entrypoint is always defined; no result means the policy set is broken,
		// which must never read as "no violations".
		return nil, errors.New("evaluating policies: the entrypoint gave no result")
	}
	return rs[0].Expressions[0].Value, nil
}

func violation(item any) (Violation, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return Violation{}, fmt.Errorf("violation %v is not an object", item)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	v := Violation{
		Rule:         str("rule"),
		Enforcement:  str("enforcement"),
		Message:      str("msg"),
		Field:        str("field"),
		Container:    str("container"),
		Fix:          str("fix"),
		EnforceAfter: str("enforce_after"),
	}
	if v.Rule == "" || v.Message == "" {
		return Violation{}, fmt.Errorf("violation %v lacks rule or msg", item)
	}
	return v, nil
}

func toInt(v any) (int, error) {
	switch n := v.(type) {
	case int:
		return n, nil
	case float64:
		return int(n), nil
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return int(i), err
	}
	return 0, fmt.Errorf("%v is not an integer", v)
}
