package chart

import "testing"

// TestConfigExceptionsReachPodguard: an exceptions section in the config value passes the
// chart's schema, and podguard, reading the ConfigMap as the Pods mount it, admits the
// Deployment it names with the covered violation reported as excepted.
func TestConfigExceptionsReachPodguard(t *testing.T) {
	r := render(t, Options{Values: map[string]any{"config": map[string]any{"exceptions": []any{map[string]any{
		"rules":  []any{"readiness-probe"},
		"match":  map[string]any{"namespace": "shop", "kind": "Deployment", "name": "web"},
		"reason": "static page; probe lands with SHOP-12",
	}}}}})
	flags := mountedFlags(t, r, "--config")
	deployment := []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: web}}
  template:
    metadata: {labels: {app.kubernetes.io/name: web}}
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
          livenessProbe: {tcpSocket: {port: 8080}}
`)
	code, res := podguardEval(t, deployment, flags...)
	if code != 0 || len(res) != 1 || res[0].Verdict != "admit" {
		t.Fatalf("exit %d, results %+v; want the Deployment admitted", code, res)
	}
	var excepted []string
	for _, v := range res[0].Violations {
		if v.Enforcement == "excepted" {
			excepted = append(excepted, v.Rule+": "+v.Exception)
		}
	}
	if want := "readiness-probe: exceptions[0]: static page; probe lands with SHOP-12"; len(excepted) != 1 || excepted[0] != want {
		t.Errorf("excepted violations %q, want [%q]", excepted, want)
	}
}
