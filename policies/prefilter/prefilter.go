package prefilter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podguard/podguard/policies/config"
)

// Condition is one matchCondition: the webhook is called only when every condition of
// the webhook is true.
type Condition struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// Set is the prefilter of each webhook; an empty list means that webhook has none, and
// Reasons says why.
type Set struct {
	Mutating   []Condition `json:"mutating"`
	Validating []Condition `json:"validating"`
	Reasons    []string    `json:"reasons,omitempty"`
}

// Names of the generated conditions, so an installer can tell them from the operator's.
const (
	MutatingName   = "podguard-may-add-defaults"
	ValidatingName = "podguard-may-find-violations"
)

// Generated reports whether a matchCondition name is one podguard generates: an
// installer or podguard itself replaces those and keeps every other.
func Generated(name string) bool { return name == MutatingName || name == ValidatingName }

// MaxConditions is the API server's limit of matchConditions per webhook.
const MaxConditions = 64

// Generate writes the prefilters for a configuration. rules lists the rule ids of the
// policy set served (built-in and custom): a custom rule can read anything, so the
// validating webhook then has no prefilter.
func Generate(cfg *config.Config, rules []string) Set {
	var s Set
	if e, err := mutating(cfg); err != nil {
		s.Reasons = append(s.Reasons, "mutating: "+err.Error())
	} else {
		s.Mutating = []Condition{{Name: MutatingName, Expression: e}}
	}
	var custom []string
	for _, id := range rules {
		if !slices.Contains(config.BuiltinRules, id) {
			custom = append(custom, id)
		}
	}
	if len(custom) > 0 {
		s.Reasons = append(s.Reasons, fmt.Sprintf("validating: custom rules are loaded (%s), whose findings CEL cannot foresee", strings.Join(custom, ", ")))
		return s
	}
	if e, err := validating(cfg); err != nil {
		s.Reasons = append(s.Reasons, "validating: "+err.Error())
	} else {
		s.Validating = []Condition{{Name: ValidatingName, Expression: e}}
	}
	return s
}

// Merge puts the generated conditions after the operator's: all must be true for the API
// server to call. It refuses more than the API server accepts, and an operator condition
// whose name podguard would take for its own.
func Merge(operator, generated []Condition) ([]Condition, error) {
	for _, c := range operator {
		if Generated(c.Name) {
			return nil, fmt.Errorf("matchCondition name %q is podguard's own", c.Name)
		}
	}
	out := append(slices.Clone(operator), generated...)
	if len(out) > MaxConditions {
		return nil, fmt.Errorf("%d matchConditions, more than the %d the API server accepts per webhook", len(out), MaxConditions)
	}
	return out, nil
}

// The kinds podguard judges and where each keeps its Pod (policies/engine's templatePaths),
// by the object's apiVersion and kind. Any other apiVersion is called.
var templates = []struct {
	apiVersions []string
	kinds       []string
	path        string // from object to the pod template ("" for a Pod)
}{
	{[]string{"v1"}, []string{"Pod"}, ""},
	{[]string{"apps/v1"}, []string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}, ".spec.template"},
	{[]string{"v1"}, []string{"ReplicationController"}, ".spec.template"},
	{[]string{"batch/v1"}, []string{"Job"}, ".spec.template"},
	{[]string{"batch/v1"}, []string{"CronJob"}, ".spec.jobTemplate.spec.template"},
}

// mapAt is a CEL test that the path (".a.b") below root leads through maps only, with
// each key present: has() on a map that lacks the key is false, never an error.
func mapAt(root, path string) string {
	parts := []string{"type(" + root + ") == map"}
	cur := root
	for _, k := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		if k == "" {
			continue
		}
		cur = cur + "." + k
		parts = append(parts, "has("+cur+")", "type("+cur+") == map")
	}
	return strings.Join(parts, " && ")
}

