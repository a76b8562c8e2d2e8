package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gobwas/glob"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies"
)

// Enforcement says what happens to a rule's violations.
type Enforcement string

const (
	Deny  Enforcement = "deny"  // the request is refused
	Warn  Enforcement = "warn"  // allowed, with an admission warning
	Audit Enforcement = "audit" // allowed, only logged and counted
	Off   Enforcement = "off"   // the rule does not run
)

// Config is the effective configuration: the user's file merged over the defaults.
// Data is what the Rego sees as data.pod.config; the typed fields are the parts the Go
// side acts on itself.
type Config struct {
	// Data is the merged configuration as plain JSON values, handed to Rego unchanged so
	// custom rules can read parameters of their own.
	Data map[string]any
	// Exempt lists namespace glob patterns that are never evaluated.
	Exempt []string
	exempt []*glob.Pattern
	// Rules maps every configured rule id to its enforcement.
	Rules map[string]Enforcement
	// Exceptions are the objects that may break named rules (the exceptions section).
	Exceptions []Exception
	// switchedOn lists the rules a namespace override names with an enforcement other
	// than off: they apply there even when they are off elsewhere.
	switchedOn []string
}

// BuiltinRules are the rule ids podguard ships; their parameters are checked strictly.
var BuiltinRules = []string{
	"resources-requests", "resources-limits", "liveness-probe", "readiness-probe",
	"startup-probe", "required-labels", "image-tag",
}

// Default returns the configuration embedded with the policies.
func Default() (*Config, error) {
	return Parse(nil, nil)
}

// Parse merges a user configuration (YAML or JSON, may be empty) over the embedded
// defaults and validates the result. customRules names rule ids found in the policy set
// besides the built-in ones; any other rule id is refused.
func Parse(user []byte, customRules []string) (*Config, error) {
	rules := make([]CustomRule, len(customRules))
	for i, id := range customRules {
		rules[i] = CustomRule{ID: id}
	}
	return ParseCustom(user, rules)
}

// CustomRule is a rule of the policy set besides the built-in ones. Parameters, when
// the rule declares them (METADATA custom.parameters), check each parameter's value;
// then any other parameter is refused, as for the built-in rules.
type CustomRule struct {
	ID         string
	Parameters map[string]func(path string, v any) error
}

// ParseCustom is Parse with the custom rules' declared parameters checked too.
func ParseCustom(user []byte, customRules []CustomRule) (*Config, error) {
	base, err := policies.FS.ReadFile(policies.DefaultConfigPath)
	if err != nil {
		return nil, fmt.Errorf("reading embedded defaults: %w", err)
	}
	merged, err := toMap(base)
	if err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	if len(bytes.TrimSpace(user)) > 0 {
		over, err := toMap(user)
		if err != nil {
			return nil, err
		}
		if err := checkNulls(over); err != nil {
			return nil, err
		}
		defaults := merged
		merged = merge(merged, over)
		restoreRuleDefaults(merged, defaults)
	}
	return validate(merged, customRules)
}

func toMap(doc []byte) (map[string]any, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("must be a mapping with rules, defaults and namespaces: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// checkNulls refuses the nulls that would silently change a rule's enforcement: removing
// a built-in rule's settings (or all of them) or its enforcement would leave the rule with
// the fallback for unknown rules, deny, even where its default is off.
func checkNulls(user map[string]any) error {
	rules, present := user["rules"]
	if present && rules == nil {
		return errors.New(`rules: null would remove every rule's settings; set a rule's enforcement to "off" to disable it`)
	}
	m, _ := rules.(map[string]any)
	for _, id := range sortedKeys(m) {
		if m[id] == nil && slices.Contains(BuiltinRules, id) {
			return fmt.Errorf(`rules.%s: null would remove a built-in rule's settings; set enforcement: "off" to disable it`, id)
		}
		if r, ok := m[id].(map[string]any); ok {
			if e, set := r["enforcement"]; set && e == nil {
				return fmt.Errorf("rules.%s.enforcement: null is not one of deny, warn, audit, off", id)
			}
		}
	}
	return nil
}

// restoreRuleDefaults puts back the default of every built-in rule parameter that a null
// removed: the rules read such a parameter with its default anyway, and the engine lists
// what the resource rules require from the configuration, which must say the same.
func restoreRuleDefaults(merged, defaults map[string]any) {
	rules, _ := merged["rules"].(map[string]any)
	base, _ := defaults["rules"].(map[string]any)
	for _, id := range BuiltinRules {
		params, _ := rules[id].(map[string]any)
		defaultParams, _ := base[id].(map[string]any)
		if params == nil || defaultParams == nil {
			continue
		}
		for k, v := range defaultParams {
			if _, ok := params[k]; !ok {
				params[k] = v
			}
		}
	}
}

// merge lays over onto base: maps merge key by key, anything else replaces, and an
// explicit null removes the key (how a user drops a default such as a cpu limit).
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = merge(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// CanBeOn reports whether a rule can be enforced in some namespace: its enforcement is not
// off, or a namespace override names it. A rule the configuration does not name denies.
func (c *Config) CanBeOn(rule string) bool {
	if e, ok := c.Rules[rule]; !ok || e != Off {
		return true
	}
	return slices.Contains(c.switchedOn, rule)
}

// Enforcement is a rule's configured enforcement (deny for a rule the configuration does
// not name), and whether it is the rule's enforcement in every namespace at all times: no
// namespace override and no enforceAfter can change it.
func (c *Config) Enforcement(rule string) (e Enforcement, static bool) {
	e, ok := c.Rules[rule]
	if !ok {
		e = Deny
	}
	rules, _ := c.Data["rules"].(map[string]any)
	params, _ := rules[rule].(map[string]any)
	_, timed := params["enforceAfter"]
	ns, _ := c.Data["namespaces"].(map[string]any)
	overrides, _ := ns["overrides"].([]any)
	return e, !timed && len(overrides) == 0
}

// PodLevelCounts reports whether a pod-level value stands for the containers' own in a
// resource rule (its podLevel setting: counts, the default, or ignored).
func (c *Config) PodLevelCounts(rule string) bool {
	rules, _ := c.Data["rules"].(map[string]any)
	params, _ := rules[rule].(map[string]any)
	v, set := params["podLevel"]
	return !set || v == "counts"
}

// ResourceNames lists, sorted, the resources the configuration names: in the resources,
// min, max and maxLimitRequestRatio of the resource rules, and in the defaults.
func (c *Config) ResourceNames() []string {
	names := map[string]bool{}
	rules, _ := c.Data["rules"].(map[string]any)
	for _, id := range []string{"resources-requests", "resources-limits"} {
		rule, _ := rules[id].(map[string]any)
		list, set := rule["resources"].([]any)
		if !set {
			list = []any{"cpu", "memory"} // what the rules require without the setting
		}
		for _, name := range list {
			if s, ok := name.(string); ok {
				names[s] = true
			}
		}
		for _, key := range []string{"min", "max", "maxLimitRequestRatio"} {
			m, _ := rule[key].(map[string]any)
			for name := range m {
				names[name] = true
			}
		}
	}
	defaults, _ := c.Data["defaults"].(map[string]any)
	resources, _ := defaults["resources"].(map[string]any)
	for _, section := range resources {
		m, _ := section.(map[string]any)
		for name := range m {
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// Exempted reports whether a namespace is exempt and, if so, the pattern that matched.
func (c *Config) Exempted(namespace string) (string, bool) {
	for i, g := range c.exempt {
		if g.Match(namespace) {
			return c.Exempt[i], true
		}
	}
	return "", false
}
