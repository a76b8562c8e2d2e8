package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

const (
	release   = "podguard"
	namespace = "podguard-system"
	guarded   = "default"
)

// values install the chart as an operator without cert-manager would, with the default
// failurePolicy Fail.
var values = map[string]any{"tls": map[string]any{"mode": "helm"}}

// TestInstallLifeCycle installs the chart where no podguard Pod can run, and walks it
// through a replica that cannot be verified, one that can, an upgrade, an outage and
// `helm uninstall`, checking at each step what a Pod create gets; with the Helm 3 SDK,
// and with Helm 4's, which applies server-side.
func TestInstallLifeCycle(t *testing.T) {
	for _, sdk := range chart.SDKs {
		t.Run(string(sdk), func(t *testing.T) { lifeCycle(t, sdk) })
	}
}

func lifeCycle(t *testing.T, sdk chart.SDK) {
	ctx := t.Context()
	dir := t.TempDir()
	c, proxy := harness.StartClusterBehindProxy(t)
	cs := c.Clientset
	kubeconfig := harness.AdminKubeconfig(t, c)
	helm := newHelm(t, sdk, kubeconfig)
	if err := helm.install(ctx, values); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	checkPolicies(t, cs, admissionregistrationv1.Ignore)
	svcAddr := serviceAddress(t, cs)

	t.Log("installed; no replica runs: the webhooks are called and fail open")
	violating := violatingPod("before")
	waitUntil(t, "the API server calls podguard's Service", func(ctx context.Context) (bool, error) {
		if _, err := cs.CoreV1().Pods(guarded).Create(ctx, violating, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			return false, fmt.Errorf("a Pod create was refused while no podguard runs: %w", err)
		}
		_, refused := proxy.Seen()
		return slices.Contains(refused, svcAddr), nil
	})
	if _, err := cs.CoreV1().Pods(guarded).Create(ctx, violating, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Pod create with podguard installed but not running: %v", err)
	}

	t.Log("a ready replica whose certificate the caBundle does not verify leaves Ignore")
	untrusted := startReplica(t, c, filepath.Join(dir, "untrusted"), nil)
	waitUntil(t, "the untrusted replica says why it waits", func(context.Context) (bool, error) {
		b, err := os.ReadFile(untrusted.Log)
		return strings.Contains(string(b), "caBundle does not verify the serving certificate for podguard.podguard-system.svc"), err
	})
	checkPolicies(t, cs, admissionregistrationv1.Ignore)
	untrusted.Stop()

	t.Log("a ready replica serving the release's Secret turns both webhooks to Fail")
	secret, err := cs.CoreV1().Secrets(namespace).Get(ctx, release+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pg := startReplica(t, c, filepath.Join(dir, "replica"), secret)
	proxy.Route(svcAddr, strings.TrimPrefix(pg.URL, "https://"))
	waitUntil(t, "failurePolicy Fail on both webhooks", func(ctx context.Context) (bool, error) {
		return policiesAre(ctx, cs, admissionregistrationv1.Fail)
	})
	waitUntil(t, "podguard's refusal of a violating Pod", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(guarded).Create(ctx, violatingPod("after"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), `admission webhook "validate.podguard.io" denied the request`), nil
	})

	t.Log("helm upgrade keeps Fail and the generated certificate")
	if err := helm.upgrade(ctx, values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	checkPolicies(t, cs, admissionregistrationv1.Fail)
	after, err := cs.CoreV1().Secrets(namespace).Get(ctx, release+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if string(after.Data[k]) != string(secret.Data[k]) {
			t.Errorf("helm upgrade changed %s of the generated Secret", k)
		}
	}

	t.Log("a new CA (the Secret deleted, helm upgrade) goes in with Ignore until a replica serves what it verifies")
	if err := cs.CoreV1().Secrets(namespace).Delete(ctx, release+"-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := helm.upgrade(ctx, values); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	checkPolicies(t, cs, admissionregistrationv1.Ignore)
	renewed, err := cs.CoreV1().Secrets(namespace).Get(ctx, release+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.Data["ca.crt"]) == string(secret.Data["ca.crt"]) {
		t.Fatal("helm upgrade without the Secret kept the old CA")
	}
	pg.Stop()
	pg = startReplica(t, c, filepath.Join(dir, "renewed"), renewed)
	proxy.Route(svcAddr, strings.TrimPrefix(pg.URL, "https://"))
	waitUntil(t, "failurePolicy Fail again", func(ctx context.Context) (bool, error) {
		return policiesAre(ctx, cs, admissionregistrationv1.Fail)
	})

	t.Log("podguard down after it was healthy: Fail, as the operator chose, refuses")
	pg.Stop()
	proxy.Route(svcAddr, "")
	waitUntil(t, "a refusal for want of podguard", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(guarded).Create(ctx, compliantPod("down"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), `failed calling webhook "mutate.podguard.io"`), nil
	})

	t.Log("the operator turns to Ignore during the outage: helm upgrade sets it")
	ignore := map[string]any{"tls": map[string]any{"mode": "helm"}, "webhook": map[string]any{"failurePolicy": "Ignore"}}
	if err := helm.upgrade(ctx, ignore); err != nil {
		t.Fatalf("helm upgrade to Ignore: %v", err)
	}
	checkPolicies(t, cs, admissionregistrationv1.Ignore)
	waitUntil(t, "a Pod create under Ignore with podguard down", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(guarded).Create(ctx, compliantPod("ignored"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil, nil
	})

	t.Log("helm uninstall removes both configurations")
	if err := helm.uninstall(); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	v, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Items) != 0 || len(m.Items) != 0 {
		t.Fatalf("after helm uninstall: %d validating and %d mutating webhook configurations remain", len(v.Items), len(m.Items))
	}
	waitUntil(t, "a Pod create with podguard uninstalled", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(guarded).Create(ctx, violatingPod("uninstalled"), metav1.CreateOptions{})
		return err == nil, nil
	})
}

