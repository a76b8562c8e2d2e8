package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExceptionAdmitsTheNamedDeployment: an exception of the admin's configuration, with
// its reason, admits the Deployment it names, and podguard logs what it let through and
// why; an expired exception and a Deployment it does not name are refused as before.
func TestExceptionAdmitsTheNamedDeployment(t *testing.T) {
	ns := namespace(t)
	const reason = "batch importer: probes land with ticket IMP-7"
	pg := withPodguard(t, fmt.Sprintf(`exceptions:
  - rules: [liveness-probe, readiness-probe]
    match: {namespace: %[1]s, kind: Deployment, name: web}
    reason: %[2]q
    expires: "2200-01-01"
  - rules: [liveness-probe, readiness-probe]
    match: {namespace: %[1]s, kind: Deployment, name: old}
    reason: "expired on purpose"
    expires: "2020-01-01"
`, ns, reason))
	create := func(name string) error {
		d := sampleDeployment(t, "deployment-no-probes.yaml")
		d.Name = name
		_, err := env.cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
		return err
	}
	if err := create("web"); err != nil {
		t.Fatalf("Deployment web, named by an exception in force: %v", err)
	}
	log, err := os.ReadFile(pg.Log)
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "excepted violations") && strings.Contains(l, `"name":"web"`) {
			line = l
		}
	}
	for _, want := range []string{`[liveness-probe] container \"api\"`, `[readiness-probe] container \"api\"`, "Excepted by exceptions[0]: " + reason} {
		if !strings.Contains(line, want) {
			t.Errorf("admission log line of the excepted Deployment %q lacks %q\n%s", line, want, pg.LogTail())
		}
	}
	want := `[liveness-probe] container "api": livenessProbe is not set (spec.template.spec.containers[0].livenessProbe)`
	for _, name := range []string{"old", "api"} {
		code, msg := status(create(name))
		if code != 403 || !strings.Contains(msg, want) || strings.Contains(msg, "Excepted") {
			t.Errorf("Deployment %s (an expired exception, or none): code %d %q, want 403 with %q", name, code, msg, want)
		}
	}
}