// kindSwitch is true when the object is a kind podguard judges and proven(template) holds
// for its pod template (for a Pod, the object itself), else false.
func kindSwitch(proven func(template string) string) string {
	var alts []string
	for _, t := range templates {
		cond := fmt.Sprintf("has(object.apiVersion) && object.apiVersion in %s && has(object.kind) && object.kind in %s && %s && %s",
			celStrings(t.apiVersions), celStrings(t.kinds), mapAt("object", t.path), proven("object"+t.path))
		alts = append(alts, "("+cond+")")
	}
	return strings.Join(alts, " || ")
}

func celString(s string) string {
	b, _ := json.Marshal(s) // a JSON string is a CEL string literal
	return string(b)
}

func celStrings(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = celString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// listAll is true when the key is absent, or is a list whose every element is a map for
// which each holds. A list of anything else is not proven.
func listAll(obj, key, each string) string {
	return fmt.Sprintf("(!(%[2]s in %[1]s) || (type(%[1]s[%[2]s]) == list && %[1]s[%[2]s].all(c, type(c) == map && (%[3]s))))",
		obj, celString(key), each)
}

// quantityAt is a CEL test that c.resources[section][name] is a quantity string, and
// the CEL expression of that quantity.
func quantityAt(c, section, name string) (present, value string) {
	v := fmt.Sprintf("%s.resources[%s][%s]", c, celString(section), celString(name))
	present = fmt.Sprintf("has(%[1]s.resources) && type(%[1]s.resources) == map && %[2]s in %[1]s.resources && type(%[1]s.resources[%[2]s]) == map && %[3]s in %[1]s.resources[%[2]s] && type(%[4]s) == string && isQuantity(%[4]s)",
		c, celString(section), celString(name), v)
	return present, "quantity(" + v + ")"
}

var sections = []string{"requests", "limits"}

// mutating: call unless the object is a Pod whose every container and init container
// (sidecars included; ephemeral containers get no defaults) has each defaulted resource,
// or the Pod has it at pod level, which podguard then leaves to the Pod.
func mutating(cfg *config.Config) (string, error) {
	defaults, _ := cfg.Data["defaults"].(map[string]any)
	res, _ := defaults["resources"].(map[string]any)
	var checks []string
	for _, section := range sections {
		m, _ := res[section].(map[string]any)
		for _, name := range sortedKeys(m) {
			if v := m[name]; v == nil || v == "" {
				continue
			}
			own, _ := quantityAt("c", section, name)
			podLevel := fmt.Sprintf("(%s)", podLevelHas("object.spec", name))
			checks = append(checks, "("+own+") || "+podLevel)
		}
	}
	if len(checks) == 0 {
		return "false", nil // nothing to default: /mutate never changes an object
	}
	each := "(" + strings.Join(checks, ") && (") + ")"
	spec := "object.spec"
	proven := fmt.Sprintf(`type(object) == map && has(object.apiVersion) && object.apiVersion == "v1" && has(object.kind) && object.kind == "Pod" && %s && %s && %s`,
		mapAt("object", ".spec"), listAll(spec, "containers", each), listAll(spec, "initContainers", each))
	return "!(" + proven + ")", nil
}

// podLevelHas: the pod-level resources name the resource with a non-empty string, in
// either section (podguard then adds neither a request nor a limit for it).
func podLevelHas(spec, name string) string {
	var alts []string
	for _, section := range sections {
		alts = append(alts, fmt.Sprintf("(has(%[1]s.resources) && type(%[1]s.resources) == map && %[2]s in %[1]s.resources && type(%[1]s.resources[%[2]s]) == map && %[3]s in %[1]s.resources[%[2]s] && type(%[1]s.resources[%[2]s][%[3]s]) == string && %[1]s.resources[%[2]s][%[3]s] != \"\")",
			spec, celString(section), celString(name)))
	}
	return strings.Join(alts, " || ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func strList(v any, fallback []string) []string {
	list, ok := v.([]any)
	if !ok {
		return fallback
	}
	out := []string{}
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func ruleParams(cfg *config.Config, id string) map[string]any {
	rules, _ := cfg.Data["rules"].(map[string]any)
	p, _ := rules[id].(map[string]any)
	return p
}

// bound is a configured quantity as a CEL quantity literal; one that Kubernetes cannot
// read makes the condition inexpressible.
func bound(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int, int64:
		s = fmt.Sprint(x)
	default:
		return "", fmt.Errorf("bound %v is not a quantity", v)
	}
	if _, err := resource.ParseQuantity(s); err != nil {
		return "", fmt.Errorf("bound %q is not a Kubernetes quantity, which CEL cannot compare", s)
	}
	return "quantity(" + celString(s) + ")", nil
}

func number(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case string:
		q, err := resource.ParseQuantity(x)
		if err != nil {
			return 0, fmt.Errorf("ratio %q is not a number", x)
		}
		return q.AsApproximateFloat64(), nil
	}
	return 0, fmt.Errorf("ratio %v is not a number", v)
}

var probeKeys = map[string]string{"liveness-probe": "livenessProbe", "readiness-probe": "readinessProbe", "startup-probe": "startupProbe"}

// validating: call unless the object is a kind podguard judges whose pod template
// complies with every rule that can be on in some namespace (whatever its enforcement:
// warn and audit findings must still reach the user and the audit log). Exempt images
// and pod-level stand-ins are not used: an object relying on them is called.
func validating(cfg *config.Config) (string, error) {
	// per container type: the checks its containers must pass
	checks := map[string][]string{}
	add := func(types []string, check string) {
		for _, t := range types {
			checks[t] = append(checks[t], check)
		}
	}
	podLevelCalled := false
	for _, rc := range []struct{ id, section string }{{"resources-requests", "requests"}, {"resources-limits", "limits"}} {
		if !cfg.CanBeOn(rc.id) {
			continue
		}
		p := ruleParams(cfg, rc.id)
		types := withoutEphemeral(strList(p["containerTypes"], []string{"containers", "initContainers"}))
		names := map[string]bool{}
		for _, n := range strList(p["resources"], []string{"cpu", "memory"}) {
			names[n] = true
		}
		mins, _ := p["min"].(map[string]any)
		maxs, _ := p["max"].(map[string]any)
		ratios, _ := p["maxLimitRequestRatio"].(map[string]any)
		for _, m := range []map[string]any{mins, maxs, ratios} {
			for n := range m {
				names[n] = true
			}
		}
		for _, name := range sortedKeys(boolMap(names)) {
			present, q := quantityAt("c", rc.section, name)
			parts := []string{present}
			if v, ok := mins[name]; ok {
				b, err := bound(v)
				if err != nil {
					return "", err
				}
				parts = append(parts, q+".compareTo("+b+") > 0")
			}
			if v, ok := maxs[name]; ok {
				b, err := bound(v)
				if err != nil {
					return "", err
				}
				parts = append(parts, q+".compareTo("+b+") < 0")
			}
			if v, ok := ratios[name]; ok {
				r, err := number(v)
				if err != nil {
					return "", err
				}
				reqPresent, req := quantityAt("c", "requests", name)
				limPresent, lim := quantityAt("c", "limits", name)
				// with a margin, so float rounding never proves a limit the rule finds too high
				parts = append(parts, reqPresent, limPresent,
					fmt.Sprintf("%s.asApproximateFloat() <= %s * %s.asApproximateFloat() * 0.999999", lim, formatFloat(r), req))
			}
			add(types, "("+strings.Join(parts, " && ")+")")
		}
		podLevelCalled = true
	}
	for _, id := range []string{"liveness-probe", "readiness-probe", "startup-probe"} {
		if !cfg.CanBeOn(id) {
			continue
		}
		p := ruleParams(cfg, id)
		types := withoutEphemeral(strList(p["containerTypes"], []string{"containers", "initContainers"}))
		handlers := strList(p["handlers"], []string{"exec", "httpGet", "tcpSocket", "grpc"})
		key := probeKeys[id]
		probe := "c." + key
		var hs []string
		for _, h := range handlers {
			if !regexp.MustCompile(`^[A-Za-z]+$`).MatchString(h) {
				return "", fmt.Errorf("probe handler %q", h)
			}
			hs = append(hs, fmt.Sprintf("(has(%[1]s.%[2]s) && type(%[1]s.%[2]s) == map)", probe, h))
		}
		if len(hs) == 0 {
			hs = []string{"false"}
		}
		has := fmt.Sprintf("(has(%[1]s) && type(%[1]s) == map && (%[2]s))", probe, strings.Join(hs, " || "))
		for _, t := range types {
			switch t {
			case "containers":
				add([]string{t}, has)
			case "initContainers":
				// only native sidecars run long; a restartPolicy that is not a string is called
				add([]string{t}, fmt.Sprintf(`(!has(c.restartPolicy) || (type(c.restartPolicy) == string && (c.restartPolicy != "Always" || %s)))`, has))
			}
		}
	}
	if cfg.CanBeOn("image-tag") {
		p := ruleParams(cfg, "image-tag")
		types := strList(p["containerTypes"], []string{"containers", "initContainers", "ephemeralContainers"})
		tags := strList(p["disallowedTags"], []string{"latest"})
		// podguard's reading of a reference: the digest follows the first "@", the tag the
		// first ":" of the last path segment of the rest.
		digest := `c.image.matches("^[^@]*@(?s:.)")`
		tagged := `c.image.matches("^(?:[^@]*/)?[^/@:]*:[^/@]+$")`
		img := "(" + tagged
		if len(tags) > 0 {
			quoted := make([]string, len(tags))
			for i, t := range tags {
				quoted[i] = regexp.QuoteMeta(t)
			}
			img += fmt.Sprintf(" && !c.image.matches(%s)", celString("^(?:[^@]*/)?[^/@:]*:(?:"+strings.Join(quoted, "|")+")$"))
		}
		img += ")"
		add(types, fmt.Sprintf("(has(c.image) && type(c.image) == string && (%s || %s))", digest, img))
	}
	var labelChecks []func(t string) string
	if cfg.CanBeOn("required-labels") {
		labels, set := ruleParams(cfg, "required-labels")["labels"].([]any)
		if !set {
			labels = []any{map[string]any{"key": "app.kubernetes.io/name"}}
		}
		for _, l := range labels {
			m, _ := l.(map[string]any)
			key, _ := m["key"].(string)
			re, hasRegex := m["allowedRegex"].(string)
			if _, err := regexp.Compile(re); hasRegex && err != nil {
				return "", fmt.Errorf("label %s: allowedRegex %q", key, re)
			}
			labelChecks = append(labelChecks, func(t string) string {
				v := fmt.Sprintf("%s.metadata.labels[%s]", t, celString(key))
				check := fmt.Sprintf("%s && %s in %s.metadata.labels && type(%s) == string", mapAt(t, ".metadata.labels"), celString(key), t, v)
				if hasRegex {
					check += fmt.Sprintf(" && %s.matches(%s)", v, celString(re))
				}
				return "(" + check + ")"
			})
		}
	}
	proven := func(t string) string {
		spec := t + ".spec"
		parts := []string{mapAt(t, ".spec")}
		if podLevelCalled {
			parts = append(parts, "!has("+spec+".resources)")
		}
		for _, typ := range []string{"containers", "initContainers", "ephemeralContainers"} {
			if len(checks[typ]) == 0 {
				continue
			}
			parts = append(parts, listAll(spec, typ, strings.Join(checks[typ], " && ")))
		}
		for _, l := range labelChecks {
			parts = append(parts, l(t))
		}
		return strings.Join(parts, " && ")
	}
	return "!(type(object) == map && (" + kindSwitch(proven) + "))", nil
}

func withoutEphemeral(types []string) []string {
	return slices.DeleteFunc(slices.Clone(types), func(t string) bool { return t == "ephemeralContainers" })
}

func boolMap(m map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func formatFloat(f float64) string {
	s := fmt.Sprintf("%g", f)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0" // a CEL double literal
	}
	return s
}
