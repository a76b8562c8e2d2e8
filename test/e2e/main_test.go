package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

// env is shared by the tests of this package: one API server, one podguard on the
// default configuration, registered with failurePolicy Fail. Tests that change the
// registration restore it before they end.
var env struct {
	cluster  *cluster.Cluster
	podguard *harness.Podguard
	cs       kubernetes.Interface
	// kubeconfig lets podguard processes watch the cluster's LimitRanges.
	kubeconfig string
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	e, err := harness.StartEnv(ctx, "podguard-e2e-", os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer e.Close()
	env.kubeconfig = e.Kubeconfig
	pg, err := harness.Start(ctx, harness.Options{Dir: e.Dir + "/podguard", Kubeconfig: e.Kubeconfig})
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting podguard: %v\n", err)
		return 1
	}
	defer pg.Stop()
	env.cluster, env.podguard, env.cs = e.Cluster, pg, e.Clientset
	if _, err := e.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: harness.Namespace}}, metav1.CreateOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := register(ctx, pg, admissionregistrationv1.Fail); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: registering podguard: %v\n%s\n", err, pg.LogTail())
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "podguard log (last lines):\n%s\n", pg.LogTail())
	}
	return code
}

var probeNS = struct {
	once sync.Once
	name string
	err  error
}{}

// register points the webhook configurations at pg and waits until the API server calls
// it: a :latest Pod in a probe namespace is refused by podguard.
func register(ctx context.Context, pg *harness.Podguard, policy admissionregistrationv1.FailurePolicyType) error {
	v, m := harness.Webhooks(pg.URL, pg.CABundle, policy)
	return harness.Register(ctx, env.cs, v, m, func(ctx context.Context) error {
		err := dryRunCreate(ctx, violatingPod("probe"))
		if err == nil {
			return errors.New("podguard is not called yet")
		}
		if !strings.Contains(err.Error(), "[image-tag]") {
			return err
		}
		return nil
	})
}

// unregister removes the configurations and waits until the API server stops calling.
func unregister(ctx context.Context) error {
	return harness.Unregister(ctx, env.cs, func(ctx context.Context) error {
		return dryRunCreate(ctx, violatingPod("probe"))
	})
}

func dryRunCreate(ctx context.Context, pod *corev1.Pod) error {
	probeNS.once.Do(func() {
		ns, err := env.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"}}, metav1.CreateOptions{})
		if err == nil {
			probeNS.name = ns.Name
		}
		probeNS.err = err
	})
	if probeNS.err != nil {
		return probeNS.err
	}
	_, err := env.cs.CoreV1().Pods(probeNS.name).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

var nonDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// namespace creates a namespace for one test, named after it.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name = strings.TrimRight(name[:min(40, len(name))], "-")
	ns, err := env.cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// warningClient returns a clientset whose admission warnings are collected.
func warningClient(t *testing.T) (kubernetes.Interface, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := env.cluster.RestConfig()
	cfg.WarningHandlerWithContext = w
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, w
}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

var _ rest.WarningHandlerWithContext = (*warnings)(nil)

// status returns the HTTP code and message of an API error.
func status(err error) (int32, string) {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Code, se.Status().Message
	}
	return 0, fmt.Sprint(err)
}

// withPodguard runs a podguard with the given configuration, registered in place of the
// shared one for the rest of the test; the shared one is registered again at cleanup.
func withPodguard(t *testing.T, config string, args ...string) *harness.Podguard {
	t.Helper()
	dir := t.TempDir()
	opts := harness.Options{Dir: dir, Kubeconfig: env.kubeconfig, Args: args}
	if config != "" {
		opts.ConfigFile = dir + "/config.yaml"
		if err := os.WriteFile(opts.ConfigFile, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pg := harness.StartForTest(t, opts)
	if err := register(t.Context(), pg, admissionregistrationv1.Fail); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		if err := register(context.Background(), env.podguard, admissionregistrationv1.Fail); err != nil {
			t.Errorf("restoring the registration: %v", err)
		}
	})
	return pg
}
