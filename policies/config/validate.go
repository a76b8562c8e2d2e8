package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	qty "github.com/podguard/podguard/policies/quantity"
)

// check validates one value found at path (a dotted key path such as
// rules.resources-limits.max.memory); errors start with that path.
type check func(path string, v any) error

// param is one parameter of a built-in rule: how its value is checked, and what the
// parameter reference in policies/README.md says about it (generated from here, so the
// reference and the validation cannot drift apart).
type param struct {
	check check
	value string // how the value is written
	doc   string // what it does
}

var (
	enforcementCheck = func(p string, v any) error { _, err := enforcement(p, v); return err }

	// common are the parameters every rule has, custom ones too.
	common = map[string]param{
		"enforcement": {enforcementCheck, "`deny`, `warn`, `audit` or `off`",
			"what happens to the rule's violations: `deny` refuses the request, `warn` admits it with a warning, `audit` admits it and only logs and counts, `off` does not run the rule. A custom rule the configuration does not name denies."},
		"enforceAfter": {rfc3339, "RFC 3339 time, e.g. `\"2027-03-01T00:00:00Z\"`",
			"the rule denies from this time on; until then it has its `enforcement` (`warn` or `audit`), or warns when that is `deny`. Not with `off`. A namespace override that matches wins."},
	}
	containerTypesParam = param{listOf(oneOf("containers", "initContainers", "ephemeralContainers")),
		"list of `containers`, `initContainers`, `ephemeralContainers`", "the container lists that are checked."}
	resourceParams = map[string]param{
		"resources": {listOf(nonEmptyString), "list of resource names",
			"the resources every checked container must set (`cpu`, `memory`, `ephemeral-storage`, extended resources such as `nvidia.com/gpu`). Ephemeral containers cannot have resources and are never checked."},
		"containerTypes": containerTypesParam,
		"min": {mapOf(quantity), "map of resource name to quantity",
			"the smallest value allowed, per resource; a value equal to the minimum passes. Checked only where the value is set."},
		"max": {mapOf(quantity), "map of resource name to quantity",
			"the largest value allowed, per resource; a value equal to the maximum passes. Checked only where the value is set."},
		"podLevel": {oneOf("counts", "ignored"), "`counts` or `ignored`",
			"what a pod-level value (`spec.resources`, which the Pod's containers share) does for a resource: with `counts` it stands for the values of the containers that set none, as it does for the scheduler and the kubelet; with `ignored` every container must set its own. Pod-level values are held to `min` and `max` too."},
	}
	probeParams = map[string]param{
		"containerTypes": {containerTypesParam.check, containerTypesParam.value,
			"the container lists that are checked; only long-running containers can have probes (containers, and init containers with `restartPolicy: Always`), so the others are never checked."},
		"handlers": {listOf(handler), "list of `exec`, `httpGet`, `tcpSocket`, `grpc`",
			"the probe handlers that count; a probe using another one counts as missing."},
	}
	// ruleParams are the parameters each built-in rule accepts besides the common ones.
	ruleParams = map[string]map[string]param{
		"resources-requests": resourceParams,
		"resources-limits": with(resourceParams, "maxLimitRequestRatio", param{mapOf(ratio), "map of resource name to a number of at least 1",
			"how many times its request a limit may be at most, per resource (as a LimitRange's `maxLimitRequestRatio`); checked where both are set."}),
		"liveness-probe":  probeParams,
		"readiness-probe": probeParams,
		"startup-probe":   probeParams,
		"required-labels": {"labels": {listOf(label), "list of `{key, allowedRegex, value}`",
			"the label keys the Pod (or the workload's pod template) must carry; with `allowedRegex` (RE2, unanchored unless you anchor it), the value must match it; with `value`, `podguard eval --fix` writes the label with that value where it is missing."}},
		"image-tag": {
			"disallowedTags": {listOf(nonEmptyString), "list of tags",
				"tags an image must not use. An image without tag or digest is always refused (the runtime pulls `latest`); an image pinned by digest always passes."},
			"exemptImages": {listOf(globPattern), "list of globs",
				"images that pass whatever their tag; `*` matches any characters, `/` `:` and `.` included (`registry.k8s.io/pause:*`, `busybox:*`)."},
			"containerTypes": containerTypesParam,
		},
	}
	defaultsParams = map[string]check{
		"resources": fields(map[string]check{"requests": mapOf(quantity), "limits": mapOf(quantity)}),
	}
)

