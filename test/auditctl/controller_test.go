package auditctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/test/harness"
)

// results lists a namespace's podguard Report as "Kind/name rule result(enforcement)", sorted;
// found is false when there is no Report.
func results(ctx context.Context, namespace string) (got string, found bool, err error) {
	var r openreports.Report
	if err := env.reports.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "podguard"}, &r); err != nil {
		if apierrors.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	var lines []string
	for _, x := range r.Results {
		for _, s := range x.Subjects {
			lines = append(lines, fmt.Sprintf("%s/%s %s %s(%s)", s.Kind, s.Name, x.Policy, x.Result, x.Properties["enforcement"]))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), true, nil
}

// waitReport waits until the namespace's Report lists exactly want ("" and found false:
// until it is gone).
func waitReport(t *testing.T, namespace string, want []string, wantFound bool) {
	t.Helper()
	sort.Strings(want)
	w := strings.Join(want, "\n")
	var last string
	var lastFound bool
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		got, found, err := results(ctx, namespace)
		if err != nil {
			return false, err
		}
		last, lastFound = got, found
		return found == wantFound && got == w, nil
	})
	if err != nil {
		t.Fatalf("%s: report (found %v):\n%s\nwant (found %v):\n%s\n(%v)", namespace, lastFound, last, wantFound, w, err)
	}
}

func violations(object, result, enforcement string, rules ...string) []string {
	var out []string
	for _, r := range rules {
		out = append(out, fmt.Sprintf("%s %s %s(%s)", object, r, result, enforcement))
	}
	return out
}

const warnB = `namespaces:
  overrides:
    - names: [audit-b]
      enforcement: warn
`

// TestReportsFollowTheCluster is the controller's whole life: reports appear for what
// already runs (deny in one namespace, warn in the other), follow a fixed Deployment and a
// configuration change, and go when a namespace has nothing left to report.
func TestReportsFollowTheCluster(t *testing.T) {
	ctx := t.Context()
	for _, ns := range []string{"audit-a", "audit-b"} {
		createNamespace(t, ns)
	}
	pods, deploys := env.Clientset.CoreV1().Pods, env.Clientset.AppsV1().Deployments
	// A violating Pod made by a ReplicaSet is reported through the ReplicaSet, never alone.
	owned := pod("owned", true)
	yes := true
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone", UID: "6f1e4b1a-0d7c-4c55-9f86-1c2b0b1d4c11", Controller: &yes}}
	for _, step := range []error{
		must(pods("audit-a").Create(ctx, pod("bad", true), metav1.CreateOptions{})),
		must(pods("audit-a").Create(ctx, pod("good", false), metav1.CreateOptions{})),
		must(pods("audit-a").Create(ctx, owned, metav1.CreateOptions{})),
		must(deploys("audit-a").Create(ctx, deployment("api", true), metav1.CreateOptions{})),
		must(deploys("audit-a").Create(ctx, deployment("web", false), metav1.CreateOptions{})),
		must(pods("audit-b").Create(ctx, pod("bad", true), metav1.CreateOptions{})),
		must(deploys("audit-b").Create(ctx, deployment("web", false), metav1.CreateOptions{})),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	config := filepath.Join(t.TempDir(), "config.yaml")
	writeConfig(t, config, warnB)
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0])
	startController(t, "solo", config, 15*time.Second, "--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]))

	rules := []string{"image-tag", "liveness-probe", "readiness-probe"}
	wantA := append(violations("Pod/bad", "fail", "deny", rules...), violations("Deployment/api", "fail", "deny", rules...)...)
	waitReport(t, "audit-a", wantA, true)
	waitReport(t, "audit-b", violations("Pod/bad", "warn", "warn", rules...), true)

	var sum openreports.Report
	if err := env.reports.Get(ctx, client.ObjectKey{Namespace: "audit-a", Name: "podguard"}, &sum); err != nil {
		t.Fatal(err)
	}
	if want := (openreports.ReportSummary{Pass: 2, Fail: 6}); sum.Summary != want || sum.Source != "podguard" {
		t.Errorf("audit-a summary %+v source %q, want %+v podguard", sum.Summary, sum.Source, want)
	}

	// Violating objects by rule and enforcement, and no other label.
	waitMetric(t, metricsURL, `podguard_audit_violating_objects{enforcement="deny",rule="image-tag"} 2`)
	waitMetric(t, metricsURL, `podguard_audit_violating_objects{enforcement="warn",rule="liveness-probe"} 1`)

	// Fix the Deployment: its results go.
	d, err := deploys("audit-a").Get(ctx, "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec = podSpec(false)
	if _, err := deploys("audit-a").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReport(t, "audit-a", violations("Pod/bad", "fail", "deny", rules...), true)

	// Change the configuration: the image tag no longer counts, and audit-b is denied too.
	writeConfig(t, config, "rules:\n  image-tag: {enforcement: \"off\"}\n")
	waitReport(t, "audit-a", violations("Pod/bad", "fail", "deny", "liveness-probe", "readiness-probe"), true)
	waitReport(t, "audit-b", violations("Pod/bad", "fail", "deny", "liveness-probe", "readiness-probe"), true)

	// Delete audit-b's last violating object: its Report goes.
	if err := pods("audit-b").Delete(ctx, "bad", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReport(t, "audit-b", nil, false)
	waitMetric(t, metricsURL, `podguard_audit_violating_objects{enforcement="deny",rule="liveness-probe"} 1`)
}

// waitMetric waits until the controller's /metrics has the line want, and checks that
// every podguard_audit_violating_objects series is labelled by rule and enforcement only.
func waitMetric(t *testing.T, url, want string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false, nil // not listening yet
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err
		}
		if resp.StatusCode != http.StatusOK {
			last = resp.Status
			return false, nil
		}
		last = ""
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "podguard_audit_violating_objects{") {
				continue
			}
			last += line + "\n"
			if !regexp.MustCompile(`^podguard_audit_violating_objects\{enforcement="[a-z]+",rule="[a-z-]+"\} [0-9]+$`).MatchString(line) {
				return false, fmt.Errorf("series with other labels: %s", line)
			}
			found = found || line == want
		}
		return found, nil
	})
	if err != nil {
		t.Fatalf("metrics never had %s: %v; last:\n%s", want, err, last)
	}
}

func must[T any](_ T, err error) error { return err }
