package auditctl

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"testing"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestAuditReportOutputIsValid creates what `podguard audit -o report` prints, with strict
// server-side field validation: the API server's OpenReports schema accepts every report.
func TestAuditReportOutputIsValid(t *testing.T) {
	ctx := t.Context()
	createNamespace(t, "audit-cli")
	if _, err := env.Clientset.CoreV1().Pods("audit-cli").Create(ctx, pod("bad", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset.AppsV1().Deployments("audit-cli").Create(ctx, deployment("api", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(env.bin, "audit", "--kubeconfig", env.Kubeconfig, "--namespace", "audit-cli", "-o", "report").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("audit -o report: %v (want exit 1: violations found)\n%s", err, out)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	var n int
	for {
		var r openreports.Report
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		n++
		if err := env.reports.Create(ctx, &r, client.FieldValidation("Strict")); err != nil {
			t.Fatalf("the API server refused report %s/%s: %v", r.Namespace, r.Name, err)
		}
		if len(r.Results) != 6 || r.Summary.Fail != 6 {
			t.Errorf("report has %d results, summary %+v: want the Pod's and the Deployment's 3 each", len(r.Results), r.Summary)
		}
	}
	if n != 1 {
		t.Fatalf("%d reports printed, want one for audit-cli:\n%s", n, out)
	}
}