func validate(m map[string]any, customRules []CustomRule) (*Config, error) {
	known := slices.Clone(BuiltinRules)
	declared := map[string]map[string]param{}
	for _, r := range customRules {
		known = append(known, r.ID)
		if r.Parameters != nil {
			declared[r.ID] = map[string]param{}
			for name, c := range r.Parameters {
				declared[r.ID][name] = param{check: c}
			}
		}
	}
	for _, k := range sortedKeys(m) {
		if k != "rules" && k != "defaults" && k != "namespaces" && k != "exceptions" {
			return nil, fmt.Errorf("%s: unknown key (expected rules, defaults, namespaces or exceptions)", k)
		}
	}
	cfg := &Config{Rules: map[string]Enforcement{}, Data: m}
	rules, err := mapping("rules", m["rules"])
	if err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(rules) {
		p := "rules." + id
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("%s: unknown rule (known: %s)", p, strings.Join(known, ", "))
		}
		params, err := mapping(p, rules[id])
		if err != nil {
			return nil, err
		}
		allowed, builtin := ruleParams[id]
		if d, ok := declared[id]; ok {
			allowed, builtin = d, true
		}
		for _, k := range sortedKeys(params) {
			c, ok := common[k]
			if !ok {
				c, ok = allowed[k]
			}
			switch {
			case ok:
				if err := c.check(p+"."+k, params[k]); err != nil {
					return nil, err
				}
			case builtin:
				names := append(sortedKeys(common), sortedKeys(allowed)...)
				slices.Sort(names)
				return nil, fmt.Errorf("%s.%s: unknown parameter (%s takes %s)", p, k, id, strings.Join(names, ", "))
			}
			// A custom rule's own parameters are its business; they reach its Rego as is.
		}
		e, err := enforcement(p+".enforcement", params["enforcement"])
		if err != nil {
			return nil, err
		}
		if _, timed := params["enforceAfter"]; timed && e == Off {
			// enforceAfter switches a rule to deny at a time; until then it has its
			// enforcement. Off would deny one day without a warning before.
			return nil, fmt.Errorf(`%s.enforceAfter: the rule is off, so nothing would warn before it starts denying; set enforcement to warn (or audit) to be warned until then`, p)
		}
		cfg.Rules[id] = e
	}
	if err := fields(defaultsParams)("defaults", m["defaults"]); err != nil {
		return nil, err
	}
	nsParams := map[string]check{
		"exempt":    listOf(globPattern),
		"overrides": listOf(func(p string, v any) error { return override(p, v, known) }),
	}
	if err := fields(nsParams)("namespaces", m["namespaces"]); err != nil {
		return nil, err
	}
	ns, _ := m["namespaces"].(map[string]any)
	overrides, _ := ns["overrides"].([]any)
	for _, o := range overrides {
		o := o.(map[string]any) // checked above
		if o["enforcement"] == string(Off) {
			continue
		}
		rules, _ := o["rules"].([]any)
		for _, r := range rules {
			cfg.switchedOn = append(cfg.switchedOn, r.(string))
		}
	}
	if cfg.Exceptions, err = exceptions(m["exceptions"], known); err != nil {
		return nil, err
	}
	exempt, _ := ns["exempt"].([]any)
	for _, p := range exempt {
		s := p.(string) // checked above
		cfg.Exempt = append(cfg.Exempt, s)
		cfg.exempt = append(cfg.exempt, glob.MustCompile(s))
	}
	// Rego sees plain JSON values: json.Number would reach it as a string.
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(js, &cfg.Data); err != nil {
		return nil, err
	}
	if err := checkDefaults(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func override(p string, v any, known []string) error {
	o, err := mapping(p, v)
	if err != nil {
		return err
	}
	checks := map[string]check{
		"names":             listOf(globPattern),
		"namespaceSelector": labelSelector,
		"enforcement":       enforcementCheck,
		"rules": listOf(func(p string, v any) error {
			if s, _ := v.(string); !slices.Contains(known, s) {
				return fmt.Errorf("%s: unknown rule %s", p, show(v))
			}
			return nil
		}),
	}
	if err := fields(checks)(p, o); err != nil {
		return err
	}
	names, hasNames := o["names"].([]any)
	_, hasSelector := o["namespaceSelector"]
	if (hasNames || !hasSelector) && len(names) == 0 {
		return fmt.Errorf("%s.names: at least one namespace name or glob is required (or a namespaceSelector)", p)
	}
	if o["enforcement"] == nil {
		return fmt.Errorf("%s.enforcement: required (deny, warn, audit or off)", p)
	}
	return nil
}

// labelSelector accepts a Kubernetes label selector (matchLabels, matchExpressions).
func labelSelector(p string, v any) error {
	m, err := mapping(p, v)
	if err != nil {
		return err
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var sel metav1.LabelSelector
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		return fmt.Errorf("%s: not a label selector (matchLabels, matchExpressions): %s", p, strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := metav1.LabelSelectorAsSelector(&sel); err != nil {
		return fmt.Errorf("%s: %v", p, err)
	}
	return nil
}

// fields checks a mapping whose keys are all known.
func fields(checks map[string]check) check {
	return func(p string, v any) error {
		m, err := mapping(p, v)
		if err != nil {
			return err
		}
		for _, k := range sortedKeys(m) {
			c, ok := checks[k]
			if !ok {
				return fmt.Errorf("%s.%s: unknown key (expected %s)", p, k, strings.Join(sortedKeys(checks), ", "))
			}
			if err := c(p+"."+k, m[k]); err != nil {
				return err
			}
		}
		return nil
	}
}

func with(base map[string]param, key string, p param) map[string]param {
	out := map[string]param{key: p}
	for k, v := range base {
		out[k] = v
	}
	return out
}

// mapping accepts a mapping or nothing (an absent section).
func mapping(p string, v any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: must be a mapping, not %s", p, show(v))
	}
	return m, nil
}

func listOf(item check) check {
	return func(p string, v any) error {
		if v == nil {
			return nil
		}
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: must be a list, not %s", p, show(v))
		}
		for i, x := range l {
			if err := item(fmt.Sprintf("%s[%d]", p, i), x); err != nil {
				return err
			}
		}
		return nil
	}
}

func mapOf(value check) check {
	return func(p string, v any) error {
		m, err := mapping(p, v)
		if err != nil {
			return err
		}
		for _, k := range sortedKeys(m) {
			if err := value(p+"."+k, m[k]); err != nil {
				return err
			}
		}
		return nil
	}
}

func nonEmptyString(p string, v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s: must be a string, not %s", p, show(v))
	}
	if s == "" {
		return fmt.Errorf("%s: must not be empty", p)
	}
	return nil
}

