package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
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
	// Rules maps every configured rule id to its enforcement.
	Rules map[string]Enforcement
}

// file is the typed view used only to validate the merged configuration.
type file struct {
	Rules      map[string]json.RawMessage `json:"rules"`
	Defaults   defaults                   `json:"defaults"`
	Namespaces namespaces                 `json:"namespaces"`
}

type defaults struct {
	Resources struct {
		Requests map[string]any `json:"requests"`
		Limits   map[string]any `json:"limits"`
	} `json:"resources"`
}

type namespaces struct {
	Exempt    []string   `json:"exempt"`
	Overrides []override `json:"overrides"`
}

type override struct {
	Names       []string    `json:"names"`
	Enforcement Enforcement `json:"enforcement"`
	Rules       []string    `json:"rules"`
}

// common holds the parameters every rule accepts, built-in or custom.
type common struct {
	Enforcement  Enforcement `json:"enforcement"`
	EnforceAfter string      `json:"enforceAfter"`
}

type resourcesRule struct {
	common
	Resources            []string       `json:"resources"`
	ContainerTypes       []string       `json:"containerTypes"`
	Min                  map[string]any `json:"min"`
	Max                  map[string]any `json:"max"`
	MaxLimitRequestRatio map[string]any `json:"maxLimitRequestRatio"`
}

type requestsRule struct {
	common
	Resources      []string       `json:"resources"`
	ContainerTypes []string       `json:"containerTypes"`
	Min            map[string]any `json:"min"`
	Max            map[string]any `json:"max"`
}

type probeRule struct {
	common
	ContainerTypes []string `json:"containerTypes"`
	Handlers       []string `json:"handlers"`
}

type labelsRule struct {
	common
	Labels []struct {
		Key          string `json:"key"`
		AllowedRegex string `json:"allowedRegex"`
	} `json:"labels"`
}

type imageTagRule struct {
	common
	DisallowedTags []string `json:"disallowedTags"`
	ExemptImages   []string `json:"exemptImages"`
	ContainerTypes []string `json:"containerTypes"`
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

func validate(m map[string]any, customRules []string) (*Config, error) {
	for k := range m {
		if k != "rules" && k != "defaults" && k != "namespaces" {
			return nil, fmt.Errorf("%s: unknown key (expected rules, defaults or namespaces)", k)
		}
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var f file
	if err := strictJSON(js, &f); err != nil {
		return nil, err
	}
	cfg := &Config{Rules: map[string]Enforcement{}, Exempt: f.Namespaces.Exempt}
	known := append(slices.Clone(BuiltinRules), customRules...)
	ids := make([]string, 0, len(f.Rules))
	for id := range f.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("rules.%s: unknown rule (known: %s)", id, strings.Join(known, ", "))
		}
		e, err := validateRule(id, f.Rules[id])
		if err != nil {
			return nil, fmt.Errorf("rules.%s.%w", id, err)
		}
		cfg.Rules[id] = e
	}
	if err := validateDefaults(f.Defaults); err != nil {
		return nil, fmt.Errorf("defaults.resources.%w", err)
	}
	for i, p := range f.Namespaces.Exempt {
		if err := checkGlob(p); err != nil {
			return nil, fmt.Errorf("namespaces.exempt[%d]: %w", i, err)
		}
	}
	for i, o := range f.Namespaces.Overrides {
		if err := validateOverride(o, known); err != nil {
			return nil, fmt.Errorf("namespaces.overrides[%d].%w", i, err)
		}
	}
	// Rego sees plain JSON values; json.Number would reach it as a string otherwise.
	var data map[string]any
	if err := json.Unmarshal(js, &data); err != nil {
		return nil, err
	}
	cfg.Data = data
	return cfg, nil
}

