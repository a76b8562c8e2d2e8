package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/podguard/podguard/test/harness"
)

func metaName(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func TestCompliantPodStoredAsSent(t *testing.T) {
	ns := namespace(t)
	sent := sample(t, "pod-compliant.yaml")
	created, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), sent.DeepCopy(), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("compliant Pod refused: %v", err)
	}
	stored, err := env.cs.CoreV1().Pods(ns).Get(t.Context(), created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The API server defaults other fields; podguard must not have changed any field the
	// author set, nor added its annotation.
	if got, want := stored.Annotations, sent.Annotations; len(got) != len(want) {
		t.Errorf("annotations %v, want %v", got, want)
	}
	if !equalJSON(t, stored.Labels, sent.Labels) {
		t.Errorf("labels %v, want %v", stored.Labels, sent.Labels)
	}
	for i, c := range sent.Spec.Containers {
		s := stored.Spec.Containers[i]
		if s.Image != c.Image || !equalJSON(t, s.Resources, c.Resources) || !equalJSON(t, s.LivenessProbe.ProbeHandler, c.LivenessProbe.ProbeHandler) || !equalJSON(t, s.ReadinessProbe.ProbeHandler, c.ReadinessProbe.ProbeHandler) {
			t.Errorf("container %d stored as %+v, sent %+v", i, s, c)
		}
	}
}

// defaultResources are the resources podguard's default configuration fills in.
var defaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
}

// createNeedsDefaults creates the sample Pod whose only gap is resources in ns, and
// returns it as stored.
func createNeedsDefaults(t *testing.T, ns string) *corev1.Pod {
	t.Helper()
	created, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), sample(t, "pod-needs-defaults.yaml"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Pod whose only gap is resources refused: %v", err)
	}
	stored, err := env.cs.CoreV1().Pods(ns).Get(t.Context(), created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func TestMissingResourcesDefaulted(t *testing.T) {
	stored := createNeedsDefaults(t, namespace(t))
	want := defaultResources
	if got := stored.Spec.Containers[0].Resources; !equalJSON(t, got, want) {
		t.Errorf("stored resources %+v, want %+v", got, want)
	}
	if got, want := stored.Annotations["podguard.io/defaults"], "app:requests.cpu=100m,app:requests.memory=128Mi,app:limits.cpu=500m,app:limits.memory=256Mi"; got != want {
		t.Errorf("annotation %q, want %q", got, want)
	}
}

func TestViolatingPodRefused(t *testing.T) {
	ns := namespace(t)
	pod := sample(t, "pod-needs-defaults.yaml")
	pod.Labels = nil
	pod.Spec.Containers[0].LivenessProbe = nil
	_, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want 403 Forbidden", err)
	}
	code, msg := status(err)
	if code != 403 {
		t.Errorf("code %d, want 403", code)
	}
	for _, want := range []string{
		`admission webhook "validate.podguard.io" denied the request: `,
		`[liveness-probe] container "app": livenessProbe is not set (spec.containers[0].livenessProbe). Fix: `,
		`[required-labels] required label "app.kubernetes.io/name" is not set (metadata.labels["app.kubernetes.io/name"]). Fix: `,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// Resources were filled in by the mutating webhook before validation, so they are
	// not among the reasons.
	if strings.Contains(msg, "resources-") {
		t.Errorf("message blames resources the defaults fill in:\n%s", msg)
	}
}

func TestDryRunSameVerdictStoresNothing(t *testing.T) {
	ns := namespace(t)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	ok := sample(t, "pod-compliant.yaml")
	if _, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), ok, dry); err != nil {
		t.Fatalf("dry-run of a compliant Pod refused: %v", err)
	}
	_, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), sample(t, "pod-violating.yaml"), dry)
	if code, msg := status(err); code != 403 || !strings.Contains(msg, "[image-tag]") {
		t.Errorf("dry-run of a violating Pod: code %d %q, want 403 naming image-tag", code, msg)
	}
	list, err := env.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("dry-run stored %d Pods", len(list.Items))
	}
}

