package auditctl

import (
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/test/harness"
)

// TestServeAudit runs the audit controller inside `podguard serve --audit`: the webhook's
// process writes the reports, and its /metrics carries the audit's metric.
func TestServeAudit(t *testing.T) {
	ctx := t.Context()
	createNamespace(t, "audit-serve")
	createNamespace(t, "audit-serve-lease")
	if _, err := env.Clientset.CoreV1().Pods("audit-serve").Create(ctx, pod("bad", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	// Enforcement audit here only, so that the metric's series is this namespace's alone.
	writeConfig(t, config, "namespaces:\n  overrides:\n    - names: [audit-serve]\n      enforcement: audit\n")
	pg := harness.StartForTest(t, harness.Options{Dir: t.TempDir(), Kubeconfig: env.Kubeconfig, ConfigFile: config,
		Args: []string{"--audit", "--audit-lease-namespace", "audit-serve-lease"}})
	waitReport(t, "audit-serve", violations("Pod/bad", "warn", "audit", "image-tag", "liveness-probe", "readiness-probe"), true)
	if !strings.HasPrefix(pg.MetricsURL, "http://") {
		t.Fatalf("metrics at %s", pg.MetricsURL)
	}
	waitMetric(t, pg.MetricsURL+"/metrics", `podguard_audit_violating_objects{enforcement="audit",rule="image-tag"} 1`)
}
