package chart

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestValueEffects sets each value on its own and checks where it lands in the rendering.
func TestValueEffects(t *testing.T) {
	type rendered struct {
		t   *testing.T
		r   *Release
		dep *appsv1.Deployment
	}
	into := func(x rendered, kind, name string, v any) {
		x.t.Helper()
		o, ok := x.r.Find(kind, name)
		if !ok {
			x.t.Fatalf("no %s %s; rendered %v", kind, name, x.r.Kinds())
		}
		if err := o.Into(v); err != nil {
			x.t.Fatal(err)
		}
	}
	nested := func(x rendered, kind string, fields ...string) any {
		x.t.Helper()
		o, ok := x.r.Find(kind, "podguard")
		if !ok {
			x.t.Fatalf("no %s; rendered %v", kind, x.r.Kinds())
		}
		v, _, _ := unstructured.NestedFieldNoCopy(o.Object, fields...)
		return v
	}
	tests := map[string]struct {
		values map[string]any
		check  func(x rendered)
	}{
		"webhook.port": {
			values: map[string]any{"webhook": map[string]any{"port": 8443}},
			check: func(x rendered) {
				c := x.dep.Spec.Template.Spec.Containers[0]
				if c.Ports[0].Name != "https" || c.Ports[0].ContainerPort != 8443 || !slices.Contains(c.Args, "--port=8443") {
					x.t.Errorf("ports %v args %v, want https on 8443", c.Ports, c.Args)
				}
				var svc corev1.Service
				into(x, "Service", "podguard", &svc)
				if p := svc.Spec.Ports[0]; p.Port != 443 || p.TargetPort.String() != "https" {
					x.t.Errorf("Service port %v, want 443 to the named port https", p)
				}
			},
		},
		"hostNetwork": {
			values: map[string]any{"hostNetwork": true, "webhook": map[string]any{"port": 10260}},
			check: func(x rendered) {
				s := x.dep.Spec.Template.Spec
				if !s.HostNetwork || s.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
					x.t.Errorf("hostNetwork %v dnsPolicy %q", s.HostNetwork, s.DNSPolicy)
				}
			},
		},
		"extraEnv": {
			values: map[string]any{"extraEnv": []any{map[string]any{"name": "GODEBUG", "value": "tlsrsakex=0"}}},
			check: func(x rendered) {
				// After GOMEMLIMIT, which the chart always sets.
				env := x.dep.Spec.Template.Spec.Containers[0].Env
				if len(env) != 2 || env[0].Name != "GOMEMLIMIT" || env[1].Name != "GODEBUG" || env[1].Value != "tlsrsakex=0" {
					x.t.Errorf("env %v", env)
				}
			},
		},
		"extraVolumes and extraVolumeMounts": {
			values: map[string]any{
				"extraVolumes":      []any{map[string]any{"name": "ca", "configMap": map[string]any{"name": "client-ca"}}},
				"extraVolumeMounts": []any{map[string]any{"name": "ca", "mountPath": "/etc/ca", "readOnly": true}},
			},
			check: func(x rendered) {
				s := x.dep.Spec.Template.Spec
				v, m := s.Volumes[len(s.Volumes)-1], s.Containers[0].VolumeMounts[len(s.Containers[0].VolumeMounts)-1]
				if len(s.Volumes) != 4 || v.Name != "ca" || v.ConfigMap == nil || v.ConfigMap.Name != "client-ca" {
					x.t.Errorf("volumes %v", s.Volumes)
				}
				if len(s.Containers[0].VolumeMounts) != 4 || m.Name != "ca" || m.MountPath != "/etc/ca" || !m.ReadOnly {
					x.t.Errorf("mounts %v", s.Containers[0].VolumeMounts)
				}
			},
		},
		"deploymentAnnotations": {
			values: map[string]any{"deploymentAnnotations": map[string]any{"example.com/a": "b"}},
			check: func(x rendered) {
				if x.dep.Annotations["example.com/a"] != "b" || x.dep.Spec.Template.Annotations["example.com/a"] != "" {
					x.t.Errorf("Deployment annotations %v, Pod annotations %v", x.dep.Annotations, x.dep.Spec.Template.Annotations)
				}
			},
		},
		"serviceAnnotations": {
			values: map[string]any{"serviceAnnotations": map[string]any{"example.com/a": "b"}},
			check: func(x rendered) {
				var svc corev1.Service
				into(x, "Service", "podguard", &svc)
				if svc.Annotations["example.com/a"] != "b" {
					x.t.Errorf("Service annotations %v", svc.Annotations)
				}
			},
		},
		"webhook.annotations with cert-manager": {
			values: map[string]any{"webhook": map[string]any{"annotations": map[string]any{"example.com/a": "b"}}},
			check: func(x rendered) {
				var v admissionregistrationv1.ValidatingWebhookConfiguration
				var m admissionregistrationv1.MutatingWebhookConfiguration
				into(x, "ValidatingWebhookConfiguration", "podguard", &v)
				into(x, "MutatingWebhookConfiguration", "podguard", &m)
				for _, a := range []map[string]string{v.Annotations, m.Annotations} {
					if len(a) != 3 || a["example.com/a"] != "b" || a["cert-manager.io/inject-ca-from"] != "podguard-system/podguard-tls" || a["podguard.io/failure-policy"] != "Fail" {
						x.t.Errorf("annotations %v", a)
					}
				}
			},
		},
		"webhook.annotations with a Secret": {
			values: map[string]any{"webhook": map[string]any{"annotations": map[string]any{"example.com/a": "b"}},
				"tls": map[string]any{"mode": "secret", "secretName": "s", "caBundle": "-----BEGIN CERTIFICATE-----"}},
			check: func(x rendered) {
				var v admissionregistrationv1.ValidatingWebhookConfiguration
				into(x, "ValidatingWebhookConfiguration", "podguard", &v)
				if len(v.Annotations) != 2 || v.Annotations["example.com/a"] != "b" || v.Annotations["podguard.io/failure-policy"] != "Fail" {
					x.t.Errorf("annotations %v", v.Annotations)
				}
			},
		},
		"serviceMonitor namespace and relabelings": {
			values: map[string]any{"serviceMonitor": map[string]any{
				"enabled": true, "namespace": "monitoring",
				"relabelings":       []any{map[string]any{"targetLabel": "cluster", "replacement": "prod"}},
				"metricRelabelings": []any{map[string]any{"action": "drop", "regex": "go_.*", "sourceLabels": []any{"__name__"}}},
			}},
			check: func(x rendered) {
				o, _ := x.r.Find("ServiceMonitor", "podguard")
				if o.GetNamespace() != "monitoring" {
					x.t.Errorf("ServiceMonitor in %q", o.GetNamespace())
				}
				if v := nested(x, "ServiceMonitor", "spec", "namespaceSelector", "matchNames"); len(v.([]any)) != 1 || v.([]any)[0] != "podguard-system" {
					x.t.Errorf("namespaceSelector %v, want the release namespace", v)
				}
				ep := nested(x, "ServiceMonitor", "spec", "endpoints").([]any)[0].(map[string]any)
				if r := ep["relabelings"].([]any); len(r) != 1 || r[0].(map[string]any)["targetLabel"] != "cluster" {
					x.t.Errorf("relabelings %v", ep["relabelings"])
				}
				if r := ep["metricRelabelings"].([]any); len(r) != 1 || r[0].(map[string]any)["action"] != "drop" {
					x.t.Errorf("metricRelabelings %v", ep["metricRelabelings"])
				}
			},
		},
		"prometheusRule namespace and labels": {
			values: map[string]any{"prometheusRule": map[string]any{"enabled": true, "namespace": "monitoring", "labels": map[string]any{"release": "prom"}}},
			check: func(x rendered) {
				o, _ := x.r.Find("PrometheusRule", "podguard")
				if o.GetNamespace() != "monitoring" || o.GetLabels()["release"] != "prom" {
					x.t.Errorf("PrometheusRule in %q with labels %v", o.GetNamespace(), o.GetLabels())
				}
			},
		},
		"tls.mode helm": {
			values: map[string]any{"tls": map[string]any{"mode": "helm", "helm": map[string]any{"days": 30}}},
			check: func(x rendered) {
				var secret corev1.Secret
				into(x, "Secret", "podguard-tls", &secret)
				if secret.Type != corev1.SecretTypeTLS {
					x.t.Errorf("Secret type %q", secret.Type)
				}
				roots := x509.NewCertPool()
				if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
					x.t.Fatalf("ca.crt holds no certificate: %q", secret.Data["ca.crt"])
				}
				if _, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"]); err != nil {
					x.t.Errorf("tls.crt and tls.key: %v", err)
				}
				block, _ := pem.Decode(secret.Data["tls.crt"])
				if block == nil {
					x.t.Fatal("tls.crt is not PEM")
				}
				leaf, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					x.t.Fatal(err)
				}
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "podguard.podguard-system.svc"}); err != nil {
					x.t.Errorf("the certificate does not verify for the Service: %v", err)
				}
				if days := leaf.NotAfter.Sub(leaf.NotBefore).Hours() / 24; days < 29 || days > 31 {
					x.t.Errorf("certificate valid %v days, want tls.helm.days 30", days)
				}
				var v admissionregistrationv1.ValidatingWebhookConfiguration
				var m admissionregistrationv1.MutatingWebhookConfiguration
				into(x, "ValidatingWebhookConfiguration", "podguard", &v)
				into(x, "MutatingWebhookConfiguration", "podguard", &m)
				if string(v.Webhooks[0].ClientConfig.CABundle) != string(secret.Data["ca.crt"]) || string(m.Webhooks[0].ClientConfig.CABundle) != string(secret.Data["ca.crt"]) {
					x.t.Error("the webhooks' caBundle is not the Secret's ca.crt")
				}
				if _, ok := v.Annotations["cert-manager.io/inject-ca-from"]; ok {
					x.t.Error("cert-manager's injection annotation in tls.mode helm")
				}
				if _, ok := x.r.Find("Certificate", "podguard-tls"); ok {
					x.t.Error("a cert-manager Certificate in tls.mode helm")
				}
				if s := x.dep.Spec.Template.Spec.Volumes[0].Secret; s == nil || s.SecretName != "podguard-tls" {
					x.t.Errorf("certs volume %v, want Secret podguard-tls", x.dep.Spec.Template.Spec.Volumes[0])
				}
			},
		},
		"tests.namespace": {
			values: map[string]any{"tests": map[string]any{"namespace": "team-a"}},
			check: func(x rendered) {
				var pod corev1.Pod
				into(x, "Pod", "podguard-test", &pod)
				if !slices.Contains(pod.Spec.Containers[0].Args, "--namespace=team-a") {
					x.t.Errorf("helm test args %v", pod.Spec.Containers[0].Args)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := render(t, Options{Values: tc.values})
			d, err := r.Deployment()
			if err != nil {
				t.Fatal(err)
			}
			tc.check(rendered{t, r, d})
		})
	}
}
