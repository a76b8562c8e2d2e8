package chart

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// TestNetworkPolicy: the chart renders a NetworkPolicy by default; its webhook rule
// admits the peers webhookFrom lists, or every source only when webhookFrom says "any";
// an empty list is refused with a message, instead of admitting any source; metrics are
// open to metricsFrom only, and no other port is opened.
func TestNetworkPolicy(t *testing.T) {
	apiServer := []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/28"}}}
	monitoring := []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}
	tests := map[string]struct {
		values map[string]any
		want   string // the policy's ingress, as YAML; "" means no policy
	}{
		"default: on, webhook port open to any source, metrics to none": {
			want: `
- ports:
  - port: https
    protocol: TCP
`,
		},
		"webhookFrom lists the API server's sources": {
			values: map[string]any{"networkPolicy": map[string]any{"webhookFrom": apiServer}},
			want: `
- from:
  - ipBlock:
      cidr: 10.0.0.0/28
  ports:
  - port: https
    protocol: TCP
`,
		},
		"metricsFrom opens the metrics port to its peers": {
			values: map[string]any{"networkPolicy": map[string]any{"webhookFrom": apiServer, "metricsFrom": monitoring}},
			want: `
- from:
  - ipBlock:
      cidr: 10.0.0.0/28
  ports:
  - port: https
    protocol: TCP
- from:
  - namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: monitoring
  ports:
  - port: metrics
    protocol: TCP
`,
		},
		"disabled": {
			values: map[string]any{"networkPolicy": map[string]any{"enabled": false}},
		},
	}
	for desc, tc := range tests {
		t.Run(desc, func(t *testing.T) {
			r := render(t, Options{Values: tc.values})
			o, ok := r.Find("NetworkPolicy", "podguard")
			if tc.want == "" {
				if ok {
					t.Fatalf("a NetworkPolicy was rendered:\n%s", o.YAML)
				}
				return
			}
			if !ok {
				t.Fatalf("no NetworkPolicy; rendered %v", r.Kinds())
			}
			var np networkingv1.NetworkPolicy
			if err := o.Into(&np); err != nil {
				t.Fatal(err)
			}
			if got := np.Spec.PolicyTypes; len(got) != 1 || got[0] != networkingv1.PolicyTypeIngress {
				t.Errorf("policyTypes %v, want [Ingress]", got)
			}
			if got := np.Spec.PodSelector.MatchLabels; got["app.kubernetes.io/name"] != "podguard" || got["app.kubernetes.io/instance"] != "podguard" {
				t.Errorf("podSelector %v does not select podguard's Pods", got)
			}
			got, err := yaml.Marshal(np.Spec.Ingress)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(got)) != strings.TrimSpace(tc.want) {
				t.Errorf("ingress:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestNetworkPolicyRefusesEmptyWebhookFrom: an empty webhookFrom would admit no caller
// (or, as it once did, any): the chart refuses it and says what to set.
func TestNetworkPolicyRefusesEmptyWebhookFrom(t *testing.T) {
	for desc, v := range map[string]any{
		"empty list":         []any{},
		"a string not 'any'": "all",
	} {
		t.Run(desc, func(t *testing.T) {
			_, err := Render(t.Context(), Options{Values: map[string]any{"networkPolicy": map[string]any{"webhookFrom": v}}})
			if err == nil {
				t.Fatal("rendered")
			}
			want := "networkPolicy.webhookFrom is an empty list, which would admit no caller"
			if desc != "empty list" {
				want = "at '/networkPolicy/webhookFrom'"
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to contain %q", err, want)
			}
		})
	}
}