// checkPolicies checks that both configurations exist and have policy on every webhook.
func checkPolicies(t *testing.T, cs kubernetes.Interface, policy admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	ok, err := policiesAre(t.Context(), cs, policy)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("the webhooks' failurePolicy is not %s everywhere", policy)
	}
}

func policiesAre(ctx context.Context, cs kubernetes.Interface, policy admissionregistrationv1.FailurePolicyType) (bool, error) {
	v, m, err := harness.GetWebhooks(ctx, cs, release)
	if err != nil {
		return false, err
	}
	var got []admissionregistrationv1.FailurePolicyType
	for _, w := range v.Webhooks {
		got = append(got, *w.FailurePolicy)
	}
	for _, w := range m.Webhooks {
		got = append(got, *w.FailurePolicy)
	}
	for _, a := range []map[string]string{v.Annotations, m.Annotations} {
		if a["podguard.io/failure-policy"] == "" {
			return false, fmt.Errorf("no annotation podguard.io/failure-policy")
		}
	}
	return len(got) == 2 && got[0] == policy && got[1] == policy, nil
}

func serviceAddress(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	addr, err := harness.ServiceAddress(t.Context(), cs, namespace, release, "https")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startReplica runs podguard as the Deployment's Pod would: its container's args, the
// release's ConfigMaps where it mounts them, secret's files as its certificate (nil: a
// certificate of a CA nobody trusts) and the chart's ServiceAccount's token as its
// identity. Ports and the shutdown delay are the harness's.
func startReplica(t *testing.T, c *cluster.Cluster, dir string, secret *corev1.Secret, drop ...string) *harness.Podguard {
	t.Helper()
	ctx := t.Context()
	d, err := c.Clientset.AppsV1().Deployments(namespace).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	container := spec.Containers[0]
	mounts := map[string]string{}
	for _, v := range spec.Volumes {
		var files map[string][]byte
		switch {
		case v.ConfigMap != nil:
			cm, err := c.Clientset.CoreV1().ConfigMaps(namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			files = map[string][]byte{}
			for k, s := range cm.Data {
				files[k] = []byte(s)
			}
		case v.Secret != nil && secret != nil:
			if v.Secret.SecretName != secret.Name {
				t.Fatalf("volume %s mounts Secret %s, not the release's %s", v.Name, v.Secret.SecretName, secret.Name)
			}
			files = secret.Data
		case v.Secret != nil:
			files = map[string][]byte{}
			if _, err := harness.WriteServingCert(filepath.Join(dir, "mounts", v.Name)); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		local := filepath.Join(dir, "mounts", v.Name)
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, b := range files {
			if err := os.WriteFile(filepath.Join(local, k), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range container.VolumeMounts {
			if m.Name == v.Name {
				mounts[m.MountPath] = local
			}
		}
	}
	args, certDir := chart.ReplicaArgs(container.Args, mounts, drop...)
	if !slices.Contains(args, "--webhook-configuration="+release) {
		t.Fatalf("the Deployment's args %v do not name the webhook configurations", container.Args)
	}
	kubeconfig := filepath.Join(dir, "serviceaccount.kubeconfig")
	if err := harness.WriteServiceAccountKubeconfig(ctx, c.RestConfig(), namespace, spec.ServiceAccountName, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return harness.StartForTest(t, harness.Options{Dir: dir, CertDir: certDir, Kubeconfig: kubeconfig, Args: args})
}

func violatingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: guarded, Labels: map[string]string{"app.kubernetes.io/name": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:latest"}}},
	}
}

func compliantPod(name string) *corev1.Pod {
	p := violatingPod(name)
	p.Spec.Containers[0].Image = "registry.k8s.io/pause:3.10"
	return p
}

// waitUntil polls cond for up to a minute; an error from cond ends the test.
func waitUntil(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	var condErr error
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil && !apierrors.IsNotFound(err) {
			condErr = err
			return false, err
		}
		return ok, nil
	})
	if condErr != nil {
		t.Fatalf("waiting for %s: %v", what, condErr)
	}
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func ptr[T any](v T) *T { return &v }