func TestUpdateToLatestImageRefused(t *testing.T) {
	ns := namespace(t)
	pod, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), sample(t, "pod-compliant.yaml"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"containers":[{"name":"app","image":"nginx:latest"}]}}`)
	_, err = env.cs.CoreV1().Pods(ns).Patch(t.Context(), pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	code, msg := status(err)
	if code != 403 || !strings.Contains(msg, `[image-tag] container "app": image "nginx:latest" uses the disallowed tag "latest" (spec.containers[0].image)`) {
		t.Errorf("update to :latest: code %d %q, want 403 naming image-tag", code, msg)
	}
}

func TestLabelEditOnExistingNoncompliantPodAllowed(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t)
	// The Pod predates podguard: create it while podguard is not registered.
	if err := unregister(ctx); err != nil {
		t.Fatal(err)
	}
	pod, createErr := env.cs.CoreV1().Pods(ns).Create(ctx, sample(t, "pod-violating.yaml"), metav1.CreateOptions{})
	if err := register(ctx, env.podguard, admissionregistrationv1.Fail); err != nil {
		t.Fatal(err)
	}
	if createErr != nil {
		t.Fatal(createErr)
	}
	cs, warns := warningClient(t)
	patch, _ := strategicpatch.CreateTwoWayMergePatch(mustJSON(t, corev1.Pod{}), mustJSON(t, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "shop"}}}), corev1.Pod{})
	if _, err := cs.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("label edit on an existing Pod refused: %v", err)
	}
	// The problems it already had are reported, not enforced.
	joined := strings.Join(warns.all(), "\n")
	if !strings.Contains(joined, "[image-tag]") || !strings.Contains(joined, "already present before this update") {
		t.Errorf("warnings %q, want the pre-existing image-tag violation", warns.all())
	}
}

func TestEphemeralContainerLatestRefused(t *testing.T) {
	ns := namespace(t)
	pod, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), sample(t, "pod-compliant.yaml"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debug", Image: "busybox:latest", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullAlways,
	}}}
	_, err = env.cs.CoreV1().Pods(ns).UpdateEphemeralContainers(t.Context(), pod.Name, pod, metav1.UpdateOptions{})
	code, msg := status(err)
	if code != 403 || !strings.Contains(msg, `[image-tag] container "debug": image "busybox:latest" uses the disallowed tag "latest" (spec.ephemeralContainers[0].image)`) {
		t.Errorf("ephemeral :latest container: code %d %q, want 403 naming image-tag on spec.ephemeralContainers[0].image", code, msg)
	}
	pod.Spec.EphemeralContainers[0].Image = "busybox:1.37"
	if _, err := env.cs.CoreV1().Pods(ns).UpdateEphemeralContainers(t.Context(), pod.Name, pod, metav1.UpdateOptions{}); err != nil {
		t.Errorf("ephemeral container with a pinned tag refused: %v", err)
	}
}

func TestSystemNamespacesNotIntercepted(t *testing.T) {
	for _, ns := range []string{"kube-system", harness.Namespace} {
		t.Run(ns, func(t *testing.T) {
			pod := sample(t, "pod-violating.yaml")
			pod.GenerateName, pod.Name = "violating-", ""
			if _, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
				t.Errorf("violating Pod in %s refused: %v", ns, err)
			}
		})
	}
}

func TestWarnModeRuleWarns(t *testing.T) {
	ctx := t.Context()
	withPodguard(t, "rules:\n  required-labels: {enforcement: warn}\n")
	ns := namespace(t)
	cs, warns := warningClient(t)
	pod := sample(t, "pod-compliant.yaml")
	pod.Labels = nil
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Pod breaking only a warn rule refused: %v", err)
	}
	want := `[required-labels] required label "app.kubernetes.io/name" is not set (metadata.labels["app.kubernetes.io/name"]). Fix: add label "app.kubernetes.io/name" to metadata.labels`
	if got := warns.all(); len(got) != 1 || got[0] != want {
		t.Errorf("warnings %q, want [%q]", got, want)
	}
}

func TestPodguardDown(t *testing.T) {
	tests := map[string]struct {
		policy    admissionregistrationv1.FailurePolicyType
		wantAdmit bool
	}{
		"failurePolicy Fail refuses quickly": {policy: admissionregistrationv1.Fail},
		"failurePolicy Ignore admits":        {policy: admissionregistrationv1.Ignore, wantAdmit: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			pg := withPodguard(t, "")
			if err := register(ctx, pg, tc.policy); err != nil {
				t.Fatal(err)
			}
			pg.Stop()
			ns := namespace(t)
			start := time.Now()
			_, err := env.cs.CoreV1().Pods(ns).Create(ctx, sample(t, "pod-compliant.yaml"), metav1.CreateOptions{})
			took := time.Since(start)
			switch {
			case tc.wantAdmit && err != nil:
				t.Errorf("with podguard down and Ignore, Pod refused: %v", err)
			case !tc.wantAdmit && err == nil:
				t.Error("with podguard down and Fail, Pod admitted")
			case !tc.wantAdmit && !strings.Contains(err.Error(), "failed calling webhook"):
				t.Errorf("refused for another reason: %v", err)
			}
			// A refused connection fails at once, well inside the webhook timeout: the
			// error says the connection was refused, not that the call timed out.
			t.Logf("create took %v with podguard down", took)
			if !tc.wantAdmit && err != nil && !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("refused for want of an answer, not at once: %v", err)
			}
			pod := sample(t, "pod-violating.yaml")
			pod.GenerateName, pod.Name = "down-", ""
			if _, err := env.cs.CoreV1().Pods("kube-system").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Errorf("kube-system Pod refused while podguard is down: %v", err)
			}
		})
	}
}

// slowRule outlasts any evaluation deadline for Pods labelled podguard.test/slow (the
// built-in policy tests run at start-up, whose Pods lack the label, stay fast).
const slowRule = `package pod.rules.slow