func oneOf(values ...string) check {
	return func(p string, v any) error {
		if s, ok := v.(string); !ok || !slices.Contains(values, s) {
			return fmt.Errorf("%s: %s is not one of %s", p, show(v), strings.Join(values, ", "))
		}
		return nil
	}
}

func handler(p string, v any) error {
	if s, ok := v.(string); !ok || !slices.Contains([]string{"exec", "httpGet", "tcpSocket", "grpc"}, s) {
		return fmt.Errorf("%s: %s is not a probe handler (exec, httpGet, tcpSocket, grpc)", p, show(v))
	}
	return nil
}

func enforcement(p string, v any) (Enforcement, error) {
	switch s := v.(type) {
	case nil:
		return Deny, nil
	case string:
		switch e := Enforcement(s); e {
		case Deny, Warn, Audit, Off:
			return e, nil
		}
	case bool:
		if !s {
			// YAML 1.1 reads a bare off (and no, false) as the boolean false.
			return "", fmt.Errorf(`%s: false is not one of deny, warn, audit, off (write "off" in quotes)`, p)
		}
	}
	return "", fmt.Errorf("%s: %s is not one of deny, warn, audit, off", p, show(v))
}

// latestRegoTime is where Rego's int64 nanosecond clock ends (April 2262).
var latestRegoTime = time.Unix(0, math.MaxInt64)

func rfc3339(p string, v any) error {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%s: %s is not an RFC 3339 time such as 2027-03-01T00:00:00Z", p, show(v))
	}
	if t.After(latestRegoTime) || t.Before(time.Unix(0, 0)) {
		return fmt.Errorf("%s: %s is outside 1970 to 2262", p, show(v))
	}
	return nil
}

func label(p string, v any) error {
	m, err := mapping(p, v)
	if err != nil {
		return err
	}
	err = fields(map[string]check{
		"key": nonEmptyString,
		"allowedRegex": func(p string, v any) error {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%s: must be a string, not %s", p, show(v))
			}
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("%s: %v", p, err)
			}
			return nil
		},
		"value": func(string, any) error { return nil }, // checked below, with allowedRegex
	})(p, m)
	if err != nil {
		return err
	}
	if _, ok := m["key"]; !ok {
		return fmt.Errorf("%s.key: must not be empty", p)
	}
	if v, set := m["value"]; set {
		value, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s.value: must be a string, not %s", p, show(v))
		}
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return fmt.Errorf("%s.value: %q is not a label value: %s", p, value, strings.Join(errs, "; "))
		}
		if pattern, _ := m["allowedRegex"].(string); !regexp.MustCompile(pattern).MatchString(value) {
			return fmt.Errorf("%s.value: %q does not match its allowedRegex %s", p, value, pattern)
		}
	}
	return nil
}

// quantity accepts what a Pod may carry: a Kubernetes quantity string or a bare number.
func quantity(p string, v any) error {
	var s string
	switch q := v.(type) {
	case json.Number:
		s = q.String()
	case string:
		s = q
	default:
		return fmt.Errorf("%s: %s is not a quantity such as 500m or 256Mi", p, show(v))
	}
	if _, err := qty.Read(s); err != nil {
		if errors.Is(err, qty.ErrRange) {
			return fmt.Errorf("%s: %s %v", p, show(v), err)
		}
		return fmt.Errorf("%s: %s is not a quantity such as 500m or 256Mi", p, show(v))
	}
	return nil
}

