package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
		merged = merge(merged, over)
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

// Exempted reports whether a namespace is exempt and, if so, the pattern that matched.
func (c *Config) Exempted(namespace string) (string, bool) {
	for i, g := range c.exempt {
		if g.Match(namespace) {
			return c.Exempt[i], true
		}
	}
	return "", false
}
