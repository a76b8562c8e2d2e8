package chart

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/test/auditctl"
)

var auditValues = map[string]any{"audit": map[string]any{"enabled": true, "installCRDs": true}}

// TestAuditInstall renders audit.enabled with audit.installCRDs: the controller's own
// Deployment, which podguard's rules admit and the webhook's Service does not select; RBAC
// for every kind it watches and for its reports; and the OpenReports CRDs exactly as the
// reports-api module ships them.
func TestAuditInstall(t *testing.T) {
	r := render(t, Options{Values: auditValues})
	if _, ok := r.Find("Deployment", "podguard-audit"); !ok {
		t.Fatalf("no Deployment podguard-audit; kinds %v", r.Kinds())
	}
	code, results := podguardEval(t, YAMLStream(r.Objects))
	if code != 0 {
		t.Errorf("podguard eval exit %d, want 0", code)
	}
	var checked []string
	for _, res := range results {
		if res.Kind == "Deployment" {
			checked = append(checked, res.Name)
			if res.Verdict != "admit" {
				t.Errorf("Deployment %s: %s %+v", res.Name, res.Verdict, res.Violations)
			}
		}
	}
	if !slices.Contains(checked, "podguard-audit") {
		t.Errorf("podguard eval checked Deployments %v, not podguard-audit", checked)
	}

	svc, ok := r.Find("Service", "podguard")
	if !ok {
		t.Fatal("no Service podguard")
	}
	sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	d, _ := r.Find("Deployment", "podguard-audit")
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	if labels.SelectorFromSet(sel).Matches(labels.Set(podLabels)) {
		t.Errorf("the webhook's Service selector %v selects the audit Pods %v", sel, podLabels)
	}

	cr, ok := r.Find("ClusterRole", "podguard-audit")
	if !ok {
		t.Fatal("no ClusterRole podguard-audit")
	}
	var role rbacv1.ClusterRole
	if err := cr.Into(&role); err != nil {
		t.Fatal(err)
	}
	for _, need := range []struct{ group, resource, verb string }{
		{"", "pods", "watch"}, {"", "pods", "list"}, {"", "replicationcontrollers", "watch"},
		{"", "namespaces", "watch"}, {"", "limitranges", "watch"},
		{"apps", "deployments", "watch"}, {"apps", "statefulsets", "watch"}, {"apps", "daemonsets", "watch"}, {"apps", "replicasets", "watch"},
		{"batch", "jobs", "watch"}, {"batch", "cronjobs", "watch"},
		{"openreports.io", "reports", "create"}, {"openreports.io", "reports", "update"}, {"openreports.io", "reports", "delete"}, {"openreports.io", "reports", "watch"},
	} {
		if !allows(role.Rules, need.group, need.resource, need.verb) {
			t.Errorf("ClusterRole podguard-audit does not allow %s %s.%s", need.verb, need.resource, need.group)
		}
	}

	dir, err := auditctl.CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	for file, name := range map[string]string{"openreports.io_reports.yaml": "reports.openreports.io", "openreports.io_clusterreports.yaml": "clusterreports.openreports.io"} {
		crd, ok := r.Find("CustomResourceDefinition", name)
		if !ok {
			t.Errorf("no CRD %s", name)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := yaml.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, _ := yaml.Marshal(crd.Object)
		wantY, _ := yaml.Marshal(want)
		if string(got) != string(wantY) {
			t.Errorf("CRD %s differs from the module's %s", name, file)
		}
	}

	plain := render(t, Options{})
	for _, kind := range []string{"CustomResourceDefinition"} {
		if slices.Contains(plain.Kinds(), kind) {
			t.Errorf("the default install renders a %s", kind)
		}
	}
	if _, ok := plain.Find("Deployment", "podguard-audit"); ok {
		t.Error("the default install renders the audit controller")
	}
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}
