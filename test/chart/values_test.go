package chart

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
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
			values: map[string]any{"webhook": map[string]any{"port": 9443}},
			check: func(x rendered) {
				c := x.dep.Spec.Template.Spec.Containers[0]
				if c.Ports[0].Name != "https" || c.Ports[0].ContainerPort != 9443 || !slices.Contains(c.Args, "--port=9443") {
					x.t.Errorf("ports %v args %v, want https on 9443", c.Ports, c.Args)
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
			values: map[string]any{"tls": map[string]any{"mode": "secret", "secretName": "s", "caBundle": "-----BEGIN CERTIFICATE-----"}, "serviceMonitor": map[string]any{
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
				// The Prometheus Operator reads the CA in the ServiceMonitor's namespace.
				if ca, ok := x.r.Find("ConfigMap", "podguard-ca"); !ok || ca.GetNamespace() != "monitoring" {
					x.t.Errorf("CA ConfigMap podguard-ca in %q (rendered %v), want monitoring", ca.GetNamespace(), ok)
				}
				if ref := fmt.Sprint(ep["tlsConfig"]); !strings.Contains(ref, "configMap:map[key:ca.crt name:podguard-ca]") {
					x.t.Errorf("tlsConfig %s, want the CA ConfigMap podguard-ca", ref)
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
		"image.registry": {
			values: map[string]any{"image": map[string]any{"registry": "mirror.example.com:5000/cache"}},
			check: func(x rendered) {
				if got := x.dep.Spec.Template.Spec.Containers[0].Image; got != "mirror.example.com:5000/cache/ghcr.io/podguard/podguard:0.1.0" {
					x.t.Errorf("image %s", got)
				}
				var pod corev1.Pod
				into(x, "Pod", "podguard-test", &pod)
				if pod.Spec.Containers[0].Image != x.dep.Spec.Template.Spec.Containers[0].Image {
					x.t.Errorf("helm test image %s", pod.Spec.Containers[0].Image)
				}
			},
		},
		"commonLabels": {
			values: map[string]any{"commonLabels": map[string]any{"example.com/team": "platform"}},
			check: func(x rendered) {
				for _, o := range append(append([]Object{}, x.r.Objects...), x.r.Hooks...) {
					if o.GetLabels()["example.com/team"] != "platform" {
						x.t.Errorf("%s %s lacks the common label: %v", o.GetKind(), o.GetName(), o.GetLabels())
					}
				}
				if x.dep.Spec.Template.Labels["example.com/team"] != "platform" {
					x.t.Errorf("Pod labels %v", x.dep.Spec.Template.Labels)
				}
				if _, ok := x.dep.Spec.Selector.MatchLabels["example.com/team"]; ok {
					x.t.Error("a common label in the Deployment's selector, which cannot change")
				}
			},
		},
		"extraObjects": {
			values: map[string]any{"extraObjects": []any{
				map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "{{ .Release.Name }}-extra", "namespace": "{{ .Release.Namespace }}"}},
				"apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra-secret\n",
			}},
			check: func(x rendered) {
				cm, ok := x.r.Find("ConfigMap", "podguard-extra")
				if !ok || cm.GetNamespace() != "podguard-system" {
					x.t.Errorf("extra ConfigMap rendered %v in %q", ok, cm.GetNamespace())
				}
				if _, ok := x.r.Find("Secret", "extra-secret"); !ok {
					x.t.Errorf("extra Secret given as a string not rendered; rendered %v", x.r.Kinds())
				}
			},
		},
		"revisionHistoryLimit and updateStrategy": {
			values: map[string]any{"revisionHistoryLimit": 7, "updateStrategy": map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "50%", "maxUnavailable": 0}}},
			check: func(x rendered) {
				s := x.dep.Spec
				if s.RevisionHistoryLimit == nil || *s.RevisionHistoryLimit != 7 {
					x.t.Errorf("revisionHistoryLimit %v", s.RevisionHistoryLimit)
				}
				if ru := s.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.String() != "50%" || ru.MaxUnavailable.IntValue() != 0 {
					x.t.Errorf("strategy %+v", s.Strategy)
				}
			},
		},
		"health.port and metrics.port": {
			values: map[string]any{"health": map[string]any{"port": 9081}, "metrics": map[string]any{"port": 9090}},
			check: func(x rendered) {
				c := x.dep.Spec.Template.Spec.Containers[0]
				for _, want := range []string{"--health-probe-bind-address=:9081", "--metrics-bind-address=:9090"} {
					if !slices.Contains(c.Args, want) {
						x.t.Errorf("args %v lack %s", c.Args, want)
					}
				}
				ports := map[string]int32{}
				for _, p := range c.Ports {
					ports[p.Name] = p.ContainerPort
				}
				if ports["health"] != 9081 || ports["metrics"] != 9090 {
					x.t.Errorf("container ports %v", c.Ports)
				}
				for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
					if p.HTTPGet.Port.String() != "health" {
						x.t.Errorf("probe on port %s, want the named port health", p.HTTPGet.Port.String())
					}
				}
				var svc corev1.Service
				into(x, "Service", "podguard", &svc)
				if i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }); i < 0 || svc.Spec.Ports[i].Port != 9090 {
					x.t.Errorf("Service ports %v", svc.Spec.Ports)
				}
			},
		},
		"probes": {
			values: map[string]any{"probes": map[string]any{
				"startup":   map[string]any{"failureThreshold": 90, "periodSeconds": 1},
				"liveness":  map[string]any{"periodSeconds": 20, "timeoutSeconds": 4, "failureThreshold": 5},
				"readiness": map[string]any{"periodSeconds": 3, "successThreshold": 2, "initialDelaySeconds": 1},
			}},
			check: func(x rendered) {
				c := x.dep.Spec.Template.Spec.Containers[0]
				if p := c.StartupProbe; p.FailureThreshold != 90 || p.PeriodSeconds != 1 || p.HTTPGet.Path != "/healthz" {
					x.t.Errorf("startup %+v", p)
				}
				if p := c.LivenessProbe; p.PeriodSeconds != 20 || p.TimeoutSeconds != 4 || p.FailureThreshold != 5 || p.HTTPGet.Path != "/healthz" {
					x.t.Errorf("liveness %+v", p)
				}
				if p := c.ReadinessProbe; p.PeriodSeconds != 3 || p.SuccessThreshold != 2 || p.InitialDelaySeconds != 1 || p.HTTPGet.Path != "/readyz" {
					x.t.Errorf("readiness %+v", p)
				}
			},
		},
		"rbac.create false": {
			values: map[string]any{"rbac": map[string]any{"create": false}},
			check: func(x rendered) {
				for _, o := range x.r.Objects {
					if strings.HasPrefix(o.GetKind(), "ClusterRole") || strings.HasPrefix(o.GetKind(), "Role") {
						x.t.Errorf("%s %s rendered", o.GetKind(), o.GetName())
					}
				}
			},
		},
		"nodeSelector": {
			values: map[string]any{"nodeSelector": map[string]any{"kubernetes.io/os": "linux", "pool": "system"}},
			check: func(x rendered) {
				if ns := x.dep.Spec.Template.Spec.NodeSelector; len(ns) != 2 || ns["pool"] != "system" || ns["kubernetes.io/os"] != "linux" {
					x.t.Errorf("nodeSelector %v", ns)
				}
			},
		},
		"podDisruptionBudget.minAvailable": {
			values: map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": "50%"}},
			check: func(x rendered) {
				var pdb policyv1.PodDisruptionBudget
				into(x, "PodDisruptionBudget", "podguard", &pdb)
				if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.String() != "50%" || pdb.Spec.MaxUnavailable != nil {
					x.t.Errorf("PDB spec %+v, want minAvailable 50%% alone", pdb.Spec)
				}
			},
		},
		"tls.certManager.issuerRef and privateKey": {
			values: map[string]any{"tls": map[string]any{"certManager": map[string]any{
				"issuerRef":  map[string]any{"kind": "ClusterIssuer", "name": "corp-ca", "group": "cert-manager.io"},
				"privateKey": map[string]any{"algorithm": "RSA", "size": 3072},
			}}},
			check: func(x rendered) {
				var kinds []string
				for _, o := range x.r.Objects {
					if o.GetKind() == "Issuer" || o.GetKind() == "Certificate" {
						kinds = append(kinds, o.GetKind()+"/"+o.GetName())
					}
				}
				if !slices.Equal(kinds, []string{"Certificate/podguard-tls"}) {
					x.t.Errorf("cert-manager objects %v, want only the serving Certificate", kinds)
				}
				o, _ := x.r.Find("Certificate", "podguard-tls")
				if ref, _, _ := unstructured.NestedMap(o.Object, "spec", "issuerRef"); fmt.Sprint(ref) != "map[group:cert-manager.io kind:ClusterIssuer name:corp-ca]" {
					x.t.Errorf("issuerRef %v", ref)
				}
				if key, _, _ := unstructured.NestedMap(o.Object, "spec", "privateKey"); fmt.Sprint(key) != "map[algorithm:RSA rotationPolicy:Always size:3072]" {
					x.t.Errorf("privateKey %v", key)
				}
			},
		},
		"webhook selectors and matchConditions": {
			values: map[string]any{"webhook": map[string]any{
				"namespaceSelector": map[string]any{
					"matchLabels":      map[string]any{"env": "prod"},
					"matchExpressions": []any{map[string]any{"key": "podguard.io/ignore", "operator": "DoesNotExist"}},
				},
				"objectSelector":  map[string]any{"matchExpressions": []any{map[string]any{"key": "example.com/unchecked", "operator": "DoesNotExist"}}},
				"matchConditions": []any{map[string]any{"name": "not-ci", "expression": `request.userInfo.username != "system:serviceaccount:ci:deployer"`}},
			}},
			check: func(x rendered) {
				var v admissionregistrationv1.ValidatingWebhookConfiguration
				var m admissionregistrationv1.MutatingWebhookConfiguration
				into(x, "ValidatingWebhookConfiguration", "podguard", &v)
				into(x, "MutatingWebhookConfiguration", "podguard", &m)
				type sel struct {
					ns, obj *metav1.LabelSelector
					conds   []admissionregistrationv1.MatchCondition
				}
				for _, w := range []sel{{v.Webhooks[0].NamespaceSelector, v.Webhooks[0].ObjectSelector, v.Webhooks[0].MatchConditions},
					{m.Webhooks[0].NamespaceSelector, m.Webhooks[0].ObjectSelector, m.Webhooks[0].MatchConditions}} {
					e := w.ns.MatchExpressions
					if len(e) != 2 || e[0].Key != "kubernetes.io/metadata.name" || e[0].Operator != metav1.LabelSelectorOpNotIn || len(e[0].Values) != 4 ||
						e[1].Key != "podguard.io/ignore" || w.ns.MatchLabels["env"] != "prod" {
						x.t.Errorf("namespaceSelector %+v: want the built-in exclusion first, then the operator's", w.ns)
					}
					if w.obj == nil || len(w.obj.MatchExpressions) != 1 || w.obj.MatchExpressions[0].Key != "example.com/unchecked" {
						x.t.Errorf("objectSelector %+v", w.obj)
					}
					if len(w.conds) != 1 || w.conds[0].Name != "not-ci" || !strings.Contains(w.conds[0].Expression, "ci:deployer") {
						x.t.Errorf("matchConditions %+v", w.conds)
					}
				}
			},
		},
		"webhook.prefilter off": {
			values: map[string]any{"webhook": map[string]any{"prefilter": false}},
			check: func(x rendered) {
				if c := x.dep.Spec.Template.Spec.Containers[0]; !slices.Contains(c.Args, "--no-prefilter") {
					x.t.Errorf("args %v lack --no-prefilter", c.Args)
				}
			},
		},
		"webhook.namespaceSelector cannot remove the exclusion": {
			values: map[string]any{"webhook": map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
				map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"kube-system"}},
			}}}},
			check: func(x rendered) {
				var v admissionregistrationv1.ValidatingWebhookConfiguration
				into(x, "ValidatingWebhookConfiguration", "podguard", &v)
				sel, err := metav1.LabelSelectorAsSelector(v.Webhooks[0].NamespaceSelector)
				if err != nil {
					x.t.Fatal(err)
				}
				// Expressions are ANDed: the API server never sends kube-system, whatever is added.
				if sel.Matches(labels.Set{"kubernetes.io/metadata.name": "kube-system"}) {
					x.t.Errorf("namespaceSelector %s selects kube-system", sel)
				}
			},
		},
		"serviceMonitor.tlsConfig": {
			values: map[string]any{"serviceMonitor": map[string]any{"enabled": true, "namespace": "monitoring",
				"tlsConfig": map[string]any{"serverName": "podguard.podguard-system.svc", "ca": map[string]any{"secret": map[string]any{"name": "copied-ca", "key": "ca.crt"}}}}},
			check: func(x rendered) {
				ep := nested(x, "ServiceMonitor", "spec", "endpoints").([]any)[0].(map[string]any)
				if got := fmt.Sprint(ep["tlsConfig"]); got != "map[ca:map[secret:map[key:ca.crt name:copied-ca]] serverName:podguard.podguard-system.svc]" {
					x.t.Errorf("tlsConfig %s", got)
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
	for _, sdk := range SDKs {
		for name, tc := range tests {
			t.Run(string(sdk)+"/"+name, func(t *testing.T) {
				r := render(t, Options{Values: tc.values, SDK: sdk})
				d, err := r.Deployment()
				if err != nil {
					t.Fatal(err)
				}
				tc.check(rendered{t, r, d})
			})
		}
	}
}
