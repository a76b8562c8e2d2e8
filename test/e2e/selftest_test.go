package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podguard/podguard/test/harness"
)

// readmeStrict is README's configuration example, whose required team label (with an
// allowedRegex), minima, maxima and ratio a fixed helm test Pod would break.
const readmeStrict = `rules:
  resources-requests:
    resources: [cpu, memory]
    min: {cpu: 10m}
    max: {memory: 4Gi}
  resources-limits:
    resources: [cpu, memory]
    max: {memory: 8Gi}
    maxLimitRequestRatio: {cpu: 5}
  liveness-probe:
    handlers: [exec, httpGet]
  required-labels:
    labels:
      - key: app.kubernetes.io/name
      - key: team
        allowedRegex: "^[a-z-]+$"
  image-tag:
    disallowedTags: [latest, main]
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSelftest runs the chart's helm test command, podguard selftest, against the real
// API server: it passes where podguard enforces what the configuration says, and fails,
// naming the difference, where it does not.
func TestSelftest(t *testing.T) {
	allWarn := `rules:
  resources-requests: {enforcement: warn}
  resources-limits: {enforcement: warn}
  liveness-probe: {enforcement: warn}
  readiness-probe: {enforcement: warn}
  required-labels: {enforcement: warn}
  image-tag: {enforcement: warn}
`
	// The registration probe needs a denial elsewhere; these namespaces only warn.
	warnHere := "namespaces: {overrides: [{names: [\"testselftest-*\"], enforcement: warn}]}\n"
	tests := map[string]struct {
		served    string // podguard's configuration; "" is the shared podguard on the defaults
		config    string // the selftest's
		namespace string // "" is a fresh guarded namespace
		code      int
		want      []string
	}{
		"default configuration": {
			code: 0,
			want: []string{"ok: a Pod that follows the configuration is admitted",
				"ok: a Pod that breaks image-tag is refused by validate.podguard.io with podguard's message"},
		},
		"README's strict configuration, served and tested": {
			served: readmeStrict, config: readmeStrict, code: 0,
			want: []string{"ok: a Pod that follows the configuration is admitted",
				"ok: a Pod that breaks image-tag is refused by validate.podguard.io with podguard's message"},
		},
		"every rule warns in the namespace, served and tested": {
			served: warnHere, config: warnHere, code: 0,
			want: []string{"ok: a Pod that follows the configuration is admitted",
				"ok: a Pod that breaks image-tag (enforcement warn in "},
		},
		"podguard denies what the configuration only warns about": {
			config: allWarn, code: 1,
			want: []string{"FAIL: a Pod that breaks image-tag (enforcement warn in ", `refused: admission webhook "validate.podguard.io" denied the request: [image-tag]`},
		},
		"podguard requires a label the configuration does not know": {
			served: readmeStrict, code: 1,
			want: []string{"FAIL: a Pod that follows the configuration is admitted: refused: admission webhook \"validate.podguard.io\" denied the request:",
				`[required-labels] required label "team" is not set`},
		},
		"a namespace podguard is never sent": {
			namespace: harness.Namespace, code: 1,
			want: []string{"FAIL: a Pod that breaks image-tag is refused by validate.podguard.io with podguard's message: admitted; podguard should have refused it with:\n  [image-tag]"},
		},
		"a namespace the configuration exempts": {
			config: "namespaces: {exempt: [kube-system, kube-public, kube-node-lease, \"testselftest-*\"]}\n", code: 2,
			want: []string{"is exempt from podguard (namespaces.exempt: testselftest-*)"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.served != "" {
				withPodguard(t, tc.served)
			}
			ns := tc.namespace
			if ns == "" {
				ns = namespace(t)
			}
			args := []string{"--kubeconfig=" + env.kubeconfig, "--namespace=" + ns, "--image=registry.k8s.io/pause:3.10", "--wait=0s"}
			if tc.config != "" {
				args = append(args, "--config="+writeConfig(t, tc.config))
			}
			out, code, err := harness.Selftest(t.Context(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("podguard selftest %s:\n%s", strings.Join(args, " "), out)
			}
		})
	}
}
