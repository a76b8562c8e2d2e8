package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCustomRuleParameters: a custom rule that declares its parameters (METADATA
// custom.parameters, a JSON schema each) has its configuration checked as a built-in
// rule's is: a typo is refused with the parameters it takes, a wrong type is blamed on
// the configuration key, and a valid configuration loads.
func TestCustomRuleParameters(t *testing.T) {
	const policies = fixtures + "policies/parameters"
	tests := map[string]struct {
		config, wantStderr string
		wantCode           int
	}{
		"a typo of a parameter": {
			config:     "rules: {host-network: {allowedNamespace: [team-a]}}",
			wantCode:   2,
			wantStderr: "rules.host-network.allowedNamespace: unknown parameter (host-network takes allowedNamespaces, enforceAfter, enforcement)\n",
		},
		"a string for a list": {
			config:     "rules: {host-network: {allowedNamespaces: team-a}}",
			wantCode:   2,
			wantStderr: "rules.host-network.allowedNamespaces: Invalid type. Expected: array, given: string (the schema in METADATA custom.parameters of host-network)\n",
		},
		"a number in the list": {
			config:     "rules: {host-network: {allowedNamespaces: [team-a, 3]}}",
			wantCode:   2,
			wantStderr: "rules.host-network.allowedNamespaces: 1: Invalid type. Expected: string, given: integer (the schema in METADATA custom.parameters of host-network)\n",
		},
		"parameters as declared": {
			config:   "rules: {host-network: {allowedNamespaces: [team-a], enforcement: warn}}",
			wantCode: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			code := evalCommand(t.Context(), "test", []string{"--policy-dir", policies, "--config", cfg, fixtures + "compliant.yaml"}, strings.NewReader(""), &out, &errOut)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			want := ""
			if tc.wantStderr != "" {
				want = "podguard eval: config " + cfg + ": " + tc.wantStderr
			}
			if errOut.String() != want {
				t.Errorf("stderr %q\nwant   %q", errOut.String(), want)
			}
		})
	}
}
