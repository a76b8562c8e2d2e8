package chart

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/test/harness"
)

// TestGolden compares each value set's full rendering (applied objects, test hooks and
// NOTES.txt) with testdata/<set>.yaml, so every change to the output is seen in review.
// go test ./chart -run Golden -update rewrites them.
//
// Helm 4 must render what Helm 3 does: the same golden files.
func TestGolden(t *testing.T) {
	for _, sdk := range SDKs {
		for _, set := range valueSets(t) {
			t.Run(string(sdk)+"/"+set.name, func(t *testing.T) {
				r := render(t, Options{ValueFiles: set.files, SDK: sdk})
				var got bytes.Buffer
				got.Write(YAMLStream(r.Objects))
				got.WriteString("---\n# helm test hooks\n")
				got.Write(YAMLStream(r.Hooks))
				got.WriteString("---\n# NOTES.txt\n")
				for _, line := range strings.Split(strings.TrimRight(r.Notes, "\n"), "\n") {
					got.WriteString(strings.TrimRight("# "+line, " ") + "\n")
				}
				path := filepath.Join("testdata", set.name+".yaml")
				if *update && sdk == Helm3 {
					writeFile(t, path, got.Bytes())
					return
				}
				want, gotBytes := readFile(t, path), got.Bytes()
				if sdk != Helm3 {
					// Helm 4 applies kinds it does not know (the cert-manager and monitoring
					// ones) in another order: the same objects, in a canonical order.
					want, gotBytes = inOrder(t, want), inOrder(t, gotBytes)
				}
				if !bytes.Equal(gotBytes, want) {
					t.Errorf("rendering differs from %s (go test ./chart -run Golden -update rewrites it):\n%s", path, lineDiff(string(want), string(gotBytes)))
				}
			})
		}
	}
}

// inOrder sorts the applied objects of a golden rendering by template, kind and name.
func inOrder(t *testing.T, golden []byte) []byte {
	t.Helper()
	objects, rest, ok := bytes.Cut(golden, []byte("---\n# helm test hooks\n"))
	if !ok {
		t.Fatal("no helm test hooks in the rendering")
	}
	objs, err := splitManifest(string(objects))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(objs, func(a, b Object) int {
		return strings.Compare(a.Source+" "+a.GetKind()+" "+a.GetName(), b.Source+" "+b.GetKind()+" "+b.GetName())
	})
	return append(append(YAMLStream(objs), "---\n# helm test hooks\n"...), rest...)
}

// TestWebhooksMatchHarness keeps the chart and the real-API-server tests registering
// podguard the same way: harness.Webhooks is what those tests prove correct, so the
// chart's default rendering must equal it in everything but how podguard is reached, and
// its failurePolicy: the chart registers with Ignore and asks, by annotation, for the
// Fail that a ready podguard then sets (test/install). The timeout is the chart's own
// (checked here against the value) and the harness's the API server's longest, so that a
// busy machine slows the real-API-server tests without failing them.
func TestWebhooksMatchHarness(t *testing.T) {
	r := render(t, Options{ReleaseName: "podguard", Namespace: harness.Namespace})
	vwc, mwc := webhookConfigs(t, r)
	wantV, wantM := harness.Webhooks("", nil, admissionregistrationv1.Ignore)
	for _, a := range []map[string]string{vwc.Annotations, mwc.Annotations} {
		if a["podguard.io/failure-policy"] != "Fail" {
			t.Errorf("annotation podguard.io/failure-policy %q, want Fail", a["podguard.io/failure-policy"])
		}
	}

	for _, c := range []struct {
		name      string
		got, want any
		clients   []admissionregistrationv1.WebhookClientConfig
		paths     []string
		annotated string
	}{
		{"validating", vwc.Webhooks, wantV.Webhooks, clientConfigs(vwc), []string{"/validate"}, vwc.Annotations["cert-manager.io/inject-ca-from"]},
		{"mutating", mwc.Webhooks, wantM.Webhooks, clientConfigs(mwc), []string{"/mutate"}, mwc.Annotations["cert-manager.io/inject-ca-from"]},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, want := withoutClientConfig(t, c.got), withoutClientConfig(t, c.want)
			if n := strings.Count(got, "timeoutSeconds: 5\n"); n != len(c.paths) {
				t.Errorf("%d webhooks with timeoutSeconds 5 (values.yaml webhook.timeoutSeconds), want %d:\n%s", n, len(c.paths), got)
			}
			got = strings.ReplaceAll(got, "timeoutSeconds: 5\n", fmt.Sprintf("timeoutSeconds: %d\n", harness.TimeoutSeconds))
			if got != want {
				t.Errorf("chart webhooks differ from harness.Webhooks:\n%s", lineDiff(want, got))
			}
			for i, cc := range c.clients {
				s := cc.Service
				if s == nil || s.Name != "podguard" || s.Namespace != harness.Namespace || s.Path == nil || *s.Path != c.paths[i] || s.Port == nil || *s.Port != 443 || cc.URL != nil {
					t.Errorf("clientConfig = %s, want service podguard/%s port 443 path %s", toYAML(t, cc), harness.Namespace, c.paths[i])
				}
				if len(cc.CABundle) != 0 {
					t.Errorf("caBundle is rendered; with cert-manager it must come from the cainjector only")
				}
			}
			if want := harness.Namespace + "/podguard-tls"; c.annotated != want {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want %q", c.annotated, want)
			}
		})
	}
}

