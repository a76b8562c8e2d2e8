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
		values      map[string]any
		kubeVersion string
		wantErr     string
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
			wantErr: "image.tag latest: a moving tag, which podguard's own image-tag rule refuses",
		},
		"image registry with a scheme": {
			values:  map[string]any{"image": map[string]any{"registry": "https://mirror.example.com"}},
			wantErr: "at '/image/registry'",
		},
		"toleration with an unknown effect": {
			values:  map[string]any{"tolerations": []any{map[string]any{"key": "a", "operator": "Exists", "effect": "Bogus"}}},
			wantErr: "at '/tolerations/0/effect': value must be one of",
		},
		"toleration with a misspelled key": {
			values:  map[string]any{"tolerations": []any{map[string]any{"key": "a", "opertor": "Exists"}}},
			wantErr: "additional properties 'opertor' not allowed",
		},
		"metrics on the webhook's port": {
			values:  map[string]any{"metrics": map[string]any{"port": 10250}},
			wantErr: "metrics.port and webhook.port are both 10250",
		},
		"health on the metrics port": {
			values:  map[string]any{"health": map[string]any{"port": 8443}},
			wantErr: "health.port and metrics.port are both 8443",
		},
		"host network with health on the kubelet's port": {
			values:  map[string]any{"hostNetwork": true, "webhook": map[string]any{"port": 10260}, "health": map[string]any{"port": 10250}},
			wantErr: "hostNetwork: health.port 10250 is the kubelet's port",
		},
		"probe setting that is not one": {
			values:  map[string]any{"probes": map[string]any{"liveness": map[string]any{"periodSecond": 5}}},
			wantErr: "additional properties 'periodSecond' not allowed",
		},
		"match conditions before Kubernetes 1.30": {
			values:      map[string]any{"webhook": map[string]any{"matchConditions": []any{map[string]any{"name": "a", "expression": "true"}}}},
			kubeVersion: "v1.29.9",
			wantErr:     "webhook.matchConditions need Kubernetes 1.30 or newer",
		},
		"match condition without an expression": {
			values:  map[string]any{"webhook": map[string]any{"matchConditions": []any{map[string]any{"name": "a"}}}},
			wantErr: "at '/webhook/matchConditions/0': missing property 'expression'",
		},
		"namespace selector operator that is not one": {
			values:  map[string]any{"webhook": map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "a", "operator": "Is"}}}}},
			wantErr: "at '/webhook/namespaceSelector/matchExpressions/0/operator'",
		},
		"update strategy of a StatefulSet": {
			values:  map[string]any{"updateStrategy": map[string]any{"type": "OnDelete"}},
			wantErr: "at '/updateStrategy/type'",
		},
		"unknown private key algorithm": {
			values:  map[string]any{"tls": map[string]any{"certManager": map[string]any{"privateKey": map[string]any{"algorithm": "DSA"}}}},
			wantErr: "at '/tls/certManager/privateKey/algorithm'",
		},
		"issuerRef without a name": {
			values:  map[string]any{"tls": map[string]any{"certManager": map[string]any{"issuerRef": map[string]any{"kind": "ClusterIssuer"}}}},
			wantErr: "at '/tls/certManager/issuerRef': missing property 'name'",
		},
		"ServiceMonitor elsewhere with cert-manager's CA": {
			values:  map[string]any{"serviceMonitor": map[string]any{"enabled": true, "namespace": "monitoring"}},
			wantErr: "serviceMonitor.namespace monitoring: the Prometheus Operator reads the CA of a tlsConfig from the ServiceMonitor's namespace",
		},
		"generated certificate for zero days": {
			values:  map[string]any{"tls": map[string]any{"mode": "helm", "helm": map[string]any{"days": 0}}},
			wantErr: "at '/tls/helm/days'",
		},
		"digest without its algorithm": {
			values:  map[string]any{"image": map[string]any{"digest": strings.Repeat("a", 64)}},
			wantErr: "at '/image/digest'",
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
		"webhook port out of range": {
			values:  map[string]any{"webhook": map[string]any{"port": 70000}},
			wantErr: "at '/webhook/port'",
		},
		"webhook port as a string": {
			values:  map[string]any{"webhook": map[string]any{"port": "10250"}},
			wantErr: "at '/webhook/port': got string, want integer",
		},
		"host network on the kubelet's port": {
			values:  map[string]any{"hostNetwork": true},
			wantErr: "hostNetwork: webhook.port 10250 is the kubelet's port on every node",
		},
		"hostNetwork not a boolean": {
			values:  map[string]any{"hostNetwork": "yes"},
			wantErr: "at '/hostNetwork': got string, want boolean",
		},
		"extra env without a name": {
			values:  map[string]any{"extraEnv": []any{map[string]any{"value": "x"}}},
			wantErr: "at '/extraEnv/0': missing property 'name'",
		},
		"extra volume mount without a path": {
			values:  map[string]any{"extraVolumeMounts": []any{map[string]any{"name": "ca"}}},
			wantErr: "at '/extraVolumeMounts/0': missing property 'mountPath'",
		},
		"extra volume mount at a relative path": {
			values:  map[string]any{"extraVolumeMounts": []any{map[string]any{"name": "ca", "mountPath": "etc/ca"}}},
			wantErr: "at '/extraVolumeMounts/0/mountPath'",
		},
		"extra volume that is not an object": {
			values:  map[string]any{"extraVolumes": []any{"ca"}},
			wantErr: "at '/extraVolumes/0'",
		},
		"annotation value that is not a string": {
			values:  map[string]any{"serviceAnnotations": map[string]any{"example.com/port": 443}},
			wantErr: "at '/serviceAnnotations/example.com~1port'",
		},
		"deployment annotations as a list": {
			values:  map[string]any{"deploymentAnnotations": []any{"a"}},
			wantErr: "at '/deploymentAnnotations'",
		},
		"webhook annotation that cert-manager's injection owns": {
			values:  map[string]any{"webhook": map[string]any{"annotations": map[string]any{"cert-manager.io/inject-ca-from": "x/y"}}},
			wantErr: "cert-manager.io/inject-ca-from is set by the chart",
		},
		"ServiceMonitor namespace that is not a name": {
			values:  map[string]any{"serviceMonitor": map[string]any{"namespace": "Monitoring"}},
			wantErr: "at '/serviceMonitor/namespace'",
		},
		"relabelings as a mapping": {
			values:  map[string]any{"serviceMonitor": map[string]any{"relabelings": map[string]any{"action": "drop"}}},
			wantErr: "at '/serviceMonitor/relabelings'",
		},
		"metricRelabelings entry that is not an object": {
			values:  map[string]any{"serviceMonitor": map[string]any{"metricRelabelings": []any{"drop"}}},
			wantErr: "at '/serviceMonitor/metricRelabelings/0'",
		},
		"unknown PrometheusRule key": {
			values:  map[string]any{"prometheusRule": map[string]any{"rules": []any{}}},
			wantErr: "additional properties 'rules' not allowed",
		},
		"refusal spike factor below 1": {
			values:  map[string]any{"prometheusRule": map[string]any{"refusalSpikeFactor": 0.5}},
			wantErr: "at '/prometheusRule/refusalSpikeFactor'",
		},
		"certificate expiry threshold of zero days": {
			values:  map[string]any{"prometheusRule": map[string]any{"certificateExpiryCriticalDays": 0}},
			wantErr: "at '/prometheusRule/certificateExpiryCriticalDays'",
		},
		"the old helm test image": {
			values:  map[string]any{"tests": map[string]any{"image": map[string]any{"repository": "docker.io/bitnami/kubectl"}}},
			wantErr: "additional properties 'image' not allowed",
		},
		"helm test in an excluded namespace": {
			values:  map[string]any{"tests": map[string]any{"namespace": "kube-system"}},
			wantErr: "tests.namespace kube-system is never sent to podguard",
		},
		"helm test in the release namespace": {
			values:  map[string]any{"tests": map[string]any{"namespace": "podguard-system"}},
			wantErr: "tests.namespace podguard-system is never sent to podguard",
		},
		"helm test in a namespace excluded by the values": {
			values:  map[string]any{"tests": map[string]any{"namespace": "batch"}, "webhook": map[string]any{"excludedNamespaces": []any{"batch"}}},
			wantErr: "tests.namespace batch is never sent to podguard",
		},
		"image tag no registry accepts": {
			values:  map[string]any{"image": map[string]any{"tag": "v1/beta"}},
			wantErr: "at '/image/tag'",
		},
		"image tag starting with a dot": {
			values:  map[string]any{"image": map[string]any{"tag": ".1"}},
			wantErr: "at '/image/tag'",
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
	for _, sdk := range SDKs {
		for name, tc := range tests {
			t.Run(string(sdk)+"/"+name, func(t *testing.T) {
				_, err := Render(t.Context(), Options{Values: tc.values, KubeVersion: tc.kubeVersion, SDK: sdk})
				if err == nil {
					t.Fatalf("rendered; want an error containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want one containing %q", err, tc.wantErr)
				}
			})
		}
	}
}

// TestImageValuesAccepted renders the image references a user can build and push: the
// tags make image writes (git describe, with or without a leading v, dirty) and digests.
func TestImageValuesAccepted(t *testing.T) {
	tests := map[string]struct {
		image map[string]any
		want  string
	}{
		"appVersion by default":  {map[string]any{}, "ghcr.io/podguard/podguard:0.1.0"},
		"release tag":            {map[string]any{"tag": "v0.2.1"}, "ghcr.io/podguard/podguard:v0.2.1"},
		"git describe of a tree": {map[string]any{"tag": "0.1.0-12-g5de21f9-dirty"}, "ghcr.io/podguard/podguard:0.1.0-12-g5de21f9-dirty"},
		"commit only":            {map[string]any{"tag": "5de21f9"}, "ghcr.io/podguard/podguard:5de21f9"},
		"underscores and dots":   {map[string]any{"tag": "build_42.amd64"}, "ghcr.io/podguard/podguard:build_42.amd64"},
		"own registry with port": {map[string]any{"repository": "registry.local:5000/platform/podguard", "tag": "dev"}, "registry.local:5000/platform/podguard:dev"},
		"digest": {map[string]any{"digest": "sha256:" + strings.Repeat("0123456789abcdef", 4)},
			"ghcr.io/podguard/podguard@sha256:" + strings.Repeat("0123456789abcdef", 4)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Render(t.Context(), Options{Values: map[string]any{"image": tc.image}})
			if err != nil {
				t.Fatal(err)
			}
			d, err := r.Deployment()
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tc.want {
				t.Errorf("image %s, want %s", got, tc.want)
			}
		})
	}
}

// TestKubeVersion renders for the oldest Kubernetes the chart declares, and refuses an
// older one (Chart.yaml kubeVersion).
func TestKubeVersion(t *testing.T) {
	if _, err := Render(t.Context(), Options{KubeVersion: "v1.23.0"}); err != nil {
		t.Errorf("Kubernetes 1.23: %v", err)
	}
	_, err := Render(t.Context(), Options{KubeVersion: "v1.22.17"})
	if err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Errorf("Kubernetes 1.22: %v, want refused by kubeVersion", err)
	}
}
