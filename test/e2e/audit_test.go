package e2e

import (
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/test/harness"
)

func TestAuditFindsExactlyTheNoncompliantObjects(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t)
	// Objects that predate podguard: create them while it is not registered.
	if err := unregister(ctx); err != nil {
		t.Fatal(err)
	}
	bad := sample(t, "pod-violating.yaml")
	good := sample(t, "pod-compliant.yaml")
	badDeploy := sampleDeployment(t, "deployment-no-probes.yaml")
	goodDeploy := compliantDeployment(t)
	goodDeploy.Name = "api-ok"
	// A Pod of a ReplicaSet is reported through the ReplicaSet, not on its own.
	owned := sample(t, "pod-violating.yaml")
	owned.Name = "owned"
	yes := true
	owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "gone", UID: "6f1e4b1a-0d7c-4c55-9f86-1c2b0b1d4c11", Controller: &yes}}
	_, err1 := env.cs.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{})
	_, err2 := env.cs.CoreV1().Pods(ns).Create(ctx, good, metav1.CreateOptions{})
	_, err3 := env.cs.AppsV1().Deployments(ns).Create(ctx, badDeploy, metav1.CreateOptions{})
	_, err4 := env.cs.AppsV1().Deployments(ns).Create(ctx, goodDeploy, metav1.CreateOptions{})
	_, err5 := env.cs.CoreV1().Pods(ns).Create(ctx, owned, metav1.CreateOptions{})
	if err := register(ctx, env.podguard, admissionregistrationv1.Fail); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			t.Fatal(err)
		}
	}
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "audit", "--kubeconfig", env.kubeconfig, "--namespace", ns, "-o", "json").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("audit exit %v (want 1: violations found): %s", err, out)
	}
	var report struct {
		Namespaces map[string]map[string][]struct{ Kind, Name, Enforcement string }
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	found := map[string]bool{}
	var rules []string
	for rule, fs := range report.Namespaces[ns] {
		rules = append(rules, rule)
		for _, f := range fs {
			found[f.Kind+"/"+f.Name] = true
		}
	}
	var got []string
	for k := range found {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(rules)
	if want := "Deployment/api,Pod/bad"; strings.Join(got, ",") != want {
		t.Errorf("audit found %v, want %s", got, want)
	}
	if want := "image-tag,liveness-probe,readiness-probe,required-labels,resources-limits,resources-requests"; strings.Join(rules, ",") != want {
		t.Errorf("audit rules %v, want %s", rules, want)
	}
	table, _ := exec.Command(bin, "audit", "--kubeconfig", env.kubeconfig, "--namespace", ns).Output()
	if !strings.Contains(string(table), "NAMESPACE") || !strings.Contains(string(table), "Deployment/api") {
		t.Errorf("table output:\n%s", table)
	}
}