violation contains {"msg": "never", "field": "spec", "container": "", "fix": "none"} if {
	input.labels["podguard.test/slow"]
	count([x | some x in numbers.range(1, 100000000)]) == 0
}
`

// TestPodguardErrorRefuses: failurePolicy covers only a call that fails (podguard down,
// too slow, a malformed answer). When podguard answers with an error of its own, here an
// evaluation past --eval-timeout, the answer says allowed: false, and the API server
// refuses the Pod whatever the failurePolicy: podguard never lets a Pod through because
// it could not judge it.
func TestPodguardErrorRefuses(t *testing.T) {
	for name, policy := range map[string]admissionregistrationv1.FailurePolicyType{
		"failurePolicy Fail":   admissionregistrationv1.Fail,
		"failurePolicy Ignore": admissionregistrationv1.Ignore,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "slow.rego"), []byte(slowRule), 0o644); err != nil {
				t.Fatal(err)
			}
			pg := withPodguard(t, "", "--policy-dir="+dir, "--eval-timeout=300ms")
			if err := register(ctx, pg, policy); err != nil {
				t.Fatal(err)
			}
			ns := namespace(t)
			if _, err := env.cs.CoreV1().Pods(ns).Create(ctx, sample(t, "pod-compliant.yaml"), metav1.CreateOptions{}); err != nil {
				t.Fatalf("compliant Pod refused: %v", err)
			}
			pod := sample(t, "pod-compliant.yaml")
			pod.Name = "slow"
			pod.Labels["podguard.test/slow"] = "yes"
			_, err := env.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
			want := `admission webhook "validate.podguard.io" denied the request: policy evaluation did not finish within --eval-timeout 300ms`
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Pod whose evaluation timed out: error %v, want it refused with %q", err, want)
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	return string(mustJSON(t, a)) == string(mustJSON(t, b))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
