package selftest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podguard/podguard/policies/engine"
)

// Exit codes of `podguard selftest`.
const (
	ExitPassed = 0 // both answers were the expected ones
	ExitFailed = 1 // an answer differed
	ExitError  = 2 // bad flags, configuration or policies; the cluster could not be asked
)

// DefaultImage is the compliant Pod's image when --image is not given. Nothing is pulled:
// the Pods are only dry-run.
const DefaultImage = "registry.k8s.io/pause:3.10"

// Options say what to check and where.
type Options struct {
	Namespace string
	Engine    engine.Options
	Image     string
	// Webhook is the name of podguard's validating webhook, which the API server names
	// in a refusal.
	Webhook string
	// Wait is how long to retry while the API server cannot call the webhook yet (just
	// after an install, before the CA is injected).
	Wait time.Duration
}

// Run loads the policies, builds the plan and sends both Pods.
func Run(ctx context.Context, cfg *rest.Config, o Options, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "podguard selftest: %v\n", err)
		return ExitError
	}
	e, err := engine.Load(ctx, o.Engine)
	if err != nil {
		return fail(err)
	}
	warnings := &warningLog{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = warnings
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	if err != nil {
		return fail(fmt.Errorf("reading namespace %s (its labels decide which namespace overrides apply): %w", o.Namespace, err))
	}
	plan, err := NewPlan(ctx, e, o.Namespace, ns.Labels, o.Image)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "podguard selftest: policy revision %s, namespace %s\n", e.Revision(), o.Namespace)

	failed := false
	report := func(err error, format string, args ...any) {
		if err != nil {
			failed = true
			fmt.Fprintf(stdout, "FAIL: %s: %v\n", fmt.Sprintf(format, args...), err)
			return
		}
		fmt.Fprintf(stdout, "ok: %s\n", fmt.Sprintf(format, args...))
	}
	got, err := send(ctx, cs, plan.Compliant, warnings, o.Wait)
	report(checkAdmitted(got, err), "a Pod that follows the configuration is admitted")

	got, err = send(ctx, cs, plan.Violating, warnings, o.Wait)
	if plan.Refused() {
		report(checkRefused(err, o.Webhook, plan.Expect.Deny),
			"a Pod that breaks %s is refused by %s with podguard's message", plan.Rule, o.Webhook)
	} else {
		report(checkWarned(got, err, plan.Expect.Warn),
			"a Pod that breaks %s (enforcement warn in %s) is admitted with podguard's warnings", plan.Rule, o.Namespace)
	}
	if failed {
		return ExitFailed
	}
	return ExitPassed
}

// answer is what the API server said to one dry-run.
type answer struct {
	warnings []string
}

// send dry-runs pod, retrying while the API server cannot reach the webhook.
func send(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, w *warningLog, wait time.Duration) (answer, error) {
	deadline := time.Now().Add(wait)
	for {
		w.reset()
		_, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") || time.Now().After(deadline) {
			return answer{warnings: w.all()}, err
		}
		select {
		case <-ctx.Done():
			return answer{}, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func checkRefused(err error, webhook string, want []engine.Violation) error {
	if err == nil {
		return fmt.Errorf("admitted; podguard should have refused it with:\n  %s", strings.Join(strs(want), "\n  "))
	}
	msg := err.Error()
	if !apierrors.IsForbidden(err) || !strings.Contains(msg, fmt.Sprintf("admission webhook %q denied the request", webhook)) {
		return fmt.Errorf("not refused by %s: %w", webhook, err)
	}
	var missing []string
	for _, v := range want {
		if !strings.Contains(msg, v.String()) {
			missing = append(missing, v.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the refusal lacks\n  %s\nit says: %s", strings.Join(missing, "\n  "), msg)
	}
	return nil
}

// checkAdmitted: a Pod that follows every rule is admitted, and podguard warns of nothing
// (its warnings start with a rule id in brackets; other webhooks' are not its concern).
func checkAdmitted(got answer, err error) error {
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	var ours []string
	for _, w := range got.warnings {
		if strings.HasPrefix(w, "[") {
			ours = append(ours, w)
		}
	}
	if len(ours) > 0 {
		return fmt.Errorf("admitted with warnings %q", ours)
	}
	return nil
}

func checkWarned(got answer, err error, want []engine.Violation) error {
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	var missing []string
	for _, v := range want {
		found := false
		for _, w := range got.warnings {
			found = found || strings.Contains(w, v.String())
		}
		if !found {
			missing = append(missing, v.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("admitted without the warnings\n  %s\nwarnings: %q", strings.Join(missing, "\n  "), got.warnings)
	}
	return nil
}

// warningLog collects the warnings of the API server's answers.
type warningLog struct {
	mu   sync.Mutex
	list []string
}

func (w *warningLog) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningLog) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = nil
}

func (w *warningLog) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
