package selftest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/podguard/podguard/policies/engine"
)

func load(t *testing.T, configYAML string) *engine.Engine {
	t.Helper()
	var opts engine.Options
	if configYAML != "" {
		opts.ConfigFile = filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(opts.ConfigFile, []byte(configYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e, err := engine.Load(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestNewPlan builds the two Pods for configurations from the default to strict ones, and
// checks what each must carry; NewPlan itself has the engine confirm that the compliant
// Pod draws no violation and the violating one does.
func TestNewPlan(t *testing.T) {
	tests := map[string]struct {
		config   string
		nsLabels map[string]string
		// want checks the compliant Pod.
		want      func(t *testing.T, c corev1.Container, labels map[string]string)
		rule      string
		refused   bool
		violating func(t *testing.T, c corev1.Container, labels map[string]string)
	}{
		"default configuration": {
			want: func(t *testing.T, c corev1.Container, labels map[string]string) {
				eq(t, "label", labels["app.kubernetes.io/name"], "podguard-selftest")
				eq(t, "cpu", c.Resources.Limits.Cpu().String(), "10m")
				eq(t, "memory request", c.Resources.Requests.Memory().String(), "32Mi")
				if c.LivenessProbe == nil || c.LivenessProbe.TCPSocket == nil || c.ReadinessProbe == nil || c.StartupProbe != nil {
					t.Errorf("probes %+v %+v %+v, want tcpSocket liveness and readiness, no startup", c.LivenessProbe, c.ReadinessProbe, c.StartupProbe)
				}
			},
			rule: "image-tag", refused: true,
			violating: func(t *testing.T, c corev1.Container, _ map[string]string) {
				eq(t, "image", c.Image, "ghcr.io/podguard/podguard:latest")
			},
		},
		"README's team label with allowedRegex": {
			config: `rules: {required-labels: {labels: [{key: app.kubernetes.io/name}, {key: team, allowedRegex: "^[a-z-]+$"}]}}`,
			want: func(t *testing.T, _ corev1.Container, labels map[string]string) {
				eq(t, "team", labels["team"], "podguard-selftest")
			},
			rule: "image-tag", refused: true,
		},
		"a regex the plain names do not match": {
			config: `rules: {required-labels: {labels: [{key: cost-center, allowedRegex: "^cc-[0-9]{4}$"}, {key: tier, allowedRegex: "^(gold|silver)$"}]}}`,
			want: func(t *testing.T, _ corev1.Container, labels map[string]string) {
				eq(t, "cost-center", labels["cost-center"], "cc-0000")
				eq(t, "tier", labels["tier"], "gold")
			},
			rule: "image-tag", refused: true,
		},
		"minima above and maxima below the self-test's amounts": {
			config: `rules:
  resources-requests: {min: {cpu: 250m}}
  resources-limits: {max: {memory: 16Mi}, maxLimitRequestRatio: {cpu: 1, memory: 1}}
defaults: {resources: {requests: {cpu: 250m, memory: 16Mi}, limits: {cpu: 250m, memory: 16Mi}}}`,
			want: func(t *testing.T, c corev1.Container, _ map[string]string) {
				eq(t, "cpu request", c.Resources.Requests.Cpu().String(), "250m")
				eq(t, "cpu limit", c.Resources.Limits.Cpu().String(), "250m")
				eq(t, "memory limit", c.Resources.Limits.Memory().String(), "16Mi")
			},
			rule: "image-tag", refused: true,
		},
		"more resources required": {
			config: `rules: {resources-limits: {resources: [cpu, memory, ephemeral-storage, example.com/widget]}}`,
			want: func(t *testing.T, c corev1.Container, _ map[string]string) {
				eq(t, "ephemeral-storage", c.Resources.Limits.StorageEphemeral().String(), "64Mi")
				w := c.Resources.Limits["example.com/widget"]
				eq(t, "widget", w.String(), "1")
			},
			rule: "image-tag", refused: true,
		},
		"only exec probes accepted, startup probe on": {
			config: `rules:
  liveness-probe: {handlers: [exec]}
  readiness-probe: {handlers: [grpc]}
  startup-probe: {enforcement: deny, handlers: [httpGet]}`,
			want: func(t *testing.T, c corev1.Container, _ map[string]string) {
				if c.LivenessProbe.Exec == nil || c.ReadinessProbe.GRPC == nil || c.StartupProbe == nil || c.StartupProbe.HTTPGet == nil {
					t.Errorf("probes %+v %+v %+v, want exec, grpc, httpGet", c.LivenessProbe, c.ReadinessProbe, c.StartupProbe)
				}
			},
			rule: "image-tag", refused: true,
		},
		"every tag allowed: the image loses its tag": {
			config: `rules: {image-tag: {disallowedTags: []}}`,
			rule:   "image-tag", refused: true,
			violating: func(t *testing.T, c corev1.Container, _ map[string]string) {
				eq(t, "image", c.Image, "ghcr.io/podguard/podguard")
			},
		},
		"image-tag exempts every image: a probe is dropped": {
			config: `rules: {image-tag: {exemptImages: ["*"]}}`,
			rule:   "liveness-probe", refused: true,
			violating: func(t *testing.T, c corev1.Container, _ map[string]string) {
				if c.LivenessProbe != nil {
					t.Error("violating Pod keeps its livenessProbe")
				}
			},
		},
		"only labels denied": {
			config: `rules:
  image-tag: {enforcement: "off"}
  liveness-probe: {enforcement: warn}
  readiness-probe: {enforcement: audit}`,
			rule: "required-labels", refused: true,
			violating: func(t *testing.T, _ corev1.Container, labels map[string]string) {
				if len(labels) != 0 {
					t.Errorf("violating Pod has labels %v", labels)
				}
			},
		},
		"every rule warns: admitted with warnings": {
			config: `rules:
  resources-requests: {enforcement: warn}
  resources-limits: {enforcement: warn}
  liveness-probe: {enforcement: warn}
  readiness-probe: {enforcement: warn}
  required-labels: {enforcement: warn}
  image-tag: {enforcement: warn}`,
			rule: "image-tag", refused: false,
		},
		"deny rules still in their grace period warn": {
			config: `rules:
  liveness-probe: {enforceAfter: "2200-01-01T00:00:00Z"}
  image-tag: {enforcement: "off"}`,
			rule: "readiness-probe", refused: true,
		},
		"an override for the namespace's labels": {
			config:   `namespaces: {overrides: [{namespaceSelector: {matchLabels: {stage: sandbox}}, enforcement: warn, rules: [image-tag]}]}`,
			nsLabels: map[string]string{"stage": "sandbox"},
			rule:     "liveness-probe", refused: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := load(t, tc.config)
			p, err := NewPlan(t.Context(), e, "team-a", tc.nsLabels, "ghcr.io/podguard/podguard:0.1.0")
			if err != nil {
				t.Fatal(err)
			}
			if p.Rule != tc.rule || p.Refused() != tc.refused {
				t.Errorf("breaks %s, refused %v; want %s, %v (expected %+v)", p.Rule, p.Refused(), tc.rule, tc.refused, p.Expect)
			}
			for _, v := range append(p.Expect.Deny, p.Expect.Warn...) {
				if v.Rule != p.Rule {
					t.Errorf("violating Pod also breaks %s: %s", v.Rule, v)
				}
			}
			if p.Compliant.Namespace != "team-a" || p.Violating.Namespace != "team-a" {
				t.Errorf("namespaces %q, %q", p.Compliant.Namespace, p.Violating.Namespace)
			}
			if tc.want != nil {
				tc.want(t, p.Compliant.Spec.Containers[0], p.Compliant.Labels)
			}
			if tc.violating != nil {
				tc.violating(t, p.Violating.Spec.Containers[0], p.Violating.Labels)
			}
		})
	}
}

func TestNewPlanRefuses(t *testing.T) {
	tests := map[string]struct {
		config, namespace, wantErr string
	}{
		"exempt namespace": {
			config: `namespaces: {exempt: [kube-system, "team-*"]}`, namespace: "team-a",
			wantErr: `namespace team-a is exempt from podguard (namespaces.exempt: team-*): podguard never judges Pods there`,
		},
		"minimum above maximum": {
			config:    `{rules: {resources-requests: {min: {memory: 1Gi}}, resources-limits: {max: {memory: 512Mi}}}, defaults: {resources: null}}`,
			namespace: "team-a", wantErr: "memory: the configured minimum 1Gi is above the maximum 512Mi",
		},
		"nothing a client could see": {
			config: `rules:
  image-tag: {enforcement: audit}
  liveness-probe: {enforcement: "off"}
  readiness-probe: {enforcement: "off"}
  required-labels: {enforcement: audit}`,
			namespace: "team-a", wantErr: "is enforced as deny or warn",
		},
		"no label value fits": {
			config:    `rules: {required-labels: {labels: [{key: team, allowedRegex: "^a$"}, {key: team, allowedRegex: "^b$"}]}}`,
			namespace: "team-a", wantErr: "label team: found no label value",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewPlan(t.Context(), load(t, tc.config), tc.namespace, nil, DefaultImage)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	tests := map[string]struct {
		patterns []string
		want     string
	}{
		"no pattern":              {nil, "podguard-selftest"},
		"lower-case and dashes":   {[]string{"^[a-z-]+$"}, "podguard-selftest"},
		"fixed prefix and digits": {[]string{`^team-\d{2,}$`}, "team-00"},
		"alternation":             {[]string{"^(prod|staging)$"}, "prod"},
		"case-insensitive":        {[]string{"(?i)^ABC$"}, "abc"},
		"optional part dropped":   {[]string{"^v[0-9]+(\\.[0-9]+)?$"}, "v0"},
		"unanchored":              {[]string{"[0-9]"}, "0"},
		"two patterns at once":    {[]string{"^[a-z]+$", "^p"}, "podguard"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := labelValue("k", tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("labelValue(%q) = %q, want %q", tc.patterns, got, tc.want)
			}
		})
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
