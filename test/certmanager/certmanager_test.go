package certmanager

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

const (
	release   = "podguard"
	namespace = "podguard-system"
	// guarded is a namespace podguard checks (the chart's tests.namespace).
	guarded = "default"
)

// TestChartWithCertManager installs the chart's default rendering on a real API server
// with cert-manager's controllers running, and checks each link of the TLS chain, then
// that the API server's calls through the chart's registration reach podguard and give
// the right verdicts.
func TestChartWithCertManager(t *testing.T) {
	began := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	ctx := t.Context()
	dir := t.TempDir()
	logToFile(t, filepath.Join(dir, "cert-manager.log"))

	c, proxy := harness.StartClusterBehindProxy(t)
	cs := c.Clientset
	step("kube-apiserver " + c.Version + " ready")

	applyCRDs(t, c.Client)
	step("cert-manager CRDs established")

	rel, err := chart.Render(ctx, chart.Options{ReleaseName: release, Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, cs.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	for _, o := range rel.Objects {
		if err := c.Client.Create(ctx, o.Unstructured.DeepCopy()); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	step(fmt.Sprintf("chart applied: %v", rel.Kinds()))

	kubeconfig := harness.AdminKubeconfig(t, c)
	runCertManager(t, ctx, kubeconfig)
	secret := waitForSecret(t, cs, release+"-tls")
	step("cert-manager issued Secret " + release + "-tls")
	ca, leaf := checkServingCert(t, cs, secret)

	runCAInjector(t, ctx, c.RestConfig())
	waitForCABundle(t, cs, secret.Data["ca.crt"])
	step("cainjector put the CA into both webhook configurations")

	pg := startPodguard(t, c, rel, secret, filepath.Join(dir, "podguard"))
	svcAddr, err := harness.ServiceAddress(ctx, cs, namespace, release, "https")
	if err != nil {
		t.Fatal(err)
	}
	local, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Route(svcAddr, local.Host)
	step(fmt.Sprintf("podguard serving the Secret; Service %s/%s (%s) routed to %s", namespace, release, svcAddr, local.Host))

	violating := violatingPod()
	waitUntilEnforced(t, cs, violating)
	step("API server calls reach podguard through the Service")
	poll(t, "failurePolicy Fail, set by podguard once the injected CA verifies it", func(ctx context.Context) (bool, error) {
		v, m, err := harness.GetWebhooks(ctx, cs, release)
		if err != nil {
			return false, err
		}
		return *v.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail && *m.Webhooks[0].FailurePolicy == admissionregistrationv1.Fail, nil
	})
	step("podguard set failurePolicy Fail")

	t.Run("helm test", func(t *testing.T) {
		out, code := runHelmTest(t, c, rel, filepath.Join(dir, "helm-test"))
		t.Logf("podguard selftest:\n%s", out)
		if code != 0 || strings.Contains(out, "FAIL") ||
			!strings.Contains(out, "ok: a Pod that follows the configuration is admitted") ||
			!strings.Contains(out, "ok: a Pod that breaks image-tag is refused by validate.podguard.io with podguard's message") {
			t.Errorf("helm test exit %d; want both verdicts ok", code)
		}
	})
	t.Run("defaults filled in", func(t *testing.T) {
		pod := sample(t, "pod-needs-defaults.yaml", &corev1.Pod{}).(*corev1.Pod)
		got, err := cs.CoreV1().Pods(guarded).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		r := got.Spec.Containers[0].Resources
		if r.Requests.Cpu().IsZero() || r.Limits.Memory().IsZero() || got.Annotations["podguard.io/defaults"] == "" {
			t.Errorf("stored Pod has resources %v and annotations %v; want podguard's defaults", r, got.Annotations)
		}
	})
	t.Run("workload refused", func(t *testing.T) {
		d := sample(t, "deployment-no-probes.yaml", &appsv1.Deployment{}).(*appsv1.Deployment)
		_, err := cs.AppsV1().Deployments(guarded).Create(ctx, d, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "[liveness-probe]") {
			t.Errorf("Deployment without probes: %v; want refused for [liveness-probe]", err)
		}
	})
	t.Run("excluded namespaces", func(t *testing.T) {
		for _, ns := range []string{namespace, "kube-system"} {
			pod := violating.DeepCopy()
			pod.Namespace = ns
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Errorf("violating Pod in %s: %v; the chart excludes that namespace", ns, err)
			}
		}
	})
	t.Run("service account permissions", func(t *testing.T) {
		checkPermissions(t, cs)
	})
	t.Run("egress", func(t *testing.T) {
		asked, _ := proxy.Seen()
		if len(asked) == 0 {
			t.Fatal("the API server never went through the egress proxy")
		}
		for _, a := range asked {
			if a != svcAddr {
				t.Errorf("API server asked the proxy for %s; only the chart's Service %s is expected", a, svcAddr)
			}
		}
	})
	t.Logf("CA %q signs the serving certificate for %v", ca.Subject.CommonName, leaf.DNSNames)
	step("done")
}

// applyCRDs creates the CRDs that cert-manager's Go module ships (deploy/crds), from the
// module cache, and waits until they are served.
func applyCRDs(t *testing.T, c client.Client) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/cert-manager/cert-manager: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("cert-manager module directory unknown (%v): %s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "deploy", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s/deploy/crds: %v", mod.Dir, err)
	}
	var names []string
	for _, f := range files {
		for _, doc := range yamlDocs(t, f) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if err := c.Create(t.Context(), u); err != nil {
				t.Fatalf("create CRD %s: %v", u.GetName(), err)
			}
			names = append(names, u.GetName())
		}
	}
	for _, name := range names {
		poll(t, "CRD "+name+" established", func(ctx context.Context) (bool, error) {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("apiextensions.k8s.io/v1")
			u.SetKind("CustomResourceDefinition")
			if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, x := range conds {
				m, _ := x.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
	}
}

func waitForSecret(t *testing.T, cs kubernetes.Interface, name string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	poll(t, "Secret "+name+" with tls.crt, tls.key and ca.crt", func(ctx context.Context) (bool, error) {
		var err error
		s, err = cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return len(s.Data["tls.crt"]) > 0 && len(s.Data["tls.key"]) > 0 && len(s.Data["ca.crt"]) > 0, nil
	})
	return s
}

// checkServingCert checks what the API server will rely on: the Secret's ca.crt is the
// chart's own CA (not the leaf), and the leaf it signed names the Service.
func checkServingCert(t *testing.T, cs kubernetes.Interface, s *corev1.Secret) (ca, leaf *x509.Certificate) {
	t.Helper()
	ca, leaf = parseCert(t, s.Data["ca.crt"]), parseCert(t, s.Data["tls.crt"])
	if !ca.IsCA || bytes.Equal(ca.Raw, leaf.Raw) {
		t.Errorf("ca.crt is not a CA distinct from the serving certificate")
	}
	caSecret, err := cs.CoreV1().Secrets(namespace).Get(t.Context(), release+"-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parseCert(t, caSecret.Data["tls.crt"]).Raw, ca.Raw) {
		t.Error("serving certificate's ca.crt is not the chart's CA Certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	svcName := release + "." + namespace + ".svc"
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: svcName}); err != nil {
		t.Errorf("serving certificate does not verify for %s against the CA: %v", svcName, err)
	}
	return ca, leaf
}

// waitForCABundle waits until the cainjector has put ca into both webhooks.
func waitForCABundle(t *testing.T, cs kubernetes.Interface, ca []byte) {
	t.Helper()
	poll(t, "caBundle injected into both webhook configurations", func(ctx context.Context) (bool, error) {
		v, m, err := harness.GetWebhooks(ctx, cs, release)
		if err != nil {
			return false, err
		}
		var bundles [][]byte
		for _, w := range v.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		for _, w := range m.Webhooks {
			bundles = append(bundles, w.ClientConfig.CABundle)
		}
		return len(bundles) == 2 && !slices.ContainsFunc(bundles, func(b []byte) bool { return !bytes.Equal(b, ca) }), nil
	})
}

// startPodguard runs podguard with the container args of the chart's Deployment, the
// Secret's files where the Pod mounts the Secret, the ConfigMaps where it mounts them,
// and the chart's ServiceAccount's token as its identity. Only what the harness must own
// on a shared machine (ports, and the shutdown delay that would only slow the test) is
// left out.
func startPodguard(t *testing.T, c *cluster.Cluster, rel *chart.Release, s *corev1.Secret, dir string) *harness.Podguard {
	t.Helper()
	mounts, err := rel.MountConfigMaps(filepath.Join(dir, "mounts"))
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "mounts", "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(certDir, f), s.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d, err := rel.Deployment()
	if err != nil {
		t.Fatal(err)
	}
	container := d.Spec.Template.Spec.Containers[0]
	for _, m := range container.VolumeMounts {
		if m.Name == "certs" {
			mounts[m.MountPath] = certDir
		}
	}
	// servedCerts is where the Pod mounts the Secret's files.
	args, servedCerts := chart.ReplicaArgs(container.Args, mounts)
	kubeconfig := filepath.Join(dir, "serviceaccount.kubeconfig")
	if err := harness.WriteServiceAccountKubeconfig(t.Context(), c.RestConfig(), namespace, d.Spec.Template.Spec.ServiceAccountName, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return harness.StartForTest(t, harness.Options{Dir: dir, CertDir: servedCerts, Kubeconfig: kubeconfig, Args: args})
}

// violatingPod has the tag latest: the default rules refuse it.
func violatingPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "latest", Namespace: guarded, Labels: map[string]string{"app.kubernetes.io/name": "latest"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:latest"}}},
	}
}

// runHelmTest runs what the chart's `helm test` Pod runs: the hook objects (its
// ServiceAccount and RBAC) applied, its container's args with the ConfigMaps where it
// mounts them, as that ServiceAccount, against the real API server. It returns the
// output and the exit code.
func runHelmTest(t *testing.T, c *cluster.Cluster, rel *chart.Release, dir string) (string, int) {
	t.Helper()
	var pod corev1.Pod
	for _, h := range rel.Hooks {
		if h.GetKind() == "Pod" {
			if err := h.Into(&pod); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := c.Client.Create(t.Context(), h.Unstructured.DeepCopy()); err != nil {
			t.Fatalf("apply hook %s %s: %v", h.GetKind(), h.GetName(), err)
		}
	}
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.Containers[0].Args) == 0 || pod.Spec.Containers[0].Args[0] != "selftest" {
		t.Fatalf("the helm test Pod does not run podguard selftest: %+v", pod.Spec.Containers)
	}
	mounts, err := rel.MountPodConfigMaps(pod.Spec, filepath.Join(dir, "mounts"))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "test.kubeconfig")
	if err := harness.WriteServiceAccountKubeconfig(t.Context(), c.RestConfig(), pod.Namespace, pod.Spec.ServiceAccountName, kubeconfig); err != nil {
		t.Fatal(err)
	}
	args := append(chart.LocalArgs(pod.Spec.Containers[0].Args[1:], mounts), "--kubeconfig="+kubeconfig)
	out, code, err := harness.Selftest(t.Context(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}

// waitUntilEnforced waits for podguard's own denial of the violating Pod: the webhook
// configurations reach the API server through an informer, and calls fail (closed)
// until then.
func waitUntilEnforced(t *testing.T, cs kubernetes.Interface, violating *corev1.Pod) {
	t.Helper()
	var last error
	poll(t, "podguard's denial through the API server", func(ctx context.Context) (bool, error) {
		_, last = dryRun(ctx, cs, violating)
		return last != nil && strings.Contains(last.Error(), `"validate.podguard.io" denied the request`), nil
	})
	t.Logf("first denial: %v", last)
}

func dryRun(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	return cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// checkPermissions asks the API server what the chart's ServiceAccount may do: watch
// LimitRanges and Namespaces (podguard running with its token proves that is enough),
// get and update its own two webhook configurations, and nothing else.
func checkPermissions(t *testing.T, cs kubernetes.Interface) {
	user := "system:serviceaccount:" + namespace + ":" + release
	for _, c := range []struct {
		verb, resource, ns, name string
		allowed                  bool
	}{
		{"list", "limitranges", "", "", true},
		{"watch", "limitranges", guarded, "", true},
		{"watch", "namespaces", "", "", true},
		{"update", "namespaces", "", "", false},
		{"get", "secrets", namespace, "", false},
		{"list", "pods", guarded, "", false},
		{"create", "pods", guarded, "", false},
		{"update", "validatingwebhookconfigurations", "", "", false},
		{"update", "validatingwebhookconfigurations", "", release, true},
		{"update", "mutatingwebhookconfigurations", "", release, true},
		{"update", "validatingwebhookconfigurations", "", "other", false},
		{"delete", "validatingwebhookconfigurations", "", release, false},
		{"create", "mutatingwebhookconfigurations", "", "", false},
	} {
		group := ""
		if strings.HasSuffix(c.resource, "webhookconfigurations") {
			group = admissionregistrationv1.GroupName
		}
		r, err := cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               user,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Group: group, Resource: c.resource, Namespace: c.ns, Name: c.name},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != c.allowed {
			t.Errorf("%s %s %q in %q: allowed %v, want %v", c.verb, c.resource, c.name, c.ns, r.Status.Allowed, c.allowed)
		}
	}
}

func sample(t *testing.T, name string, into any) client.Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	o := into.(client.Object)
	o.SetNamespace(guarded)
	return o
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func yamlDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

// poll waits for cond and logs how long that took; cert-manager and the cainjector
// usually need a few seconds, a busy machine gives them more. The bound is the test's.
func poll(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	var last error
	start := time.Now()
	defer func() { t.Logf("%s: after %v", what, time.Since(start).Round(time.Millisecond)) }()
	err := wait.PollUntilContextCancel(t.Context(), 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, err, last)
	}
}

type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func mustCreate[T any](t *testing.T, c creator[T], obj T) {
	t.Helper()
	if _, err := c.Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// logToFile sends klog (cert-manager's logger) to a file, shown in part when the test
// fails, so a passing run stays quiet.
func logToFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(f)
	t.Cleanup(func() {
		klog.Flush()
		if t.Failed() {
			b, _ := os.ReadFile(path)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("cert-manager log (last lines):\n%s", b)
		}
		f.Close()
	})
}
