package conformance

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// notExpressible lists the in-scope cases podguard's rules cannot state, by case file.
// They are counted and reported, never compared: a verdict forced through a
// configuration that means something else would prove nothing.
var notExpressible = map[string]string{}

func init() {
	add := func(reason string, files ...string) {
		for _, f := range files {
			notExpressible[f] = reason
		}
	}
	add("the object is a Namespace; podguard judges Pods and pod templates only",
		"gatekeeper-library/k8srequiredlabels.all-must-have-owner/example_allowed.yaml",
		"gatekeeper-library/k8srequiredlabels.all-must-have-owner/example_disallowed.yaml",
		"gatekeeper-library/k8srequiredlabels.all-must-have-owner/example_disallowed_label_value.yaml",
	)
	add("kyverno require-probes accepts any one of liveness/readiness/startup per container; "+
		"podguard's probe rules each require their own probe",
		"kyverno-policies/require-probes/chainsaw-bad-pod-notall-badpod02.yaml",
		"kyverno-policies/require-probes/chainsaw-bad-pod-notall-badpod03.yaml",
		"kyverno-policies/require-probes/chainsaw-bad-pod-nothing-badpod01.yaml",
		"kyverno-policies/require-probes/chainsaw-bad-podcontrollers-reqprobes-baddeployment01.yaml",
		"kyverno-policies/require-probes/chainsaw-good-podcontrollers-reqprobes-gooddeployment01.yaml",
		"kyverno-policies/require-probes/chainsaw-good-pods-goodpod01.yaml",
		"kyverno-policies/require-probes/chainsaw-good-pods-goodpod02.yaml",
		"kyverno-policies/require-probes/chainsaw-good-pods-goodpod03.yaml",
		"kyverno-policies/require-probes/cli-badpod01.yaml",
		"kyverno-policies/require-probes/cli-badpod02.yaml",
		"kyverno-policies/require-probes/cli-goodpod01.yaml",
		"kyverno-policies/require-probes/cli-goodpod02.yaml",
		"kyverno-policies/require-probes/cli-goodpod03.yaml",
		"kyverno-policies/require-probes/cli-goodpod04.yaml",
	)
	add("the label value must equal metadata.name; required-labels compares values with a fixed regex only",
		"polaris/metadataAndInstanceMismatched/failure.unspecified.yaml",
		"polaris/metadataAndInstanceMismatched/failure.yaml",
		"polaris/metadataAndInstanceMismatched/success.yaml",
		"polaris/nakedPod/failure.yaml",
		"polaris/nakedPod/success.yaml",
	)
}

// ruleConfig is one rule's entry under rules: in podguard's configuration file.
type ruleConfig = map[string]any

// Scopes that the gatekeeper templates hard-code (params.yaml, semantics_as_exercised):
// their parameters do not carry them.
var (
	allContainerTypes = []string{"containers", "initContainers", "ephemeralContainers"}
	withInit          = []string{"containers", "initContainers"}
	regularOnly       = []string{"containers"}
)

var probeRules = map[string]string{
	"livenessProbe":  "liveness-probe",
	"readinessProbe": "readiness-probe",
	"startupProbe":   "startup-probe",
}

// rulesFor restates a case's source parameters as podguard rules, keyed by rule id.
// Every parameter key must be understood (or explicitly ignored with a reason), so a new
// kind of parameter in the corpus fails loudly instead of being dropped.
func rulesFor(c testCase) (map[string]ruleConfig, error) {
	source, dir, _ := strings.Cut(c.File, "/")
	dir, _, _ = strings.Cut(dir, "/")
	switch source {
	case "gatekeeper-library":
		template, _, _ := strings.Cut(dir, ".")
		return gatekeeperRules(template, c)
	case "kyverno-policies", "polaris":
		return listStyleRules(c)
	}
	return nil, fmt.Errorf("unknown source %q", source)
}

func gatekeeperRules(template string, c testCase) (map[string]ruleConfig, error) {
	p := c.Params
	switch {
	case template == "k8scontainerlimits" && c.Check == "limits",
		template == "k8scontainerrequests" && c.Check == "requests":
		// {cpu: 200m, memory: 1Gi}: each resource must be set and at most that value
		// (a value equal to the max passes, per the samples); "-1" turns the resource off.
		if err := knownKeys(p, "cpu", "memory"); err != nil {
			return nil, err
		}
		resources := []string{}
		maxima := map[string]any{}
		for _, res := range sortedKeys(p) {
			if p[res] == "-1" {
				continue
			}
			resources = append(resources, res)
			maxima[res] = p[res]
		}
		return one(resourceRule(c.Check), ruleConfig{
			"resources": resources, "containerTypes": withInit, "max": maxima,
		}), nil
	case template == "k8srequiredresources" && (c.Check == "limits" || c.Check == "requests"):
		// Presence only; a section the constraint leaves out requires nothing.
		if err := knownKeys(p, "limits", "requests"); err != nil {
			return nil, err
		}
		return one(resourceRule(c.Check), ruleConfig{
			"resources": orEmpty(stringList(p[c.Check])), "containerTypes": withInit,
		}), nil
	case template == "k8srequiredprobes" && c.Check == "probes":
		if err := knownKeys(p, "probes", "probeTypes"); err != nil {
			return nil, err
		}
		return probes(stringList(p["probes"]), stringList(p["probeTypes"]), regularOnly)
	case template == "k8srequiredlabels" && c.Check == "labels":
		// message only changes the denial text.
		if err := knownKeys(p, "labels", "message"); err != nil {
			return nil, err
		}
		var labels []any
		for _, l := range list(p["labels"]) {
			m, _ := l.(map[string]any)
			entry := map[string]any{"key": m["key"]}
			if re, ok := m["allowedRegex"]; ok {
				entry["allowedRegex"] = re
			}
			labels = append(labels, entry)
		}
		return one("required-labels", ruleConfig{"labels": labels}), nil
	case template == "k8sdisallowedtags" && c.Check == "image-tag":
		// Exempt entries are exact images or prefix* globs; both read the same as podguard globs.
		if err := knownKeys(p, "tags", "exemptImages"); err != nil {
			return nil, err
		}
		return one("image-tag", ruleConfig{
			"disallowedTags": orEmpty(stringList(p["tags"])),
			"exemptImages":   orEmpty(stringList(p["exemptImages"])),
			"containerTypes": allContainerTypes,
		}), nil
	}
	return nil, fmt.Errorf("no mapping for gatekeeper template %s with check %s", template, c.Check)
}

