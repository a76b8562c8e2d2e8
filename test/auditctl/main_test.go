package auditctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/test/harness"
)

var env struct {
	*harness.Env
	// reports knows the OpenReports types, which the Env's Client does not.
	reports client.Client
	bin     string
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx := context.Background()
	e, err := harness.StartEnv(ctx, "podguard-auditctl-", os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer e.Close()
	env.Env = e
	if err := ApplyCRDs(ctx, e.RestConfig()); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: applying the OpenReports CRDs: %v\n", err)
		return 1
	}
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = openreports.AddToScheme(scheme)
	if env.reports, err = client.New(e.RestConfig(), client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if env.bin, err = harness.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// controller is one `podguard audit --watch` process.
type controller struct {
	cmd *exec.Cmd
	log *os.File
}

// startController runs the controller with the configuration file given and leader
// election in namespace default.
func startController(t *testing.T, identity, configFile string, lease time.Duration, extra ...string) *controller {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), identity+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(env.bin, "audit", "--watch", "--kubeconfig", env.Kubeconfig, "--config", configFile,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--leader-elect", "--leader-election-namespace", "default", "--lease-duration", lease.String(),
		"--identity", identity, "--poll-interval", "200ms")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &controller{cmd: cmd, log: logf}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", identity, tail(string(b), 4000))
		}
	})
	return c
}

// stop ends the process as Kubernetes does (SIGTERM), so that it gives up the Lease and the
// next test's controller need not wait for it to expire.
func (c *controller) stop() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		_ = c.cmd.Wait()
	}
}

func (c *controller) kill() {
	if c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	// Written to a new file and renamed, as a ConfigMap update swaps files.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if _, err := env.Clientset.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func probe() *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
}

// podSpec is compliant with the default policies; violating takes away its probes and
// gives it a :latest image.
func podSpec(violating bool) corev1.PodSpec {
	c := corev1.Container{
		Name: "app", Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		LivenessProbe: probe(), ReadinessProbe: probe(),
	}
	if violating {
		c.Image, c.LivenessProbe, c.ReadinessProbe = "nginx:latest", nil, nil
	}
	return corev1.PodSpec{Containers: []corev1.Container{c}}
}

var appLabels = map[string]string{"app.kubernetes.io/name": "app"}

func pod(name string, violating bool) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: appLabels}, Spec: podSpec(violating)}
}

func deployment(name string, violating bool) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: appLabels}, Spec: podSpec(violating)},
		},
	}
}
