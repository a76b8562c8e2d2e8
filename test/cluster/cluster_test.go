package cluster_test

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/test/cluster"
)

func TestCluster(t *testing.T) {
	c := cluster.Start(t)
	ctx := t.Context()

	t.Run("version", func(t *testing.T) {
		want, err := cluster.KubernetesVersion()
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Clientset.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if got.GitVersion != want || c.Version != want {
			t.Errorf("server version %q (Cluster.Version %q), want %q", got.GitVersion, c.Version, want)
		}
	})

	t.Run("namespace and pod", func(t *testing.T) {
		ns, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: ns.Name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name:  "pause",
				Image: "registry.k8s.io/pause:3.10",
				// Privileged on purpose: the server must leave that
				// decision to admission webhooks like podguard.
				SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)},
			}}},
		}
		if _, err := c.Clientset.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var got corev1.Pod
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "smoke"}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.Containers[0].Image != "registry.k8s.io/pause:3.10" || got.UID == "" {
			t.Errorf("read back pod %+v", got)
		}
	})

	// podguard runs on the test machine, not in the cluster, so the API
	// server has to reach a webhook on 127.0.0.1.
	t.Run("webhook on loopback", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(denyAll))
		srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		defer srv.Close()
		caBundle := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

		ns, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-", Labels: map[string]string{"smoke-webhook": "on"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		url := srv.URL + "/validate"
		fail := admissionregistrationv1.Fail
		none := admissionregistrationv1.SideEffectClassNone
		_, err = c.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke-deny"},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:                    "deny.smoke.podguard.io",
				ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
				Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"smoke-webhook": "on"}},
				FailurePolicy:           &fail,
				SideEffects:             &none,
				AdmissionReviewVersions: []string{"v1"},
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Clientset.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "smoke-deny", metav1.DeleteOptions{})

		// The server picks up new webhook configurations asynchronously.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "denied-", Namespace: ns.Name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10"}}},
		}
		// No bound of its own (the test binary's is the bound): it takes what the machine gives.
		start := time.Now()
		for {
			_, err := c.Clientset.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil && strings.Contains(err.Error(), "denied by smoke webhook") {
				t.Logf("denied by the loopback webhook %v after it was registered", time.Since(start).Round(time.Millisecond))
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func denyAll(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad admission review", http.StatusBadRequest)
		return
	}
	review.Response = &admissionv1.AdmissionResponse{
		UID:     review.Request.UID,
		Allowed: false,
		Result:  &metav1.Status{Message: "denied by smoke webhook"},
	}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(review)
}

func ptr[T any](v T) *T { return &v }
