package config_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/podguard/podguard/policies/config"
)

// FuzzParse feeds the configuration parser arbitrary files. It refuses a file with a
// message, or gives a configuration that is complete (every built-in rule has a known
// enforcement), deterministic, and whose own data is a valid configuration file too.
// (Parsing that data does not give the same configuration back in general: a null in the
// file removes a default, which parsing the result over the defaults brings back.)
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "rules: {}", "{}", "null", "rules: {liveness-probe: {enforcement: warn, enforceAfter: \"2027-03-01T00:00:00Z\"}}",
		"rules:\n  resources-limits: {enforcement: deny, resources: [cpu, memory], max: {memory: 8Gi}, maxLimitRequestRatio: {cpu: 4}}\n",
		"rules:\n  required-labels: {labels: [{key: app.kubernetes.io/name}, {key: team, allowedRegex: \"^[a-z-]+$\"}]}\n",
		"rules:\n  image-tag: {disallowedTags: [latest], exemptImages: [\"registry.k8s.io/pause:*\"]}\n",
		"defaults: {resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: null}}}\n",
		"namespaces: {exempt: [kube-system], overrides: [{names: [legacy-*], enforcement: warn, rules: [liveness-probe]}]}\n",
		"namespaces: {overrides: [{namespaceSelector: {matchLabels: {env: prod}, matchExpressions: [{key: tier, operator: In, values: [a]}]}, enforcement: audit}]}\n",
		"rules: {custom-rule: {enforcement: warn, anything: [1, 2]}}\n", "rules: {no-such: {}}", "rules: [1]", "a: &a [*a, *a]",
		"rules: {resources-limits: {max: {memory: 8Gx}}}", "namespaces: {exempt: [\"[\"]}", "\xff", "rules: {startup-probe: {enforcement: \"off\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, []string{"custom-rule"})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		for _, id := range config.BuiltinRules {
			switch cfg.Rules[id] {
			case config.Deny, config.Warn, config.Audit, config.Off:
			default:
				t.Fatalf("rule %s has enforcement %q", id, cfg.Rules[id])
			}
		}
		cfg.Exempted("kube-system")
		cfg.Exempted("")
		again, err := json.Marshal(cfg.Data)
		if err != nil {
			t.Fatalf("configuration data does not encode: %v", err)
		}
		if _, err := config.Parse(again, []string{"custom-rule"}); err != nil {
			t.Fatalf("the configuration's own data is refused: %v\ndata: %s", err, again)
		}
		if cfg2, err := config.Parse(data, []string{"custom-rule"}); err != nil || !reflect.DeepEqual(cfg.Rules, cfg2.Rules) || !reflect.DeepEqual(cfg.Data, cfg2.Data) {
			t.Fatalf("parsing the same file twice gives different configurations (%v)", err)
		}
	})
}
