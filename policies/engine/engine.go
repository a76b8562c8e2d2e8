package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"

	"github.com/podguard/podguard/policies/config"
)

// Engine is one compiled policy set with its configuration. It is immutable and safe for
// concurrent use; a new policy set means a new Engine.
type Engine struct {
	// decision and defaults are the two entrypoints, prepared for the evaluator that
	// runs them: evaluator, which is "plan" (package vm's target) when OPA's planner could
	// plan the set, "rego" (OPA's evaluator) otherwise, with planErr saying why.
	decision  query
	defaults  query
	evaluator string
	planErr   error
	cfg       *config.Config
	rules     []string
	info      map[string]RuleInfo
	// sources maps a rule id to where its violations are defined, for errors.
	sources  map[string]string
	plan     inputPlan
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
	// EnforceAfter is set while a rule with enforceAfter has yet to start denying.
	EnforceAfter string `json:"enforceAfter,omitempty"`
	// Exception names the exception of the configuration that covers the violation, and
	// its reason, when Enforcement is Excepted.
	Exception string `json:"exception,omitempty"`
}

// key identifies a violation of one object across the stages of its admission, so that
// eval can tell which violations defaults fill in or bring in. (Across two versions of
// an object, on UPDATE, the values read count too: splitExisting.)
func (v Violation) key() string {
	return v.Rule + "\x00" + v.Field + "\x00" + v.Message
}

// String is the text users read: [rule-id] container "app": what (path). Fix: how.
func (v Violation) String() string {
	var b strings.Builder
	v.WriteTo(&b)
	return b.String()
}

// WriteTo writes the violation as String does.
func (v Violation) WriteTo(b *strings.Builder) {
	b.Grow(len(v.Rule) + len(v.Container) + len(v.Message) + len(v.Field) + len(v.Fix) + len(v.EnforceAfter) + 48)
	b.WriteByte('[')
	b.WriteString(v.Rule)
	b.WriteString("] ")
	if v.Container != "" {
		b.WriteString("container ")
		var q [64]byte
		b.Write(strconv.AppendQuote(q[:0], v.Container))
		b.WriteString(": ")
	}
	b.WriteString(v.Message)
	if v.Field != "" {
		b.WriteString(" (")
		b.WriteString(v.Field)
		b.WriteByte(')')
	}
	b.WriteByte('.')
	if v.Fix != "" {
		b.WriteString(" Fix: ")
		b.WriteString(v.Fix)
	}
	if v.EnforceAfter != "" {
		b.WriteString(". Enforced from ")
		b.WriteString(v.EnforceAfter)
		b.WriteByte('.')
	}
	if v.Exception != "" {
		if v.Fix != "" && v.EnforceAfter == "" {
			b.WriteByte('.')
		}
		b.WriteString(" Excepted by ")
		b.WriteString(v.Exception)
	}
}

// Decision is every violation of one object, sorted by enforcement.
type Decision struct {
	Deny  []Violation `json:"deny"`
	Warn  []Violation `json:"warn"`
	Audit []Violation `json:"audit"`
	// Excepted are the violations an exception of the configuration covers: they
	// neither refuse nor warn, but are reported and counted.
	Excepted []Violation `json:"excepted,omitempty"`
}

// All returns every violation, deny first and excepted last.
func (d Decision) All() []Violation {
	out := make([]Violation, 0, len(d.Deny)+len(d.Warn)+len(d.Audit)+len(d.Excepted))
	out = append(out, d.Deny...)
	out = append(out, d.Warn...)
	out = append(out, d.Audit...)
	return append(out, d.Excepted...)
}

// Addition is one default filled in: by podguard's mutation, or by the cluster (the API
// server's requests from limits, a LimitRange's defaults).
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

// Namespace is what the cluster knows about an object's namespace that bears on a decision.
type Namespace struct {
	// Labels are the Namespace's labels, which namespace overrides may select on. Only an
	// admin sets them, unlike anything in the object itself.
	Labels map[string]string
	// LimitRanges are the namespace's LimitRanges, whose defaults the Pod gets when it is
	// created.
	LimitRanges []corev1.LimitRange
}