// listStyleRules maps kyverno and Polaris parameters, which the corpus restates in one
// shape: lists of required resources, probes or labels, plus the container scope.
func listStyleRules(c testCase) (map[string]ruleConfig, error) {
	p := c.Params
	scope := stringList(p["scope"])
	if len(scope) == 0 && c.Check != "labels" {
		return nil, fmt.Errorf("params have no container scope")
	}
	switch c.Check {
	case "limits", "requests":
		// The combined kyverno policy names both sections; each check reads its own.
		// "initContainers: excluded" restates the scope; the value rules ("any non-empty
		// value", "non-empty string") are what podguard calls set.
		if err := knownKeys(p, "limits", "requests", "scope", "initContainers", "value_rule", "ranges"); err != nil {
			return nil, err
		}
		rule := ruleConfig{"resources": orEmpty(stringList(p[c.Check])), "containerTypes": scope}
		if ranges, ok := p["ranges"].(map[string]any); ok {
			minima, maxima := map[string]any{}, map[string]any{}
			for res, r := range ranges {
				bounds, _ := r.(map[string]any)
				if v, ok := bounds["min"]; ok {
					minima[res] = v
				}
				if v, ok := bounds["max"]; ok {
					maxima[res] = v
				}
			}
			rule["min"], rule["max"] = minima, maxima
		}
		return one(resourceRule(c.Check), rule), nil
	case "probes":
		if err := knownKeys(p, "probes", "scope", "initContainers", "controllers_excluded"); err != nil {
			return nil, err
		}
		// podguard cannot exempt a kind; the cases are Pods, where the exclusion is moot.
		if slices.Contains(stringList(p["controllers_excluded"]), c.objectKind()) {
			return nil, fmt.Errorf("the source skips %s, podguard cannot", c.objectKind())
		}
		return probes(stringList(p["probes"]), nil, scope)
	case "labels":
		if err := knownKeys(p, "required_labels", "value_rule", "target"); err != nil {
			return nil, err
		}
		// Kyverno's "?*" pattern: the value must have at least one character.
		if p["value_rule"] != "any non-empty value" {
			return nil, fmt.Errorf("label value rule %q has no podguard equivalent", p["value_rule"])
		}
		var labels []any
		for _, key := range stringList(p["required_labels"]) {
			labels = append(labels, map[string]any{"key": key, "allowedRegex": "."})
		}
		return one("required-labels", ruleConfig{"labels": labels}), nil
	case "image-tag":
		// require_tag is always on in podguard: an untagged image pulls latest.
		if err := knownKeys(p, "disallowed_tags", "require_tag", "scope"); err != nil {
			return nil, err
		}
		if p["require_tag"] != true {
			return nil, fmt.Errorf("require_tag %v: podguard always requires a tag or digest", p["require_tag"])
		}
		return one("image-tag", ruleConfig{
			"disallowedTags": orEmpty(stringList(p["disallowed_tags"])),
			"exemptImages":   []string{},
			"containerTypes": scope,
		}), nil
	}
	return nil, fmt.Errorf("no mapping for check %s", c.Check)
}

// probes enables one rule per required probe; nil handlers means any handler.
func probes(required, handlers, scope []string) (map[string]ruleConfig, error) {
	if len(required) == 0 {
		return nil, fmt.Errorf("no probes required")
	}
	if handlers == nil {
		handlers = []string{"exec", "httpGet", "tcpSocket", "grpc"}
	}
	rules := map[string]ruleConfig{}
	for _, probe := range required {
		id, ok := probeRules[probe]
		if !ok {
			return nil, fmt.Errorf("unknown probe %q", probe)
		}
		rules[id] = ruleConfig{"handlers": handlers, "containerTypes": scope}
	}
	return rules, nil
}

func resourceRule(check string) string {
	if check == "limits" {
		return "resources-limits"
	}
	return "resources-requests"
}

func one(id string, rule ruleConfig) map[string]ruleConfig {
	return map[string]ruleConfig{id: rule}
}

func knownKeys(params map[string]any, known ...string) error {
	for k := range params {
		if !slices.Contains(known, k) {
			return fmt.Errorf("parameter %q is not mapped to podguard", k)
		}
	}
	return nil
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// stringList reads a JSON list of strings; anything else reads as nil.
func stringList(v any) []string {
	var out []string
	for _, x := range list(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// orEmpty keeps an absent list from reading as "use podguard's default list".
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