// checkDefaults refuses defaults that the configuration's own resource rules would refuse:
// a default below the rule's min or above its max, or a default limit more than
// maxLimitRequestRatio times the default request. podguard would add them to every Pod
// that lacks the value, and then deny that Pod for what it added.
func checkDefaults(cfg *Config) error {
	rules, _ := cfg.Data["rules"].(map[string]any)
	defaults, _ := cfg.Data["defaults"].(map[string]any)
	resources, _ := defaults["resources"].(map[string]any)
	value := func(m map[string]any, key string) (*big.Rat, bool) {
		q, err := readQuantity(m[key])
		if err != nil || q == nil {
			return nil, false
		}
		return q, true
	}
	for _, section := range []string{"requests", "limits"} {
		id := "resources-" + section
		if e, _ := cfg.Enforcement(id); e == Off && !slices.Contains(cfg.switchedOn, id) {
			continue
		}
		rule, _ := rules[id].(map[string]any)
		values, _ := resources[section].(map[string]any)
		for _, name := range sortedKeys(values) {
			d, ok := value(values, name)
			if !ok {
				continue
			}
			key := fmt.Sprintf("defaults.resources.%s.%s", section, name)
			minimum, _ := rule["min"].(map[string]any)
			if m, ok := value(minimum, name); ok && d.Cmp(m) < 0 {
				return fmt.Errorf("%s: %s is below rules.%s.min.%s %s: podguard would add it and then deny the Pod for it", key, show(values[name]), id, name, show(minimum[name]))
			}
			maximum, _ := rule["max"].(map[string]any)
			if m, ok := value(maximum, name); ok && d.Cmp(m) > 0 {
				return fmt.Errorf("%s: %s is above rules.%s.max.%s %s: podguard would add it and then deny the Pod for it", key, show(values[name]), id, name, show(maximum[name]))
			}
		}
	}
	limits, _ := rules["resources-limits"].(map[string]any)
	ratios, _ := limits["maxLimitRequestRatio"].(map[string]any)
	requests, _ := resources["requests"].(map[string]any)
	limitValues, _ := resources["limits"].(map[string]any)
	if e, _ := cfg.Enforcement("resources-limits"); e == Off && !slices.Contains(cfg.switchedOn, "resources-limits") {
		return nil
	}
	for _, name := range sortedKeys(ratios) {
		ratio, okRatio := value(ratios, name)
		limit, okLimit := value(limitValues, name)
		request, okRequest := value(requests, name)
		if !okRatio || !okLimit || !okRequest {
			continue
		}
		if limit.Cmp(new(big.Rat).Mul(ratio, request)) > 0 {
			return fmt.Errorf("defaults.resources.limits.%s: %s is more than rules.resources-limits.maxLimitRequestRatio.%s (%s) times defaults.resources.requests.%s %s: podguard would add both and then deny the Pod for them",
				name, show(limitValues[name]), name, show(ratios[name]), name, show(requests[name]))
		}
	}
	return nil
}

// readQuantity is the exact value of a quantity of the configuration (a string or a
// number), nil when there is none.
func readQuantity(v any) (*big.Rat, error) {
	var s string
	switch q := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = q
	case json.Number:
		s = q.String()
	case float64:
		s = strconv.FormatFloat(q, 'f', -1, 64)
	default:
		return nil, fmt.Errorf("%v is not a quantity", v)
	}
	q, err := qty.Read(s)
	if err != nil {
		return nil, err
	}
	r, ok := new(big.Rat).SetString(q.Decimal())
	if !ok {
		return nil, fmt.Errorf("%s is not a quantity", s)
	}
	return r, nil
}

var decimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func ratio(p string, v any) error {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = n.String()
	case string:
		s = n
	}
	// Plain decimals only: ParseFloat would also take NaN, Inf and hex floats, which
	// Rego's to_number does not.
	f, err := strconv.ParseFloat(s, 64)
	if !decimal.MatchString(s) || err != nil || f < 1 {
		return fmt.Errorf("%s: %v is not a number of at least 1", p, v)
	}
	return nil
}

// globPattern accepts the patterns Rego's glob.match and Exempted understand: * matches
// any characters, [a-z] and {a,b} as usual.
func globPattern(p string, v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s: must be a string, not %s", p, show(v))
	}
	if _, err := glob.Compile(s); err != nil {
		return fmt.Errorf("%s: %q is not a valid glob pattern", p, s)
	}
	return nil
}

// show renders a value from the file the way the user wrote it.
func show(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
