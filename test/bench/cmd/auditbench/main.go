// Command auditbench measures the audit controller (`podguard audit --watch`) at the scale
// of a large cluster: it creates Pods and Deployments (10,000 and 2,000 by default, 30%
// violating) in a real kube-apiserver with the OpenReports CRDs, starts the controller, and
// reports the time until every namespace's Report is complete, the controller's peak RSS
// and the API requests made while it ran (from the API server's apiserver_request_total),
// then the same time for a configuration change to be reflected everywhere. It exits 1
// when the reports are wrong or never complete; the figures are reported, not asserted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/test/auditctl"
	"github.com/podguard/podguard/test/bench/load"
	"github.com/podguard/podguard/test/harness"
)

func main() {
	pods := flag.Int("pods", 10000, "Pods to create")
	deployments := flag.Int("deployments", 2000, "Deployments to create")
	namespaces := flag.Int("namespaces", 20, "namespaces to spread them over")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up waiting for complete reports after this long")
	flag.Parse()
	if err := run(*pods, *deployments, *namespaces, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "auditbench:", err)
		os.Exit(1)
	}
}

func run(pods, deployments, namespaces int, timeout time.Duration) error {
	ctx := context.Background()
	c, err := harness.StartEnv(ctx, "podguard-auditbench-", os.Stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	dir, kubeconfig := c.Dir, c.Kubeconfig
	cfg := c.RestConfig()
	cfg.QPS, cfg.Burst = 2000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := auditctl.ApplyCRDs(ctx, cfg); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	_ = openreports.AddToScheme(scheme)
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	bin, err := harness.Binary()
	if err != nil {
		return err
	}

	start := time.Now()
	want, err := populate(ctx, cs, pods, deployments, namespaces)
	if err != nil {
		return err
	}
	fmt.Printf("created %d Pods and %d Deployments in %d namespaces in %v\n", pods, deployments, namespaces, time.Since(start).Round(time.Millisecond))

	before, err := requests(ctx, cs)
	if err != nil {
		return err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "audit", "--watch", "--kubeconfig", kubeconfig, "--config", config,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--poll-interval", "500ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	rss := load.SampleRSS(cmd.Process.Pid, 50*time.Millisecond)
	if err := waitComplete(ctx, cl, want, 3, timeout); err != nil {
		b, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("%w\ncontroller log:\n%s", err, tail(string(b), 3000))
	}
	complete := time.Since(start)
	after, err := requests(ctx, cs)
	if err != nil {
		return err
	}
	// A configuration change: the image tag no longer counts, so each violating object
	// has two results instead of three, in every namespace.
	start = time.Now()
	if err := os.WriteFile(config+".new", []byte("rules:\n  image-tag: {enforcement: \"off\"}\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(config+".new", config); err != nil {
		return err
	}
	if err := waitComplete(ctx, cl, want, 2, timeout); err != nil {
		return err
	}
	reaudit := time.Since(start)
	peak := rss.Stop()

	fmt.Printf("reports complete after          %v (target 60s)\n", complete.Round(time.Millisecond))
	fmt.Printf("configuration change reflected  %v after the file changed\n", reaudit.Round(time.Millisecond))
	fmt.Printf("controller peak RSS             %.1f MiB (target 256 MiB)\n", float64(peak)/(1<<20))
	fmt.Println("API requests from start to complete reports (apiserver_request_total; the benchmark's own polling of reports is in the reports row):")
	fmt.Printf("  %-28s %s\n", "resource", "verb counts")
	for _, line := range delta(before, after) {
		fmt.Println("  " + line)
	}
	return nil
}

// expected is, per namespace, the objects that pass and those that violate.
type expected map[string]struct{ pass, violating int }

func violatingIndex(i int) bool { return i%10 < 3 }

func populate(ctx context.Context, cs kubernetes.Interface, pods, deployments, namespaces int) (expected, error) {
	want := expected{}
	for n := range namespaces {
		name := fmt.Sprintf("bench-%02d", n)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	type job struct {
		i   int
		pod bool
	}
	jobs := make(chan job)
	errs := make(chan error, 1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				ns := fmt.Sprintf("bench-%02d", j.i%namespaces)
				bad := violatingIndex(j.i / namespaces)
				var err error
				if j.pod {
					_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", j.i), Labels: labels}, Spec: spec(bad)}, metav1.CreateOptions{})
				} else {
					_, err = cs.AppsV1().Deployments(ns).Create(ctx, deployment(fmt.Sprintf("deploy-%d", j.i), bad), metav1.CreateOptions{})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				mu.Lock()
				e := want[ns]
				if bad {
					e.violating++
				} else {
					e.pass++
				}
				want[ns] = e
				mu.Unlock()
			}
		})
	}
	for i := range pods {
		jobs <- job{i, true}
	}
	for i := range deployments {
		jobs <- job{i, false}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return want, nil
}

var labels = map[string]string{"app.kubernetes.io/name": "app"}

func spec(bad bool) corev1.PodSpec {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	c := corev1.Container{
		Name: "app", Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		LivenessProbe: probe, ReadinessProbe: probe.DeepCopy(),
	}
	if bad {
		c.Image, c.LivenessProbe, c.ReadinessProbe = "nginx:latest", nil, nil
	}
	return corev1.PodSpec{Containers: []corev1.Container{c}}
}

func deployment(name string, bad bool) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec(bad)},
		},
	}
}

// waitComplete waits until every namespace's Report counts its objects: the compliant ones
// as passes and perObject failures for each violating one.
func waitComplete(ctx context.Context, cl client.Client, want expected, perObject int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		var list openreports.ReportList
		if err := cl.List(ctx, &list); err != nil {
			return err
		}
		got := map[string]openreports.ReportSummary{}
		for _, r := range list.Items {
			got[r.Namespace] = r.Summary
		}
		done := true
		for ns, w := range want {
			s := got[ns]
			if s.Pass != w.pass || s.Fail != perObject*w.violating || s.Warn != 0 || s.Error != 0 {
				done = false
				last = fmt.Sprintf("%s: summary %+v, want pass %d fail %d", ns, s, w.pass, perObject*w.violating)
				break
			}
		}
		if done {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("reports incomplete after %v: %s", timeout, last)
}

// requests reads apiserver_request_total, summed by resource and verb.
func requests(ctx context.Context, cs kubernetes.Interface) (map[[2]string]float64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	out := map[[2]string]float64{}
	f := families["apiserver_request_total"]
	if f == nil {
		return nil, fmt.Errorf("the API server has no apiserver_request_total")
	}
	for _, m := range f.Metric {
		out[[2]string{label(m, "resource"), label(m, "verb")}] += m.GetCounter().GetValue()
	}
	// Watches are counted when they end; those open now are a gauge.
	if f := families["apiserver_longrunning_requests"]; f != nil {
		for _, m := range f.Metric {
			if label(m, "verb") == "WATCH" {
				out[[2]string{label(m, "resource"), "open WATCH"}] += m.GetGauge().GetValue()
			}
		}
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func delta(before, after map[[2]string]float64) []string {
	byResource := map[string][]string{}
	for k, v := range after {
		if d := v - before[k]; d > 0 && k[0] != "" {
			byResource[k[0]] = append(byResource[k[0]], fmt.Sprintf("%s %.0f", k[1], d))
		}
	}
	var out []string
	for r, verbs := range byResource {
		sort.Strings(verbs)
		out = append(out, fmt.Sprintf("%-28s %s", r, strings.Join(verbs, ", ")))
	}
	sort.Strings(out)
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
