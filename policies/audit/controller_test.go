package audit

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/policies/engine"
)

// TestCacheKeepsWhatRulesRead holds the informers' transform: status, managed fields and
// kubectl's last-applied copy go, and the spec of an object made by a judged controller
// (Review leaves it to that controller); labels, other annotations and owners stay, and an
// object of its own is judged from the cache as it is stored.
func TestCacheKeepsWhatRulesRead(t *testing.T) {
	e, err := engine.Load(context.Background(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	stored := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "p", Namespace: "ns", Labels: map[string]string{"app.kubernetes.io/name": "p"},
			Annotations:     map[string]string{corev1.LastAppliedConfigAnnotation: "{...}", "team": "a"},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "u", Controller: &yes}},
		},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:latest"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Message: "running"},
	}
	var want []byte
	var before engine.Verdict
	kept, err := stripObject(stored.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	p := kept.(*corev1.Pod)
	switch {
	case p.Status.Phase != "" || p.Status.Message != "":
		t.Errorf("status kept: %+v", p.Status)
	case p.ManagedFields != nil:
		t.Errorf("managed fields kept")
	case p.Annotations[corev1.LastAppliedConfigAnnotation] != "" || p.Annotations["team"] != "a":
		t.Errorf("annotations %v, want team only", p.Annotations)
	case len(p.OwnerReferences) != 1 || p.Labels["app.kubernetes.io/name"] != "p":
		t.Errorf("owner or labels lost: %+v", p.ObjectMeta)
	case len(p.Spec.Containers) != 0:
		t.Errorf("the spec of a Job's Pod kept: %+v", p.Spec)
	}
	raw, err := objectJSON("v1", "Pod", p)
	if err != nil {
		t.Fatal(err)
	}
	// Stored: made by a Job, so left to the Job's verdict, spec or no spec.
	v, err := e.Review(context.Background(), engine.Request{Source: engine.Stored, Operation: engine.Create, Object: engine.BodyOf(raw)})
	if err != nil || v.Skipped != engine.SkipOwned {
		t.Errorf("Stored review of a Job's Pod from the cache: %v %v, want SkipOwned", v.Skipped, err)
	}
	// A Pod of its own keeps its spec, and is judged from the cache as it is stored.
	alone := stored.DeepCopy()
	alone.OwnerReferences = nil
	kept, _ = stripObject(alone.DeepCopy())
	if raw, err = objectJSON("v1", "Pod", kept.(*corev1.Pod)); err != nil {
		t.Fatal(err)
	}
	if want, err = objectJSON("v1", "Pod", alone); err != nil {
		t.Fatal(err)
	}
	if before, err = e.Review(context.Background(), engine.Request{Source: engine.Stored, Operation: engine.Create, Object: engine.BodyOf(want)}); err != nil {
		t.Fatal(err)
	}
	after, err := e.Review(context.Background(), engine.Request{Source: engine.Stored, Operation: engine.Create, Object: engine.BodyOf(raw)})
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Decision.All()) == 0 || len(after.Decision.All()) != len(before.Decision.All()) {
		t.Errorf("judged %d violations from the cache, %d from the stored object", len(after.Decision.All()), len(before.Decision.All()))
	}

	d, _ := stripObject(&appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 3}})
	if d.(*appsv1.Deployment).Status.Replicas != 0 {
		t.Error("Deployment status kept")
	}
	ns, _ := namespaceOnly(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"x": "y"}}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}})
	if n := ns.(*corev1.Namespace); n.Name != "n" || n.Labels["a"] != "b" || n.Annotations != nil || n.Spec.Finalizers != nil {
		t.Errorf("namespace kept as %+v", n)
	}
}
