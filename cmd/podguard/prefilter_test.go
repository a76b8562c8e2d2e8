package main

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/prefilter"
)

// TestPrefilterCommand: the conditions as YAML; with a custom rule, none for /validate
// and the reason why.
func TestPrefilterCommand(t *testing.T) {
	tests := map[string]struct {
		args                 []string
		mutating, validating int
		reasons              string
	}{
		"built-in policies": {args: []string{"prefilter"}, mutating: 1, validating: 1},
		"a custom rule": {args: []string{"prefilter", "--policy-dir", "../../policies/examples/pod/rules"}, mutating: 1,
			reasons: "validating: custom rules are loaded (allowed-registries), whose findings CEL cannot foresee"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := run(t.Context(), tc.args, strings.NewReader(""), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var s prefilter.Set
			if err := yaml.UnmarshalStrict([]byte(out.String()), &s); err != nil {
				t.Fatalf("output is not the YAML of a Set: %v\n%s", err, out.String())
			}
			if len(s.Mutating) != tc.mutating || len(s.Validating) != tc.validating || strings.Join(s.Reasons, "; ") != tc.reasons {
				t.Errorf("%d mutating, %d validating, reasons %q; want %d, %d, %q", len(s.Mutating), len(s.Validating), s.Reasons, tc.mutating, tc.validating, tc.reasons)
			}
		})
	}
}
