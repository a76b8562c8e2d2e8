package chart

import (
	"strings"
	"testing"
)

// TestBadValuesRefused checks that rendering stops, with a message naming the problem,
// for values that are unknown, mistyped or out of range (values.schema.json) and for
// combinations the schema cannot express (the checks in _helpers.tpl).
func TestBadValuesRefused(t *testing.T) {
	tests := map[string]struct {
		values  map[string]any
		wantErr string
	}{
		"unknown top-level key": {
			values:  map[string]any{"replicas": 3},
			wantErr: "additional properties 'replicas' not allowed",
		},
		"misspelled nested key": {
			values:  map[string]any{"webhook": map[string]any{"timeoutSecond": 3}},
			wantErr: "additional properties 'timeoutSecond' not allowed",
		},
		"unknown key in podguard's config": {
			values:  map[string]any{"config": map[string]any{"rule": map[string]any{}}},
			wantErr: "additional properties 'rule' not allowed",
		},
		"replica count as a string": {
			values:  map[string]any{"replicaCount": "2"},
			wantErr: "at '/replicaCount': got string, want integer",
		},
		"zero replicas": {
			values:  map[string]any{"replicaCount": 0},
			wantErr: "at '/replicaCount'",
		},
		"unknown failurePolicy": {
			values:  map[string]any{"webhook": map[string]any{"failurePolicy": "Deny"}},
			wantErr: "at '/webhook/failurePolicy'",
		},
		"timeout above the API server's maximum": {
			values:  map[string]any{"webhook": map[string]any{"timeoutSeconds": 31}},
			wantErr: "at '/webhook/timeoutSeconds'",
		},
		"fractional timeout": {
			values:  map[string]any{"webhook": map[string]any{"timeoutSeconds": 2.5}},
			wantErr: "at '/webhook/timeoutSeconds'",
		},
		"excluded namespace that is not a name": {
			values:  map[string]any{"webhook": map[string]any{"excludedNamespaces": []any{"Team A"}}},
			wantErr: "at '/webhook/excludedNamespaces/0'",
		},
		"unknown TLS mode": {
			values:  map[string]any{"tls": map[string]any{"mode": "none"}},
			wantErr: "at '/tls/mode'",
		},
		"image tag latest": {
			values:  map[string]any{"image": map[string]any{"tag": "latest"}},
			wantErr: "at '/image/tag'",
		},
		"malformed digest": {
			values:  map[string]any{"image": map[string]any{"digest": "abc"}},
			wantErr: "at '/image/digest'",
		},
		"unknown TLS minimum": {
			values:  map[string]any{"server": map[string]any{"tlsMinVersion": "1.1"}},
			wantErr: "at '/server/tlsMinVersion'",
		},
		"custom policy file not ending in .rego": {
			values:  map[string]any{"policies": map[string]any{"rule.txt": "package x"}},
			wantErr: "'rule.txt' does not match pattern",
		},
		"bad certificate duration": {
			values:  map[string]any{"tls": map[string]any{"certManager": map[string]any{"duration": "90 days"}}},
			wantErr: "at '/tls/certManager/duration'",
		},
		"evaluation timeout equal to the webhook timeout": {
			values:  map[string]any{"server": map[string]any{"evalTimeoutSeconds": 5}},
			wantErr: "server.evalTimeoutSeconds (5) must be below webhook.timeoutSeconds (5)",
		},
		"evaluation timeout above a lowered webhook timeout": {
			values:  map[string]any{"webhook": map[string]any{"timeoutSeconds": 2}},
			wantErr: "server.evalTimeoutSeconds (2) must be below webhook.timeoutSeconds (2)",
		},
		"grace period shorter than the shutdown delay": {
			values:  map[string]any{"terminationGracePeriodSeconds": 10},
			wantErr: "terminationGracePeriodSeconds (10) must exceed server.shutdownDelaySeconds (10)",
		},
		"secret mode without a Secret": {
			values:  map[string]any{"tls": map[string]any{"mode": "secret", "caBundle": "-----BEGIN CERTIFICATE-----"}},
			wantErr: "tls.mode secret needs tls.secretName",
		},
		"secret mode without a CA": {
			values:  map[string]any{"tls": map[string]any{"mode": "secret", "secretName": "podguard-tls"}},
			wantErr: "tls.mode secret needs tls.caBundle",
		},
		"no memory limit": {
			values:  map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": nil}}},
			wantErr: "resources.limits.memory is required: podguard gets it as GOMEMLIMIT",
		},
		"metrics reader without a name": {
			values:  map[string]any{"metrics": map[string]any{"readers": []any{map[string]any{"kind": "ServiceAccount"}}}},
			wantErr: "at '/metrics/readers/0'",
		},
		"autoscaling minimum above maximum": {
			values:  map[string]any{"autoscaling": map[string]any{"enabled": true, "minReplicas": 6, "maxReplicas": 3}},
			wantErr: "autoscaling.minReplicas (6) must not exceed autoscaling.maxReplicas (3)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(t.Context(), Options{Values: tc.values})
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
