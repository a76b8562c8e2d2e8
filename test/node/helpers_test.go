package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmrelease "helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

const (
	// release and namespace give the Service podguard.podguard.svc, the name
	// harness.CA's serving certificates are for.
	release   = "podguard"
	namespace = "podguard"
	// guarded is a namespace podguard checks.
	guarded = "guarded"
	// restricted is guarded too, and Pod Security "restricted" is enforced there.
	restricted = "guarded-restricted"
)

// env is one cluster with its node, shared by the tests in order.
type env struct {
	c          *cluster.Cluster
	node       *cluster.Node
	kubeconfig string
	repository string // podguard's image, as imported into the node
	tag        string
	caBundle   []byte
}

func setup(t *testing.T) *env {
	t.Helper()
	archive := os.Getenv("PODGUARD_IMAGE")
	if archive == "" {
		t.Fatal("PODGUARD_IMAGE is not set: the archive of podguard's image (make image writes bin/podguard-image.tar; make e2e-node sets it)")
	}
	c, n := cluster.StartWithNode(t)
	e := &env{c: c, node: n}
	ref, err := n.ImportImage(t.Context(), archive)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		t.Fatalf("image %s has no tag", ref)
	}
	e.repository, e.tag = ref[:i], ref[i+1:]
	t.Logf("podguard's image %s imported into the node", ref)

	e.kubeconfig = filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := harness.WriteKubeconfig(c.RestConfig(), e.kubeconfig); err != nil {
		t.Fatal(err)
	}
	restrictedLabels := map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
		"pod-security.kubernetes.io/warn-version":    "latest",
	}
	for ns, labels := range map[string]map[string]string{namespace: restrictedLabels, guarded: nil, restricted: restrictedLabels} {
		if _, err := c.Clientset.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := harness.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	files, err := ca.Serving(2)
	if err != nil {
		t.Fatal(err)
	}
	e.caBundle = ca.PEM
	if _, err := c.Clientset.CoreV1().Secrets(namespace).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: release + "-tls"},
		Type:       corev1.SecretTypeTLS,
		Data:       files,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// values are the chart's values for podguard's image as imported, with the
// test's Secret as the serving certificate, and more over them.
func (e *env) values(more map[string]any) map[string]any {
	v := map[string]any{
		"image": map[string]any{"repository": e.repository, "tag": e.tag},
		"tls":   map[string]any{"mode": "secret", "secretName": release + "-tls", "caBundle": string(e.caBundle)},
	}
	for k, x := range more {
		if m, ok := x.(map[string]any); ok {
			if base, ok := v[k].(map[string]any); ok {
				for kk, xx := range m {
					base[kk] = xx
				}
				continue
			}
		}
		v[k] = x
	}
	return v
}

func (e *env) helm(t *testing.T) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &e.kubeconfig
	ns := namespace
	flags.Namespace = &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// install installs the chart with the Helm SDK; with wait, until Helm sees its
// Deployment's Pods Ready.
func (e *env) install(t *testing.T, vals map[string]any, wait bool) *helmrelease.Release {
	t.Helper()
	c, err := chart.Load()
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(e.helm(t))
	in.ReleaseName = release
	in.Namespace = namespace
	in.Wait = wait
	in.Timeout = 4 * time.Minute
	began := time.Now()
	rel, err := in.RunWithContext(t.Context(), c, e.values(vals))
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, e.podguardPods(t))
	}
	t.Logf("helm install in %s", time.Since(began).Round(100*time.Millisecond))
	return rel
}

func (e *env) upgrade(t *testing.T, vals map[string]any) {
	t.Helper()
	c, err := chart.Load()
	if err != nil {
		t.Fatal(err)
	}
	up := action.NewUpgrade(e.helm(t))
	up.Namespace = namespace
	up.Wait = true
	up.Timeout = 4 * time.Minute
	if _, err := up.RunWithContext(t.Context(), release, c, e.values(vals)); err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, e.podguardPods(t))
	}
}

// uninstall removes the release and waits until its Pods are gone, so the
// next install starts on an empty node.
func (e *env) uninstall(t *testing.T) {
	t.Helper()
	un := action.NewUninstall(e.helm(t))
	un.Wait = true
	un.Timeout = 2 * time.Minute
	if _, err := un.Run(release); err != nil {
		t.Errorf("helm uninstall: %v", err)
	}
	poll(t, 2*time.Minute, "podguard's Pods gone", func(ctx context.Context) (bool, error) {
		pods, err := e.c.Clientset.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=podguard"})
		return err == nil && len(pods.Items) == 0, err
	})
}

// podguardPods describes podguard's Pods, for a failure message.
func (e *env) podguardPods(t *testing.T) string {
	pods, err := e.c.Clientset.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s on %q ready=%v", p.Name, p.Status.Phase, p.Spec.NodeName, podReady(&p))
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Waiting != nil {
				fmt.Fprintf(&b, " waiting %s: %s", s.State.Waiting.Reason, s.State.Waiting.Message)
			}
			fmt.Fprintf(&b, " restarts=%d", s.RestartCount)
		}
		b.WriteString("\n")
	}
	events, err := e.c.Clientset.CoreV1().Events(namespace).List(context.Background(), metav1.ListOptions{})
	if err == nil {
		for _, ev := range events.Items {
			if ev.Type != corev1.EventTypeNormal {
				fmt.Fprintf(&b, "event %s %s: %s\n", ev.InvolvedObject.Name, ev.Reason, ev.Message)
			}
		}
	}
	return b.String()
}

func (e *env) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, err := e.c.Clientset.AppsV1().Deployments(namespace).Get(t.Context(), release, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// appPod is a Pod that follows podguard's default rules and runs on the node:
// the pause image, which answers the exec probes.
func appPod(name string, cpuLimit string) *corev1.Pod {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/pause", "-v"}}}, PeriodSeconds: 5}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name:  "app",
				Image: cluster.PauseImage,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLimit), corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				LivenessProbe:  probe,
				ReadinessProbe: probe,
			}},
		},
	}
}

// violatingPod breaks image-tag: podguard refuses it.
func violatingPod(name string) *corev1.Pod {
	p := appPod(name, "200m")
	p.Spec.Containers[0].Image = "registry.k8s.io/pause:latest"
	return p
}

func create(ctx context.Context, cs kubernetes.Interface, ns string, p *corev1.Pod, dryRun bool) (*corev1.Pod, error) {
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return cs.CoreV1().Pods(ns).Create(ctx, p.DeepCopy(), opts)
}

// waitRunning waits for a Pod to be Running and Ready on the node.
func (e *env) waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	poll(t, 2*time.Minute, "Pod "+ns+"/"+name+" Running and Ready", func(ctx context.Context) (bool, error) {
		var err error
		p, err = e.c.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Status.Phase == corev1.PodRunning && podReady(p), fmt.Errorf("phase %s, ready %v, %v", p.Status.Phase, podReady(p), p.Status.ContainerStatuses)
	})
	return p
}

func deletePod(t *testing.T, cs kubernetes.Interface, ns, name string) {
	err := cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete Pod %s/%s: %v", ns, name, err)
	}
}

// poll waits up to timeout for cond; the last error it returned is shown if
// it never holds.
func poll(t *testing.T, timeout time.Duration, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last: %v)", what, err, last)
	}
}

func ptr[T any](v T) *T { return &v }
