package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/test/harness"
)

// TestResizeHeldToMax resizes a running Pod's memory limit in place (the resize
// subresource): within resources-limits' max it is allowed, past it it is refused with
// the rule's message, and the stored Pod keeps its last allowed value.
func TestResizeHeldToMax(t *testing.T) {
	withPodguard(t, "rules:\n  resources-limits:\n    max: {memory: 1Gi}\n")
	ns := namespace(t)
	pods := env.cs.CoreV1().Pods(ns)
	pod, err := pods.Create(t.Context(), sample(t, "pod-compliant.yaml"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("compliant Pod refused: %v", err)
	}
	resize := func(memory string) error {
		current, err := pods.Get(t.Context(), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		current.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse(memory)
		_, err = pods.UpdateResize(t.Context(), pod.Name, current, metav1.UpdateOptions{})
		return err
	}
	if err := resize("512Mi"); err != nil {
		t.Fatalf("resize to 512Mi (within max 1Gi) refused: %v", err)
	}
	err = resize("4Gi")
	code, msg := status(err)
	want := `[resources-limits] container "app": memory limit "4Gi" is above the maximum "1Gi" (spec.containers[0].resources.limits.memory)`
	if code != 403 || !strings.Contains(msg, want) {
		t.Errorf("resize to 4Gi: code %d %q, want 403 containing %q", code, msg, want)
	}
	stored, err := pods.Get(t.Context(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; got.String() != "512Mi" {
		t.Errorf("stored memory limit %s, want 512Mi", got.String())
	}
}

// TestPodLevelResourcesStandForContainers creates a Pod whose resources are set for the
// Pod as a whole (spec.resources) and not per container: it is admitted, and podguard
// adds no container defaults next to the Pod's own values.
func TestPodLevelResourcesStandForContainers(t *testing.T) {
	ns := namespace(t)
	pod := sample(t, "pod-compliant.yaml")
	pod.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("400m"), corev1.ResourceMemory: resource.MustParse("200Mi")},
	}
	app := pod.Spec.Containers[0]
	app.Resources = corev1.ResourceRequirements{}
	helper := *app.DeepCopy()
	helper.Name = "helper"
	helper.LivenessProbe.TCPSocket.Port = intOrString(9090)
	helper.ReadinessProbe.TCPSocket.Port = intOrString(9090)
	pod.Spec.Containers = []corev1.Container{app, helper}

	created, err := env.cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Pod with pod-level resources refused: %v", err)
	}
	stored, err := env.cs.CoreV1().Pods(ns).Get(t.Context(), created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Spec.Resources == nil || !equalJSON(t, *stored.Spec.Resources, *pod.Spec.Resources) {
		t.Fatalf("stored pod-level resources %+v, want %+v (is PodLevelResources enabled?)", stored.Spec.Resources, pod.Spec.Resources)
	}
	for _, c := range stored.Spec.Containers {
		if len(c.Resources.Requests) != 0 || len(c.Resources.Limits) != 0 {
			t.Errorf("container %q stored with resources %+v; the Pod's own values cover it", c.Name, c.Resources)
		}
	}
	if got, ok := stored.Annotations["podguard.io/defaults"]; ok {
		t.Errorf("podguard.io/defaults = %q; nothing should have been added", got)
	}
}

// TestInjectedSidecarGetsDefaults registers a second mutating webhook that runs after
// podguard's (configurations run in name order) and injects a container without
// resources. The API server calls podguard again (reinvocationPolicy IfNeeded), so the
// injected container gets its defaults, and the Pod is admitted.
func TestInjectedSidecarGetsDefaults(t *testing.T) {
	ns := namespace(t)
	injectSidecar(t, ns)

	stored := createNeedsDefaults(t, ns)
	want := defaultResources
	var names []string
	for _, c := range stored.Spec.Containers {
		names = append(names, c.Name)
		if !equalJSON(t, c.Resources, want) {
			t.Errorf("container %q stored with resources %+v, want %+v", c.Name, c.Resources, want)
		}
	}
	if len(names) != 2 || names[1] != "sidecar" {
		t.Fatalf("stored containers %v, want app and the injected sidecar", names)
	}
	got := stored.Annotations["podguard.io/defaults"]
	for _, note := range []string{"app:requests.cpu=100m", "sidecar:requests.cpu=100m", "sidecar:limits.memory=256Mi"} {
		if !strings.Contains(got, note) {
			t.Errorf("podguard.io/defaults = %q, lacks %q", got, note)
		}
	}
}

// injectSidecar registers, for namespace ns only, a mutating webhook named to run after
// podguard's that adds a container named sidecar, with probes and no resources, to every
// Pod created.
func injectSidecar(t *testing.T, ns string) {
	t.Helper()
	ca, err := harness.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.Serving(1)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(files["tls.crt"], files["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(sidecarInjector)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	url := fmt.Sprintf("https://%s/inject", ln.Addr().(*net.TCPAddr).String())
	none := admissionregistrationv1.SideEffectClassNone
	scope := admissionregistrationv1.NamespacedScope
	config := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-sidecar-" + ns},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "sidecar.example.com",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.PEM},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: &scope},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	hooks := env.cs.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := hooks.Create(t.Context(), config, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := hooks.Delete(context.Background(), config.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting %s: %v", config.Name, err)
		}
	})
}

// sidecarJSON is the container the injector adds: compliant except for its resources.
const sidecarJSON = `{"name":"sidecar","image":"registry.k8s.io/pause:3.10",` +
	`"livenessProbe":{"tcpSocket":{"port":9901}},"readinessProbe":{"tcpSocket":{"port":9901}}}`

// sidecarInjector adds the sidecar unless the Pod already has it, as injectors do: the
// API server may call it once more after podguard's second call.
func sidecarInjector(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
		return
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	injected := false
	for _, c := range pod.Spec.Containers {
		injected = injected || c.Name == "sidecar"
	}
	if !injected {
		patchType := admissionv1.PatchTypeJSONPatch
		resp.Patch = []byte(`[{"op":"add","path":"/spec/containers/-","value":` + sidecarJSON + `}]`)
		resp.PatchType = &patchType
	}
	review.Request, review.Response = nil, resp
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}
