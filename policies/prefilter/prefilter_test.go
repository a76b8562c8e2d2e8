package prefilter

import (
	"strings"
	"testing"

	"github.com/podguard/podguard/policies/config"
)

// TestGenerate: a custom rule leaves /validate without a prefilter (CEL cannot foresee
// it) and /mutate with one; a configuration without defaults never needs /mutate.
func TestGenerate(t *testing.T) {
	tests := map[string]struct {
		user                 string
		rules                []string
		mutating, validating string // "" for none, else a part of the expression
		reason               string
	}{
		"built-in rules": {rules: config.BuiltinRules, mutating: `isQuantity(c.resources["requests"]["cpu"])`, validating: `c.image.matches(`},
		"a custom rule": {rules: append([]string{"allowed-registries"}, config.BuiltinRules...), mutating: `c.resources["limits"]["memory"]`,
			reason: "validating: custom rules are loaded (allowed-registries), whose findings CEL cannot foresee"},
		"no defaults": {user: "defaults: {resources: null}", rules: config.BuiltinRules, mutating: "false", validating: "livenessProbe"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			custom := []string{}
			for _, r := range tc.rules {
				if !strings.Contains(strings.Join(config.BuiltinRules, " "), r) {
					custom = append(custom, r)
				}
			}
			cfg, err := config.Parse([]byte(tc.user), custom)
			if err != nil {
				t.Fatal(err)
			}
			s := Generate(cfg, tc.rules)
			check := func(what string, cs []Condition, want string) {
				if want == "" {
					if len(cs) != 0 {
						t.Errorf("%s: %d conditions, want none", what, len(cs))
					}
					return
				}
				if len(cs) != 1 || !strings.Contains(cs[0].Expression, want) {
					t.Errorf("%s: %+v, want one condition with %q", what, cs, want)
				}
			}
			check("mutating", s.Mutating, tc.mutating)
			check("validating", s.Validating, tc.validating)
			if got := strings.Join(s.Reasons, "; "); got != tc.reason {
				t.Errorf("reasons %q, want %q", got, tc.reason)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	own := []Condition{{Name: ValidatingName, Expression: "true"}}
	if _, err := Merge([]Condition{{Name: MutatingName, Expression: "true"}}, own); err == nil ||
		err.Error() != `matchCondition name "podguard-may-add-defaults" is podguard's own` {
		t.Errorf("an operator condition named as podguard's: %v", err)
	}
	got, err := Merge([]Condition{{Name: "not-ci", Expression: "x"}}, own)
	if err != nil || len(got) != 2 || got[0].Name != "not-ci" || got[1].Name != ValidatingName {
		t.Errorf("merged %+v (%v), want the operator's first", got, err)
	}
}