// stage is how far through admission an object is judged.
type stage int

const (
	// asWritten judges the object exactly as given.
	asWritten stage = iota
	// withClusterDefaults judges it with what the API server fills in before any webhook
	// sees a Pod: requests taken from limits, the namespace's LimitRange defaults.
	withClusterDefaults
	// asAdmitted judges it with those defaults and podguard's own: the Pod as stored.
	asAdmitted
)

// Revision is a hash of the policy files and configuration being served.
func (e *Engine) Revision() string { return e.revision }

// Rules lists the rule ids of the set, built-in and custom.
func (e *Engine) Rules() []string { return e.rules }

// Info returns what a rule's METADATA says about it.
func (e *Engine) Info(rule string) RuleInfo { return e.info[rule] }

// ReadsObject says whether some rule reads the object itself (input.object or
// input.spec), which is then converted for every evaluation: its cost follows the
// object's structure, not only its size.
func (e *Engine) ReadsObject() bool { return e.plan.spec || e.plan.object }

// Config is the effective configuration.
func (e *Engine) Config() *config.Config { return e.cfg }

// judge decides an object as admission does: a Pod as it arrives (the API server, the
// LimitRanges and podguard's mutation have filled in their defaults already), a workload
// as the Pod its template will become, with all of those defaults applied first.
func (e *Engine) judge(ctx context.Context, o *Object, ns Namespace) (Decision, error) {
	s := asAdmitted
	if o.Kind == "Pod" {
		s = asWritten
	}
	return e.evaluate(ctx, o, ns, s)
}

// evaluate runs every rule on the object at a stage of admission, in one evaluation.
func (e *Engine) evaluate(ctx context.Context, o *Object, ns Namespace, stage stage) (Decision, error) {
	facts := &o.pod
	if stage >= withClusterDefaults {
		f, _ := o.pod.withClusterDefaults(ns.LimitRanges)
		facts = &f
	}
	val, err := e.eval(ctx, e.decision, o, facts, ns.Labels, stage == asAdmitted)
	if err != nil {
		return Decision{}, err
	}
	groups, ok := val.(ast.Set)
	if !ok {
		return Decision{}, fmt.Errorf("data.pod.decision is %s, not a set", ast.ValueName(val))
	}
	var d Decision
	// Each list made at its size: count the violations each enforcement gets first.
	var n [3]int
	for _, t := range groups.Slice() {
		if m, ok := t.Value.(ast.Object); ok {
			if vs, ok := field(m, "violations").(ast.Set); ok {
				switch str(m, "enforcement") {
				case "deny":
					n[0] += vs.Len()
				case "warn":
					n[1] += vs.Len()
				case "audit":
					n[2] += vs.Len()
				}
			}
		}
	}
	for i, list := range []*[]Violation{&d.Deny, &d.Warn, &d.Audit} {
		if n[i] > 0 {
			*list = make([]Violation, 0, n[i])
		}
	}
	for _, t := range groups.Slice() {
		if err := e.readGroup(t.Value, &d); err != nil {
			return Decision{}, err
		}
	}
	for _, list := range [][]Violation{d.Deny, d.Warn, d.Audit} {
		sortViolations(list)
	}
	e.except(o, &d, e.now())
	return d, nil
}

// additions lists the defaults podguard's mutation adds to the object as it stands at a
// stage (a Pod reaches the mutating webhook with the cluster's defaults applied).
func (e *Engine) additions(ctx context.Context, o *Object, ns Namespace, stage stage) ([]Addition, error) {
	facts := &o.pod
	if stage >= withClusterDefaults {
		f, _ := o.pod.withClusterDefaults(ns.LimitRanges)
		facts = &f
	}
	val, err := e.eval(ctx, e.defaults, o, facts, ns.Labels, false)
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
	sortAdditions(out)
	return out, nil
}