func strictJSON(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func validateRule(id string, raw json.RawMessage) (Enforcement, error) {
	var c common
	// Custom rules may carry parameters of their own; only the common ones are checked.
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%v", err)
	}
	if err := checkEnforcement(c.Enforcement); err != nil {
		return "", fmt.Errorf("enforcement: %w", err)
	}
	if c.EnforceAfter != "" {
		if _, err := time.Parse(time.RFC3339, c.EnforceAfter); err != nil {
			return "", fmt.Errorf("enforceAfter: %q is not an RFC 3339 time such as 2027-03-01T00:00:00Z", c.EnforceAfter)
		}
	}
	e := c.Enforcement
	if e == "" {
		e = Deny
	}
	switch id {
	case "resources-limits":
		var r resourcesRule
		if err := strictJSON(raw, &r); err != nil {
			return "", wrapField(err)
		}
		if err := checkResources(r.Resources, r.ContainerTypes, r.Min, r.Max); err != nil {
			return "", err
		}
		for res, v := range r.MaxLimitRequestRatio {
			f, ok := number(v)
			if !ok || f < 1 {
				return "", fmt.Errorf("maxLimitRequestRatio.%s: %v is not a number of at least 1", res, v)
			}
		}
	case "resources-requests":
		var r requestsRule
		if err := strictJSON(raw, &r); err != nil {
			return "", wrapField(err)
		}
		if err := checkResources(r.Resources, r.ContainerTypes, r.Min, r.Max); err != nil {
			return "", err
		}
	case "liveness-probe", "readiness-probe", "startup-probe":
		var r probeRule
		if err := strictJSON(raw, &r); err != nil {
			return "", wrapField(err)
		}
		if err := checkContainerTypes(r.ContainerTypes); err != nil {
			return "", err
		}
		for i, h := range r.Handlers {
			if !slices.Contains([]string{"exec", "httpGet", "tcpSocket", "grpc"}, h) {
				return "", fmt.Errorf("handlers[%d]: %q is not a probe handler (exec, httpGet, tcpSocket, grpc)", i, h)
			}
		}
	case "required-labels":
		var r labelsRule
		if err := strictJSON(raw, &r); err != nil {
			return "", wrapField(err)
		}
		for i, l := range r.Labels {
			if l.Key == "" {
				return "", fmt.Errorf("labels[%d].key: must not be empty", i)
			}
			if l.AllowedRegex != "" {
				if _, err := regexp.Compile(l.AllowedRegex); err != nil {
					return "", fmt.Errorf("labels[%d].allowedRegex: %v", i, err)
				}
			}
		}
	case "image-tag":
		var r imageTagRule
		if err := strictJSON(raw, &r); err != nil {
			return "", wrapField(err)
		}
		if err := checkContainerTypes(r.ContainerTypes); err != nil {
			return "", err
		}
		for i, p := range r.ExemptImages {
			if err := checkGlob(p); err != nil {
				return "", fmt.Errorf("exemptImages[%d]: %w", i, err)
			}
		}
	}
	return e, nil
}

// wrapField turns a strict-decoding error into "<field>: reason" form.
func wrapField(err error) error {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return fmt.Errorf("%s: unknown parameter", strings.Trim(f, `"`))
	}
	return errors.New(msg)
}

func checkEnforcement(e Enforcement) error {
	switch e {
	case "", Deny, Warn, Audit, Off:
		return nil
	}
	return fmt.Errorf("%q is not one of deny, warn, audit, off", e)
}

func checkResources(names, types []string, min, max map[string]any) error {
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("resources[%d]: must not be empty", i)
		}
	}
	if err := checkContainerTypes(types); err != nil {
		return err
	}
	for _, b := range []struct {
		name string
		m    map[string]any
	}{{"min", min}, {"max", max}} {
		for res, v := range b.m {
			if err := checkQuantity(v); err != nil {
				return fmt.Errorf("%s.%s: %w", b.name, res, err)
			}
		}
	}
	return nil
}

func checkContainerTypes(types []string) error {
	for i, t := range types {
		if !slices.Contains([]string{"containers", "initContainers", "ephemeralContainers"}, t) {
			return fmt.Errorf("containerTypes[%d]: %q is not one of containers, initContainers, ephemeralContainers", i, t)
		}
	}
	return nil
}

func validateDefaults(d defaults) error {
	for _, b := range []struct {
		name string
		m    map[string]any
	}{{"requests", d.Resources.Requests}, {"limits", d.Resources.Limits}} {
		for res, v := range b.m {
			if err := checkQuantity(v); err != nil {
				return fmt.Errorf("%s.%s: %w", b.name, res, err)
			}
		}
	}
	return nil
}

func validateOverride(o override, known []string) error {
	if len(o.Names) == 0 {
		return errors.New("names: at least one namespace name or glob is required")
	}
	for i, p := range o.Names {
		if err := checkGlob(p); err != nil {
			return fmt.Errorf("names[%d]: %w", i, err)
		}
	}
	if o.Enforcement == "" {
		return errors.New("enforcement: required (deny, warn, audit or off)")
	}
	if err := checkEnforcement(o.Enforcement); err != nil {
		return fmt.Errorf("enforcement: %w", err)
	}
	for i, r := range o.Rules {
		if !slices.Contains(known, r) {
			return fmt.Errorf("rules[%d]: unknown rule %q", i, r)
		}
	}
	return nil
}

// checkQuantity accepts what a Pod may carry: a Kubernetes quantity string or a bare number.
func checkQuantity(v any) error {
	switch q := v.(type) {
	case json.Number:
		if _, err := resource.ParseQuantity(q.String()); err != nil {
			return fmt.Errorf("%s is not a quantity", q)
		}
		return nil
	case string:
		if _, err := resource.ParseQuantity(q); err != nil {
			return fmt.Errorf("%q is not a quantity such as 500m or 256Mi", q)
		}
		return nil
	}
	return fmt.Errorf("%v is not a quantity such as 500m or 256Mi", v)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		var f float64
		_, err := fmt.Sscanf(n, "%g", &f)
		return f, err == nil
	}
	return 0, false
}

func checkGlob(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob pattern", p)
	}
	return nil
}

// Exempted reports whether a namespace is exempt and, if so, the pattern that matched.
func (c *Config) Exempted(namespace string) (string, bool) {
	for _, p := range c.Exempt {
		if ok, _ := path.Match(p, namespace); ok {
			return p, true
		}
	}
	return "", false
}
