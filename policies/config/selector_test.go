package config_test

import (
	"testing"

	"github.com/podguard/podguard/policies/config"
)

func TestNamespaceSelectorOverrides(t *testing.T) {
	tests := map[string]struct {
		yaml    string
		wantErr string
	}{
		"selector alone": {
			yaml: "namespaces:\n  overrides:\n    - namespaceSelector: {matchLabels: {stage: legacy}}\n      enforcement: warn\n",
		},
		"selector with expressions and names": {
			yaml: "namespaces:\n  overrides:\n    - names: [legacy-*]\n      namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a]}]}\n      enforcement: audit\n",
		},
		"bad operator": {
			yaml:    "namespaces:\n  overrides:\n    - namespaceSelector: {matchExpressions: [{key: team, operator: Is, values: [a]}]}\n      enforcement: warn\n",
			wantErr: `namespaces.overrides[0].namespaceSelector: "Is" is not a valid label selector operator`,
		},
		"unknown selector field": {
			yaml:    "namespaces:\n  overrides:\n    - namespaceSelector: {matchLabel: {a: b}}\n      enforcement: warn\n",
			wantErr: `namespaces.overrides[0].namespaceSelector: not a label selector (matchLabels, matchExpressions): unknown field "matchLabel"`,
		},
		"empty names with a selector still refused": {
			yaml:    "namespaces:\n  overrides:\n    - names: []\n      namespaceSelector: {matchLabels: {a: b}}\n      enforcement: warn\n",
			wantErr: "namespaces.overrides[0].names: at least one namespace name or glob is required (or a namespaceSelector)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("error %q, want %q", got, tc.wantErr)
			}
		})
	}
}