// allowedRules are the only (group, resource) pairs podguard may ever be sent, with the
// operations allowed for each. Anything else (nodes, leases, status, a wildcard) could
// make a podguard outage an outage of the control plane.
var allowedRules = map[string][]string{
	"/pods":                     {"CREATE", "UPDATE"},
	"/pods/ephemeralcontainers": {"UPDATE"},
	"/pods/resize":              {"UPDATE"},
	"/replicationcontrollers":   {"CREATE", "UPDATE"},
	"apps/deployments":          {"CREATE", "UPDATE"},
	"apps/statefulsets":         {"CREATE", "UPDATE"},
	"apps/daemonsets":           {"CREATE", "UPDATE"},
	"apps/replicasets":          {"CREATE", "UPDATE"},
	"batch/jobs":                {"CREATE", "UPDATE"},
	"batch/cronjobs":            {"CREATE", "UPDATE"},
}

// TestWebhookInvariants checks, for every value set, what must hold whatever the values:
// the scope, the excluded namespaces, the registration settings, and that failurePolicy,
// timeoutSeconds and the TLS mode come from the values.
func TestWebhookInvariants(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			const ns = "guard"
			r := render(t, Options{ValueFiles: set.files, Namespace: ns, ReleaseName: "pg"})
			vals := mergedValues(t, set.files)
			// Rendered without a cluster, every webhook starts with Ignore; the value is
			// the annotation a ready podguard follows.
			wantPolicy := admissionregistrationv1.Ignore
			askedPolicy := fmt.Sprint(vals["webhook"].(map[string]any)["failurePolicy"])
			wantTimeout := fmt.Sprint(vals["webhook"].(map[string]any)["timeoutSeconds"])
			wantExcluded := []string{"kube-system", "kube-public", "kube-node-lease", ns}
			for _, n := range vals["webhook"].(map[string]any)["excludedNamespaces"].([]any) {
				wantExcluded = append(wantExcluded, n.(string))
			}
			tlsMode := vals["tls"].(map[string]any)["mode"]

			vwc, mwc := webhookConfigs(t, r)
			type common struct {
				name     string
				rules    []admissionregistrationv1.RuleWithOperations
				settings admissionregistrationv1.ValidatingWebhook
				client   admissionregistrationv1.WebhookClientConfig
			}
			var hooks []common
			for _, w := range vwc.Webhooks {
				hooks = append(hooks, common{w.Name, w.Rules, w, w.ClientConfig})
			}
			for _, w := range mwc.Webhooks {
				hooks = append(hooks, common{w.Name, w.Rules, admissionregistrationv1.ValidatingWebhook{
					FailurePolicy: w.FailurePolicy, TimeoutSeconds: w.TimeoutSeconds, SideEffects: w.SideEffects,
					MatchPolicy: w.MatchPolicy, AdmissionReviewVersions: w.AdmissionReviewVersions, NamespaceSelector: w.NamespaceSelector,
				}, w.ClientConfig})
			}
			if len(hooks) != 2 {
				t.Fatalf("%d webhooks, want validate and mutate", len(hooks))
			}
			for _, h := range hooks {
				s := h.settings
				if s.FailurePolicy == nil || *s.FailurePolicy != wantPolicy {
					t.Errorf("%s: failurePolicy %v, want %s", h.name, s.FailurePolicy, wantPolicy)
				}
				if s.TimeoutSeconds == nil || fmt.Sprint(*s.TimeoutSeconds) != wantTimeout {
					t.Errorf("%s: timeoutSeconds %v, want %s", h.name, s.TimeoutSeconds, wantTimeout)
				}
				if s.SideEffects == nil || *s.SideEffects != admissionregistrationv1.SideEffectClassNone {
					t.Errorf("%s: sideEffects %v, want None", h.name, s.SideEffects)
				}
				if s.MatchPolicy == nil || *s.MatchPolicy != admissionregistrationv1.Equivalent {
					t.Errorf("%s: matchPolicy %v, want Equivalent", h.name, s.MatchPolicy)
				}
				if !slices.Equal(s.AdmissionReviewVersions, []string{"v1"}) {
					t.Errorf("%s: admissionReviewVersions %v, want [v1]", h.name, s.AdmissionReviewVersions)
				}
				sel := s.NamespaceSelector
				if sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 ||
					sel.MatchExpressions[0].Key != "kubernetes.io/metadata.name" || sel.MatchExpressions[0].Operator != "NotIn" ||
					!slices.Equal(sel.MatchExpressions[0].Values, wantExcluded) {
					t.Errorf("%s: namespaceSelector %s, want only kubernetes.io/metadata.name NotIn %v", h.name, toYAML(t, sel), wantExcluded)
				}
				for _, rule := range h.rules {
					if rule.Scope == nil || *rule.Scope != admissionregistrationv1.NamespacedScope {
						t.Errorf("%s: rule %s is not scope Namespaced", h.name, toYAML(t, rule))
					}
					for _, g := range rule.APIGroups {
						for _, res := range rule.Resources {
							allowed, ok := allowedRules[g+"/"+res]
							if !ok {
								t.Errorf("%s: matches %s/%s, which podguard must never be sent", h.name, g, res)
							}
							for _, op := range rule.Operations {
								if !slices.Contains(allowed, string(op)) {
									t.Errorf("%s: matches %s on %s/%s", h.name, op, g, res)
								}
							}
						}
					}
				}
				switch tlsMode {
				case "certManager":
					if len(h.client.CABundle) != 0 {
						t.Errorf("%s: caBundle rendered in certManager mode", h.name)
					}
				case "secret":
					want := vals["tls"].(map[string]any)["caBundle"].(string)
					if string(h.client.CABundle) != want {
						t.Errorf("%s: caBundle %q, want tls.caBundle", h.name, h.client.CABundle)
					}
				}
			}
			for _, obj := range []map[string]string{vwc.Annotations, mwc.Annotations} {
				if obj["podguard.io/failure-policy"] != askedPolicy {
					t.Errorf("annotation podguard.io/failure-policy %q, want webhook.failurePolicy %s", obj["podguard.io/failure-policy"], askedPolicy)
				}
				_, injected := obj["cert-manager.io/inject-ca-from"]
				if injected != (tlsMode == "certManager") {
					t.Errorf("inject-ca-from annotation present: %v, tls.mode %v", injected, tlsMode)
				}
			}
		})
	}
}

