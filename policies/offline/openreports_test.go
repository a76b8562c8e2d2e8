package offline

import (
	"testing"
	"time"

	"github.com/podguard/podguard/policies/engine"
)

func TestReports(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	obj := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}
	finding := func(rule, enforcement string, defaulted bool) Finding {
		return Finding{Violation: engine.Violation{Rule: rule, Enforcement: enforcement, Message: rule + " broken", Field: "spec"}, Defaulted: defaulted}
	}
	results := []Result{
		{Manifest: Manifest{File: "a.yaml", Object: obj}, Kind: "Deployment", Namespace: "shop", Name: "web", Verdict: VerdictRefuse,
			Findings: []Finding{finding("image-tag", "deny", false), finding("resources-limits", "deny", true), finding("probes", "warn", false)}},
		{Manifest: Manifest{File: "b.yaml", Object: obj, Via: "helm template chart"}, Kind: "Deployment", Namespace: "prod", Name: "api", Verdict: VerdictAdmit, Findings: []Finding{}},
		{Manifest: Manifest{File: "c.yaml", Object: obj}, Kind: "Deployment", Namespace: "kube-system", Name: "dns", Verdict: VerdictExempt},
		{Manifest: Manifest{File: "d.yaml"}, Verdict: VerdictSkipped, Reason: "a kustomization"},
		{Manifest: Manifest{File: "e.yaml", Object: obj}, Kind: "Service", Namespace: "shop", Name: "web", Verdict: VerdictUnchecked},
	}
	reports := Reports(results, "v1.2.3", at)
	type row struct{ ns, rule, result, severity string }
	var got []row
	summaries := map[string][5]int{}
	for _, r := range reports {
		if r.Kind != "Report" || r.APIVersion != "openreports.io/v1alpha1" || r.Name != "podguard-eval" {
			t.Errorf("report %s %s/%s", r.APIVersion, r.Namespace, r.Name)
		}
		summaries[r.Namespace] = [5]int{r.Summary.Pass, r.Summary.Fail, r.Summary.Warn, r.Summary.Error, r.Summary.Skip}
		for _, x := range r.Results {
			got = append(got, row{r.Namespace, x.Rule, string(x.Result), string(x.Severity)})
			if x.Timestamp.Seconds != at.Unix() || len(x.Subjects) != 1 || x.Subjects[0].Namespace != r.Namespace || x.Subjects[0].APIVersion != "apps/v1" {
				t.Errorf("result %+v: wrong time or subject", x)
			}
		}
	}
	want := []row{ // namespaces in order; a result per finding, a pass for a manifest with none
		{"kube-system", "", "skip", ""},
		{"prod", "", "pass", ""},
		{"shop", "image-tag", "fail", "high"},
		{"shop", "resources-limits", "pass", "info"},
		{"shop", "probes", "warn", "medium"},
	}
	if len(got) != len(want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d: %v, want %v", i, got[i], want[i])
		}
	}
	wantSummaries := map[string][5]int{"kube-system": {0, 0, 0, 0, 1}, "prod": {1, 0, 0, 0, 0}, "shop": {1, 1, 1, 0, 0}}
	for ns, w := range wantSummaries {
		if summaries[ns] != w {
			t.Errorf("summary of %s (pass, fail, warn, error, skip): %v, want %v", ns, summaries[ns], w)
		}
	}
	if via := reports[1].Results[0].Properties["renderedBy"]; via != "helm template chart" {
		t.Errorf("renderedBy %q, want the chart", via)
	}
}