func sortAdditions(out []Addition) {
	sort.SliceStable(out, func(i, j int) bool {
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
}

// query is one of the two entrypoints, prepared for the evaluator that runs it.
type query struct {
	query string // "data.pod.decision"
	run   evaluator
}

// evaluator runs an entrypoint on an input at a time, and returns its value (nil when
// it is undefined): the plan (*vm.Query) or OPA's evaluator (regoQuery). It is the one
// seam between the engine and what runs the rules.
//
// The plan is an OPA evaluation target too (vm.Prepare), so both could be a
// rego.PreparedEvalQuery; evaluating the plan through rego costs a review 14 more
// allocations (an EvalContext, a store transaction, a ResultSet per evaluation), which is
// why the plan is called here directly.
type evaluator interface {
	Eval(ctx context.Context, input ast.Value, now time.Time) (ast.Value, error)
}

// Evaluator names what runs the rules: "plan" (OPA's planner, run by package vm) or
// "rego" (OPA's evaluator, for a set the planner cannot plan, with the reason).
func (e *Engine) Evaluator() (name string, reason error) {
	return e.evaluator, e.planErr
}

func (e *Engine) eval(ctx context.Context, q query, o *Object, facts *podFacts, nsLabels map[string]string, applyDefaults bool) (ast.Value, error) {
	input, err := o.input(facts, nsLabels, applyDefaults, &e.plan)
	if err != nil {
		return nil, fmt.Errorf("reading the object: %w", err)
	}
	v, err := q.run.Eval(ctx, input, e.now())
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if v == nil {
		// The entrypoint is always defined; no result means the policy set is broken,
		// which must never read as "no violations".
		return nil, errors.New("evaluating policies: the entrypoint gave no result")
	}
	return v, nil
}

// regoQuery is an entrypoint prepared for OPA's evaluator.
type regoQuery struct{ q rego.PreparedEvalQuery }

func (r regoQuery) Eval(ctx context.Context, input ast.Value, now time.Time) (ast.Value, error) {
	cache := getCache()
	defer putCache(cache)
	rs, err := r.q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalTime(now),
		rego.EvalVirtualCache(cache), resultAsValue)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("%d results", len(rs))
	}
	v, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		return nil, fmt.Errorf("result is %T", rs[0].Expressions[0].Value)
	}
	return v, nil
}

// resultAsValue hands the result over as OPA computed it: evaluate and additions read the
// few fields they need from it, instead of having the whole result converted to Go values.
var resultAsValue = rego.EvalGenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil })

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

// readGroup files the violations of one rule under their enforcement. A malformed violation
// is an error of the rule that emitted it, named with its file.
func (e *Engine) readGroup(group ast.Value, d *Decision) error {
	m, ok := group.(ast.Object)
	if !ok {
		return fmt.Errorf("data.pod.decision: element %v is not an object", group)
	}
	rule := str(m, "rule")
	violations, ok := field(m, "violations").(ast.Set)
	if rule == "" || !ok {
		return fmt.Errorf("data.pod.decision: element %v lacks its rule or violations", group)
	}
	enforcement, after := str(m, "enforcement"), str(m, "enforce_after")
	var out *[]Violation
	switch enforcement {
	case "deny":
		out = &d.Deny
	case "warn":
		out = &d.Warn
	case "audit":
		out = &d.Audit
	default:
		return fmt.Errorf("data.pod.decision: rule %s has the enforcement %q", rule, enforcement)
	}
	for _, t := range violations.Slice() {
		v := Violation{Rule: rule, Enforcement: enforcement, EnforceAfter: after}
		switch x := t.Value.(type) {
		case ast.String:
			v.Message = string(x) // a custom rule may emit a bare message
		case ast.Object:
			v.Message, v.Field, v.Container, v.Fix = str(x, "msg"), str(x, "field"), str(x, "container"), str(x, "fix")
		}
		if v.Message == "" {
			return fmt.Errorf("rule %s (%s) emitted a violation without a msg string: %v", rule, e.sources[rule], t)
		}
		*out = append(*out, v)
	}
	return nil
}

// sortViolations orders violations by rule, field and message, and then the rest, so a
// decision reads the same whatever order the rules produced them in.
func sortViolations(vs []Violation) {
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(
			strings.Compare(a.Rule, b.Rule), strings.Compare(a.Field, b.Field), strings.Compare(a.Message, b.Message),
			strings.Compare(a.Container, b.Container), strings.Compare(a.Fix, b.Fix),
		)
	})
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