// TestDeployment checks the availability settings of the rendered Deployment that the
// issue and the reliability notes ask for, and that the webhook and the Service agree.
func TestDeployment(t *testing.T) {
	for _, set := range valueSets(t) {
		t.Run(set.name, func(t *testing.T) {
			r := render(t, Options{ValueFiles: set.files})
			vals := mergedValues(t, set.files)
			obj, ok := r.Find("Deployment", "podguard")
			if !ok {
				t.Fatalf("no Deployment; rendered %v", r.Kinds())
			}
			var d appsv1.Deployment
			if err := obj.Into(&d); err != nil {
				t.Fatal(err)
			}
			autoscaling := vals["autoscaling"].(map[string]any)["enabled"] == true
			if autoscaling != (d.Spec.Replicas == nil) {
				t.Errorf("replicas %v with autoscaling %v: the HPA must own the replica count alone", d.Spec.Replicas, autoscaling)
			}
			if !autoscaling && *d.Spec.Replicas < 2 {
				t.Errorf("replicas %d, want at least 2", *d.Spec.Replicas)
			}
			if _, ok := r.Find("HorizontalPodAutoscaler", "podguard"); ok != autoscaling {
				t.Errorf("HorizontalPodAutoscaler rendered: %v, autoscaling.enabled %v", ok, autoscaling)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %s, want maxUnavailable 0", toYAML(t, d.Spec.Strategy))
			}
			if _, ok := r.Find("PodDisruptionBudget", "podguard"); !ok {
				t.Error("no PodDisruptionBudget")
			}
			spec := d.Spec.Template.Spec
			if len(spec.TopologySpreadConstraints) == 0 {
				t.Error("no topologySpreadConstraints")
			}
			for _, c := range spec.TopologySpreadConstraints {
				if c.LabelSelector == nil || len(c.LabelSelector.MatchLabels) == 0 {
					t.Errorf("topology spread on %s has no labelSelector", c.TopologyKey)
				}
			}
			if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot ||
				spec.SecurityContext.SeccompProfile == nil || spec.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
				t.Errorf("pod securityContext %s is not restricted", toYAML(t, spec.SecurityContext))
			}
			if len(spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(spec.Containers))
			}
			c := spec.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil ||
				!*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("container securityContext %s is not restricted", toYAML(t, sc))
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("readinessProbe %s, want GET /readyz", toYAML(t, c.ReadinessProbe))
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("livenessProbe %s, want GET /healthz", toYAML(t, c.LivenessProbe))
			}
			server := vals["server"].(map[string]any)
			port := vals["webhook"].(map[string]any)["port"]
			for _, want := range []string{
				fmt.Sprintf("--eval-timeout=%vs", server["evalTimeoutSeconds"]),
				fmt.Sprintf("--shutdown-delay=%vs", server["shutdownDelaySeconds"]),
				"--cert-dir=/etc/podguard/certs", fmt.Sprintf("--port=%v", port),
			} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %v lack %s", c.Args, want)
				}
			}
			if len(c.Ports) == 0 || c.Ports[0].Name != "https" || fmt.Sprint(c.Ports[0].ContainerPort) != fmt.Sprint(port) {
				t.Errorf("container ports %v, want https on webhook.port %v", c.Ports, port)
			}
			if spec.HostNetwork != (vals["hostNetwork"] == true) || spec.HostNetwork != (spec.DNSPolicy == corev1.DNSClusterFirstWithHostNet) {
				t.Errorf("hostNetwork %v with dnsPolicy %q; values say %v", spec.HostNetwork, spec.DNSPolicy, vals["hostNetwork"])
			}
			if grace := spec.TerminationGracePeriodSeconds; grace == nil || float64(*grace) <= server["shutdownDelaySeconds"].(float64) {
				t.Errorf("terminationGracePeriodSeconds %v does not exceed the shutdown delay", grace)
			}
			var memLimit *corev1.EnvVar
			for i, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					memLimit = &c.Env[i]
				}
			}
			if memLimit == nil || memLimit.ValueFrom == nil || memLimit.ValueFrom.ResourceFieldRef == nil ||
				memLimit.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || !memLimit.ValueFrom.ResourceFieldRef.Divisor.IsZero() {
				t.Errorf("GOMEMLIMIT %s, want the container's limits.memory in bytes", toYAML(t, memLimit))
			}
			if c.Resources.Limits.Memory().IsZero() {
				t.Error("no memory limit: GOMEMLIMIT would be the node's memory")
			}
			secure := vals["metrics"].(map[string]any)["secure"] == true
			metricsPort := map[bool]int32{true: 8443, false: 8080}[secure]
			for _, want := range []string{fmt.Sprintf("--metrics-secure=%v", secure), fmt.Sprintf("--metrics-bind-address=:%d", metricsPort)} {
				if !slices.Contains(c.Args, want) {
					t.Errorf("args %v lack %s", c.Args, want)
				}
			}
			if i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" }); i < 0 || c.Ports[i].ContainerPort != metricsPort {
				t.Errorf("ports %v, want metrics on %d", c.Ports, metricsPort)
			}
			if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") && !strings.Contains(c.Image, "@") {
				t.Errorf("image %q is not pinned", c.Image)
			}
			if set.name == "default" {
				c, err := Load()
				if err != nil {
					t.Fatal(err)
				}
				if want := "ghcr.io/podguard/podguard:" + c.Metadata.AppVersion; spec.Containers[0].Image != want {
					t.Errorf("image %q, want %q (the chart's appVersion)", spec.Containers[0].Image, want)
				}
			}
		})
	}
}

