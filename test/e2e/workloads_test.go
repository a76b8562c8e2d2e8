package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

func sampleDeployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestDeploymentRefusedAtCreate(t *testing.T) {
	ns := namespace(t)
	_, err := env.cs.AppsV1().Deployments(ns).Create(t.Context(), sampleDeployment(t, "deployment-no-probes.yaml"), metav1.CreateOptions{})
	code, msg := status(err)
	want := `[liveness-probe] container "api": livenessProbe is not set (spec.template.spec.containers[0].livenessProbe)`
	if code != 403 || !strings.Contains(msg, want) {
		t.Errorf("non-compliant Deployment: code %d %q, want 403 with %q", code, msg, want)
	}
	// Its missing resources are filled in on its Pods, so they are not held against it.
	if strings.Contains(msg, "resources-") {
		t.Errorf("refused for resources the defaults fill in: %s", msg)
	}
}

// compliantDeployment lacks only a cpu limit.
func compliantDeployment(t *testing.T) *appsv1.Deployment {
	d := sampleDeployment(t, "deployment-no-probes.yaml")
	c := &d.Spec.Template.Spec.Containers[0]
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrString(8080)}}}
	c.LivenessProbe, c.ReadinessProbe = probe, probe.DeepCopy()
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}
	return d
}

func TestLimitRangeFillsDeploymentGap(t *testing.T) {
	// podguard adds no cpu limit here, so only a LimitRange can fill that gap.
	withPodguard(t, "defaults:\n  resources:\n    limits:\n      cpu: null\n")
	ctx := t.Context()
	withLR, without := namespace(t), namespace(t)
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
		}}},
	}
	if _, err := env.cs.CoreV1().LimitRanges(withLR).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// podguard sees the LimitRange through its watch, a moment after it is created.
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, last = env.cs.AppsV1().Deployments(withLR).Create(ctx, compliantDeployment(t), metav1.CreateOptions{})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("Deployment whose gap the LimitRange fills refused: %v", last)
	}
	_, err = env.cs.AppsV1().Deployments(without).Create(ctx, compliantDeployment(t), metav1.CreateOptions{})
	code, msg := status(err)
	want := `[resources-limits] container "api": cpu limit is not set (spec.template.spec.containers[0].resources.limits.cpu)`
	if code != 403 || !strings.Contains(msg, want) {
		t.Errorf("same Deployment without the LimitRange: code %d %q, want 403 with %q", code, msg, want)
	}
}

func TestCronJobCheckedThroughJobTemplate(t *testing.T) {
	ns := namespace(t)
	d := compliantDeployment(t)
	tmpl := d.Spec.Template
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	tmpl.Spec.Containers[0].Image = "registry.example.com/report:latest"
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report"},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: tmpl},
		}},
	}
	_, err := env.cs.BatchV1().CronJobs(ns).Create(t.Context(), cj, metav1.CreateOptions{})
	code, msg := status(err)
	want := `[image-tag] container "api": image "registry.example.com/report:latest" uses the disallowed tag "latest" (spec.jobTemplate.spec.template.spec.containers[0].image)`
	if code != 403 || !strings.Contains(msg, want) {
		t.Errorf("CronJob with a :latest image: code %d %q, want 403 with %q", code, msg, want)
	}
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "registry.example.com/report:1.2.0"
	if _, err := env.cs.BatchV1().CronJobs(ns).Create(t.Context(), cj, metav1.CreateOptions{}); err != nil {
		t.Errorf("compliant CronJob refused: %v", err)
	}
}

func TestControllerPodMessageNamesOwner(t *testing.T) {
	ns := namespace(t)
	pod := sample(t, "pod-violating.yaml")
	yes := true
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7c9d8", UID: "0b5a7d6e-3f5c-4d1e-9a39-5a1f1c0e2b11", Controller: &yes,
	}}
	_, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	code, msg := status(err)
	if code != 403 || !strings.Contains(msg, "(Pod created by ReplicaSet web-7c9d8: fix its pod template)") {
		t.Errorf("controller-made Pod: code %d %q, want 403 naming ReplicaSet web-7c9d8", code, msg)
	}
}
