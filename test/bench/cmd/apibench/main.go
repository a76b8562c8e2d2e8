// Command apibench measures Pod creates through a real kube-apiserver (test/cluster),
// dryRun=All from concurrent clients, with no webhook, with podguard with and without its
// generated matchConditions (policies/prefilter), and with the plain OPA server as a
// validating webhook; compliant and violating Pods, in interleaved rounds, medians.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/prefilter"
	"github.com/podguard/podguard/test/bench/load"
	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

var setups = []string{"none", "podguard+prefilter", "podguard", "opa"}

func main() {
	var (
		podguardBin = flag.String("podguard", "bin/podguard", "podguard binary")
		opaBin      = flag.String("opa", "bin/opa", "OPA binary")
		opaPolicy   = flag.String("opa-policy", "test/bench/opa/policy.rego", "the OPA baseline's policy")
		clients     = flag.Int("clients", 8, "concurrent clients")
		rounds      = flag.Int("rounds", 3, "interleaved rounds")
		duration    = flag.Duration("duration", 5*time.Second, "how long each case is measured")
		warmup      = flag.Duration("warmup", time.Second, "how long each case is warmed up first")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *podguardBin, *opaBin, *opaPolicy, *clients, *rounds, *duration, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, podguardBin, opaBin, opaPolicy string, clients, rounds int, duration, warmup time.Duration) error {
	dir, err := os.MkdirTemp("", "apibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf, err := os.Create(filepath.Join(dir, "cluster.log"))
	if err != nil {
		return err
	}
	c, err := cluster.StartProcess(ctx, filepath.Join(dir, "cluster"), logf)
	if err != nil {
		return err
	}
	defer c.Close()
	cfg := c.RestConfig()
	cfg.QPS, cfg.Burst = 1e6, 1e6 // the clients, not client-go's limiter, set the pace
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	pg, err := harness.Start(ctx, harness.Options{Binary: podguardBin, Dir: filepath.Join(dir, "podguard")})
	if err != nil {
		return err
	}
	defer pg.Stop()
	opaDir := filepath.Join(dir, "opa")
	opaCA, err := harness.WriteServingCert(opaDir)
	if err != nil {
		return err
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		return err
	}
	opaURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	opa, err := load.Start("opa", opaURL+"/", opaDir, opaBin, "run", "--server", "--addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--tls-cert-file", filepath.Join(opaDir, "tls.crt"), "--tls-private-key-file", filepath.Join(opaDir, "tls.key"),
		"--log-level", "error", "--skip-version-check", opaPolicy)
	if err != nil {
		return err
	}
	defer opa.Stop()

	e, err := engine.Load(ctx, engine.Options{})
	if err != nil {
		return err
	}
	conds := prefilter.Generate(e.Config(), e.Rules())

	pods := map[string]*corev1.Pod{"compliant": compliantPod(), "violating": violatingPod()}
	bodies := []string{"compliant", "violating"}
	results := map[[2]string][]float64{}
	for round := range rounds {
		for _, body := range bodies {
			for _, setup := range setups {
				if err := register(ctx, cs, setup, pg, opaURL, opaCA, conds); err != nil {
					return fmt.Errorf("%s: %w", setup, err)
				}
				wantRefused := body == "violating" && setup != "none"
				rate, failures, err := measure(ctx, cs, pods[body], wantRefused, clients, warmup, duration)
				if err != nil {
					return fmt.Errorf("%s, %s Pod: %w", setup, body, err)
				}
				if failures > 0 {
					return fmt.Errorf("%s, %s Pod: %d creates answered otherwise than expected", setup, body, failures)
				}
				fmt.Fprintf(os.Stderr, "round %d: %s Pod, %s: %.0f creates/s\n", round+1, body, setup, rate)
				results[[2]string{body, setup}] = append(results[[2]string{body, setup}], rate)
			}
		}
	}
	if err := harness.Unregister(ctx, cs, nil); err != nil {
		return err
	}
	return report(results, bodies, clients, rounds, c.Version)
}

func report(results map[[2]string][]float64, bodies []string, clients, rounds int, version string) error {
	med := func(body, setup string) float64 {
		v := slices.Clone(results[[2]string{body, setup}])
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Printf("Pod creates through kube-apiserver %s, dryRun=All, %d clients, median of %d interleaved rounds\n\n", version, clients, rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Pod\tsetup\tcreates/s\tvs none\tvs podguard\tvs opa\t")
	for _, body := range bodies {
		for _, setup := range setups {
			m := med(body, setup)
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2fx\t%.2fx\t%.2fx\t\n", body, setup, m,
				m/med(body, "none"), m/med(body, "podguard"), m/med(body, "opa"))
		}
	}
	tw.Flush()
	var missed []string
	if r := med("compliant", "podguard+prefilter") / med("compliant", "none"); r < 0.9 {
		missed = append(missed, fmt.Sprintf("compliant Pods with prefilters at %.2fx of no webhook, target 0.9x", r))
	}
	// "No slower than today": within the rounds' own spread of podguard without them.
	without := results[[2]string{"violating", "podguard"}]
	if m := med("violating", "podguard+prefilter"); m < slices.Min(without) {
		missed = append(missed, fmt.Sprintf("violating Pods with prefilters at %.0f/s, below every round without them (%v)", m, without))
	}
	fmt.Println()
	if len(missed) > 0 {
		return errors.New("targets missed: " + strings.Join(missed, "; "))
	}
	fmt.Println("targets met: compliant with prefilters >= 0.9x of no webhook; violating no slower than without")
	return nil
}

// register puts the setup's webhook configurations in place and waits until the API
// server acts on them (a violating Pod is refused, or for none, created).
func register(ctx context.Context, cs kubernetes.Interface, setup string, pg *harness.Podguard, opaURL string, opaCA []byte, conds prefilter.Set) error {
	probe := func(ctx context.Context) error {
		_, err := cs.CoreV1().Pods("default").Create(ctx, violatingPod(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if setup == "none" {
			return err
		}
		if err == nil {
			return errors.New("a violating Pod was admitted")
		}
		if !strings.Contains(err.Error(), "denied the request") {
			return err
		}
		return nil
	}
	if setup == "none" {
		return harness.Unregister(ctx, cs, probe)
	}
	fail := admissionregistrationv1.Fail
	switch setup {
	case "opa":
		v, _ := harness.Webhooks(opaURL, opaCA, fail)
		v.Webhooks[0].ClientConfig.URL = ptr(opaURL + "/")
		if err := harness.Unregister(ctx, cs, nil); err != nil {
			return err
		}
		if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
			return err
		}
		return waitFor(ctx, probe)
	default:
		v, m := harness.Webhooks(pg.URL, pg.CABundle, fail)
		if setup == "podguard+prefilter" {
			v.Webhooks[0].MatchConditions = matchConditions(conds.Validating)
			m.Webhooks[0].MatchConditions = matchConditions(conds.Mutating)
		}
		return harness.Register(ctx, cs, v, m, probe)
	}
}

func waitFor(ctx context.Context, probe func(context.Context) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("registration not in force: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func matchConditions(cs []prefilter.Condition) []admissionregistrationv1.MatchCondition {
	out := make([]admissionregistrationv1.MatchCondition, len(cs))
	for i, c := range cs {
		out[i] = admissionregistrationv1.MatchCondition{Name: c.Name, Expression: c.Expression}
	}
	return out
}

// measure runs clients creating the Pod (dryRun=All) for warmup, then counts the creates
// answered in duration; a create answered otherwise than expected is a failure.
func measure(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, wantRefused bool, clients int, warmup, duration time.Duration) (float64, int64, error) {
	var counting atomic.Bool
	var done, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pod.DeepCopy()
			p.Name = pod.Name + "-" + strconv.Itoa(i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				ok := (err == nil) != wantRefused && (err == nil || strings.Contains(err.Error(), "denied the request"))
				if !counting.Load() {
					continue
				}
				done.Add(1)
				if !ok {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err))
				}
			}
		}()
	}
	time.Sleep(warmup)
	counting.Store(true)
	start := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if failures.Load() > 0 {
		return 0, failures.Load(), fmt.Errorf("%d unexpected answers, first: %v", failures.Load(), firstErr.Load())
	}
	return float64(done.Load()) / elapsed.Seconds(), 0, ctx.Err()
}

func ptr[T any](v T) *T { return &v }

// violatingPod has no resources, probes or labels, and a latest image.
func violatingPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "violating"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:latest"}}},
	}
}

// compliantPod follows every default rule and has every default: podguard allows it
// unchanged.
func compliantPod() *corev1.Pod {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "compliant", Labels: map[string]string{"app.kubernetes.io/name": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.k8s.io/pause:3.10", LivenessProbe: probe, ReadinessProbe: probe,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
		}}},
	}
}