// TestRBAC keeps podguard's permissions to what it uses: list and watch LimitRanges and
// Namespaces, get and update its own two webhook configurations by name, and, with metrics.secure, create TokenReviews and SubjectAccessReviews to
// check who calls /metrics; readers get the metrics-reader ClusterRole, bound to the
// subjects of metrics.readers.
func TestRBAC(t *testing.T) {
	watch := map[string]any{"apiGroups": []any{""}, "resources": []any{"limitranges", "namespaces"}, "verbs": []any{"list", "watch"}}
	register := map[string]any{"apiGroups": []any{"admissionregistration.k8s.io"}, "resources": []any{"validatingwebhookconfigurations", "mutatingwebhookconfigurations"},
		"resourceNames": []any{"podguard"}, "verbs": []any{"get", "update"}}
	review := []map[string]any{
		{"apiGroups": []any{"authentication.k8s.io"}, "resources": []any{"tokenreviews"}, "verbs": []any{"create"}},
		{"apiGroups": []any{"authorization.k8s.io"}, "resources": []any{"subjectaccessreviews"}, "verbs": []any{"create"}},
	}
	reader := map[string]any{"nonResourceURLs": []any{"/metrics"}, "verbs": []any{"get"}}
	// secureRoles are those of metrics.secure: podguard checks its scrapers' tokens.
	secureRoles := map[string][]map[string]any{
		"podguard":                {watch, register, review[0], review[1]},
		"podguard-metrics-reader": {reader},
	}
	serviceAccount := map[string]any{"kind": "ServiceAccount", "name": "podguard", "namespace": "podguard-system"}
	cases := map[string]struct {
		values   map[string]any
		roles    map[string][]map[string]any
		subjects map[string][]map[string]any
	}{
		"default (metrics.secure)": {
			values: nil,
			roles:  secureRoles,
			subjects: map[string][]map[string]any{
				"podguard": {serviceAccount},
			},
		},
		"metrics readers": {
			values: map[string]any{"metrics": map[string]any{"readers": []any{
				map[string]any{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"},
				map[string]any{"kind": "ServiceAccount", "name": "scraper"},
				map[string]any{"kind": "Group", "name": "sre"},
			}}},
			roles: secureRoles,
			subjects: map[string][]map[string]any{
				"podguard": {serviceAccount},
				"podguard-metrics-reader": {
					{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"},
					{"kind": "ServiceAccount", "name": "scraper", "namespace": "podguard-system"},
					{"kind": "Group", "name": "sre", "apiGroup": "rbac.authorization.k8s.io"},
				},
			},
		},
		"plain metrics": {
			values: map[string]any{"metrics": map[string]any{"secure": false}},
			roles:  map[string][]map[string]any{"podguard": {watch, register}},
			subjects: map[string][]map[string]any{
				"podguard": {serviceAccount},
			},
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			r := render(t, Options{Values: c.values})
			roles := map[string][]map[string]any{}
			subjects := map[string][]map[string]any{}
			for _, o := range r.Objects {
				switch o.GetKind() {
				case "ClusterRole", "Role":
					rs, _ := o.Object["rules"].([]any)
					roles[o.GetName()] = nil
					for _, x := range rs {
						roles[o.GetName()] = append(roles[o.GetName()], x.(map[string]any))
					}
				case "ClusterRoleBinding", "RoleBinding":
					ss, _ := o.Object["subjects"].([]any)
					for _, x := range ss {
						subjects[o.GetName()] = append(subjects[o.GetName()], x.(map[string]any))
					}
				}
			}
			if toYAML(t, roles) != toYAML(t, c.roles) {
				t.Errorf("roles:\n%s\nwant:\n%s", toYAML(t, roles), toYAML(t, c.roles))
			}
			if toYAML(t, subjects) != toYAML(t, c.subjects) {
				t.Errorf("bindings:\n%s\nwant:\n%s", toYAML(t, subjects), toYAML(t, c.subjects))
			}
		})
	}
}

func webhookConfigs(t *testing.T, r *Release) (*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	return single[admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration"),
		single[admissionregistrationv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration")
}

// single decodes the one applied object of that kind; the test ends unless there is
// exactly one.
func single[T any](t *testing.T, r *Release, kind string) *T {
	t.Helper()
	var found []Object
	for _, o := range r.Objects {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d of kind %s rendered, want one: %v", len(found), kind, r.Kinds())
	}
	v := new(T)
	if err := found[0].Into(v); err != nil {
		t.Fatal(err)
	}
	return v
}

func clientConfigs(c any) []admissionregistrationv1.WebhookClientConfig {
	var out []admissionregistrationv1.WebhookClientConfig
	switch c := c.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			out = append(out, w.ClientConfig)
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for _, w := range c.Webhooks {
			out = append(out, w.ClientConfig)
		}
	}
	return out
}

// withoutClientConfig returns the webhooks as YAML with clientConfig removed: the chart
// reaches podguard through its Service, the harness through a URL.
func withoutClientConfig(t *testing.T, webhooks any) string {
	t.Helper()
	var generic []map[string]any
	if err := yaml.Unmarshal([]byte(toYAML(t, webhooks)), &generic); err != nil {
		t.Fatal(err)
	}
	for _, w := range generic {
		delete(w, "clientConfig")
	}
	return toYAML(t, generic)
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineDiff is a plain line-by-line comparison, enough to point at a change.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// TestServiceMonitor: with metrics.secure the ServiceMonitor scrapes over HTTPS with
// Prometheus's ServiceAccount token, checks the serving certificate by the Service's DNS
// name (one of the certificate's names) against its CA, and reaches the port podguard
// serves; without it, plain HTTP.
func TestServiceMonitor(t *testing.T) {
	secretTLS := filepath.Join(Dir(), "ci", "secret-tls-values.yaml")
	cases := map[string]struct {
		files  []string
		values map[string]any
		want   string
	}{
		"cert-manager": {nil, map[string]any{"serviceMonitor": map[string]any{"enabled": true}}, `- bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  interval: 30s
  path: /metrics
  port: metrics
  scheme: https
  scrapeTimeout: 10s
  tlsConfig:
    ca:
      secret:
        key: ca.crt
        name: podguard-tls
    serverName: podguard.podguard-system.svc
`},
		"a Secret of the operator's": {[]string{secretTLS}, map[string]any{"serviceMonitor": map[string]any{"enabled": true}}, `- bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  interval: 30s
  path: /metrics
  port: metrics
  scheme: https
  scrapeTimeout: 10s
  tlsConfig:
    ca:
      configMap:
        key: ca.crt
        name: podguard-ca
    serverName: podguard.podguard-system.svc
`},
		"plain metrics": {nil, map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "metrics": map[string]any{"secure": false}}, `- interval: 30s
  path: /metrics
  port: metrics
  scheme: http
  scrapeTimeout: 10s
`},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			r := render(t, Options{ValueFiles: c.files, Values: c.values})
			sm, ok := r.Find("ServiceMonitor", "podguard")
			if !ok {
				t.Fatalf("no ServiceMonitor; rendered %v", r.Kinds())
			}
			endpoints, _ := sm.Object["spec"].(map[string]any)["endpoints"]
			if got := toYAML(t, endpoints); got != c.want {
				t.Errorf("endpoints:\n%s\nwant:\n%s", got, c.want)
			}
			svc, ok := r.Find("Service", "podguard")
			if !ok {
				t.Fatal("no Service")
			}
			var s corev1.Service
			if err := svc.Into(&s); err != nil {
				t.Fatal(err)
			}
			secure := !strings.Contains(c.want, "scheme: http\n")
			if i := slices.IndexFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }); i < 0 ||
				s.Spec.Ports[i].Port != map[bool]int32{true: 8443, false: 8080}[secure] || s.Spec.Ports[i].TargetPort.String() != "metrics" {
				t.Errorf("Service ports %v", s.Spec.Ports)
			}
			if cert, ok := r.Find("Certificate", "podguard-tls"); ok != (c.files == nil) {
				t.Errorf("serving Certificate rendered: %v", ok)
			} else if ok {
				names, _ := cert.Object["spec"].(map[string]any)["dnsNames"].([]any)
				if !slices.Contains(names, any("podguard.podguard-system.svc")) {
					t.Errorf("the serving certificate's names %v lack the ServiceMonitor's serverName", names)
				}
			}
			if ca, ok := r.Find("ConfigMap", "podguard-ca"); ok != strings.Contains(c.want, "configMap") {
				t.Errorf("ConfigMap podguard-ca rendered: %v", ok)
			} else if ok {
				data, _ := ca.Object["data"].(map[string]any)
				if !strings.HasPrefix(fmt.Sprint(data["ca.crt"]), "-----BEGIN CERTIFICATE-----") {
					t.Errorf("podguard-ca holds %v, want tls.caBundle", data)
				}
			}
		})
	}
}
