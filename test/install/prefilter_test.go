package install

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/podguard/podguard/policies/prefilter"
	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/harness"
)

// TestPrefilter: with the chart's configurations (an operator's own matchCondition
// among them), a ready podguard writes its generated conditions; the real API server
// then creates a compliant Pod without calling podguard (its metrics count no review),
// still refuses a violating one with podguard's message and patches one missing a default.
func TestPrefilter(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c, proxy := harness.StartClusterBehindProxy(t)
	cs := c.Clientset
	kubeconfig := harness.AdminKubeconfig(t, c)
	operator := map[string]any{"name": "not-ci", "expression": `request.userInfo.username != "ci"`}
	vals := map[string]any{"tls": map[string]any{"mode": "helm"}, "webhook": map[string]any{"matchConditions": []any{operator}}}
	if err := newHelm(t, chart.SDKs[0], kubeconfig).install(ctx, vals); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	secret, err := cs.CoreV1().Secrets(namespace).Get(ctx, release+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Its metrics read over plain HTTP here, without the chart's token check.
	pg := startReplica(t, c, filepath.Join(dir, "replica"), secret, "--metrics-secure")
	proxy.Route(serviceAddress(t, cs), strings.TrimPrefix(pg.URL, "https://"))
	waitUntil(t, "Fail and podguard's conditions after the operator's on both webhooks", func(ctx context.Context) (bool, error) {
		ok, err := policiesAre(ctx, cs, admissionregistrationv1.Fail)
		if err != nil || !ok {
			return false, err
		}
		return conditionsWritten(ctx, cs)
	})

	reviews := func() int { return decisionsTotal(t, pg) }
	before := reviews()
	if _, err := cs.CoreV1().Pods(guarded).Create(ctx, completePod("complete"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("compliant Pod: %v", err)
	}
	if got := reviews(); got != before {
		t.Errorf("podguard answered %d reviews for a Pod its prefilters skip", got-before)
	}

	_, err = cs.CoreV1().Pods(guarded).Create(ctx, violatingPod("violating"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), `admission webhook "validate.podguard.io" denied the request`) ||
		!strings.Contains(err.Error(), "livenessProbe is not set") {
		t.Errorf("violating Pod: %v, want podguard's refusal", err)
	}

	needs := completePod("needs-defaults")
	delete(needs.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
	got, err := cs.CoreV1().Pods(guarded).Create(ctx, needs, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("Pod missing a memory limit: %v", err)
	}
	if q := got.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; q.String() != "256Mi" {
		t.Errorf("memory limit after admission: %q, want podguard's default 256Mi", q.String())
	}
	// The violating Pod has no resources: both webhooks are called. The patched one is
	// compliant once patched, so the API server skips /validate for it.
	if after := reviews(); after != before+3 {
		t.Errorf("podguard answered %d reviews for a violating Pod and one it patched, want 3", after-before)
	}

	// A stricter configuration (startup probes required): once podguard has loaded it,
	// its conditions follow, and the Pod they skipped before is refused.
	config := filepath.Join(dir, "replica", "mounts", "config", "config.yaml")
	if err := os.WriteFile(config, []byte("rules:\n  startup-probe:\n    enforcement: deny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the complete Pod refused for its missing startupProbe", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(guarded).Create(ctx, completePod("stricter"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "startupProbe is not set"), nil
	})
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if conds := v.Webhooks[0].MatchConditions; len(conds) != 2 || !strings.Contains(conds[1].Expression, "startupProbe") {
		t.Errorf("validating conditions after the reload: %+v, want podguard's with startupProbe", conds)
	}
}

// completePod complies with every default rule and has every default.
func completePod(name string) *corev1.Pod {
	p := compliantPod(name)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	p.Spec.Containers[0].LivenessProbe, p.Spec.Containers[0].ReadinessProbe = probe, probe
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	return p
}

func conditionsWritten(ctx context.Context, cs kubernetes.Interface) (bool, error) {
	v, m, err := harness.GetWebhooks(ctx, cs, release)
	if err != nil {
		return false, err
	}
	names := func(cs []admissionregistrationv1.MatchCondition) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, ",")
	}
	return names(v.Webhooks[0].MatchConditions) == "not-ci,"+prefilter.ValidatingName &&
		names(m.Webhooks[0].MatchConditions) == "not-ci,"+prefilter.MutatingName, nil
}

var decisionLine = regexp.MustCompile(`(?m)^podguard_decisions_total\{[^}]*\} (\d+)$`)

// decisionsTotal is the number of reviews podguard answered, by its metrics.
func decisionsTotal(t *testing.T, pg *harness.Podguard) int {
	t.Helper()
	resp, err := pg.Client().Get(pg.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range decisionLine.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", fmt.Sprint(resp.Status))
	}
	return n
}
