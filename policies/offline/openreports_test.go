package offline

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

// evaluated are the results of eval on manifests covering each kind of report entry: a
// Pod the defaults complete (a pass), a refused one, one in an exempt namespace, a Service
// (not checked), a Deployment whose missing probe an exception covers, and a document that
// cannot be read.
func evaluated(t *testing.T) (*engine.Engine, []Result) {
	t.Helper()
	e, err := engine.Load(t.Context(), engine.Options{ConfigFile: "../../test/fixtures/eval/exceptions/in-force.config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	manifests, err := ReadInputs(Inputs{Paths: []string{
		"../../test/fixtures/eval/multi.yaml",
		"../../test/fixtures/eval/exceptions/web.yaml",
		"../../test/fixtures/eval/broken.yaml",
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, Evaluate(t.Context(), e, manifests)
}

// TestReports: eval reports a manifest as the audit reports the object it becomes once
// admitted (a Pod with the defaults filled in; a workload as written, which the audit
// judges with the defaults), under its own report name, each result naming the file.
// policies/report's golden file holds what the reports look like.
func TestReports(t *testing.T) {
	e, results := evaluated(t)
	at := time.Unix(1700000000, 0)
	var stored []report.Entry
	for _, r := range results {
		if r.Verdict != VerdictAdmit && r.Verdict != VerdictRefuse || r.Object == nil {
			continue
		}
		obj := r.Object
		if r.mutated != nil {
			obj = r.mutated
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.Review(t.Context(), engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: r.Namespace, Object: engine.BodyOf(raw)})
		if err != nil {
			t.Fatal(err)
		}
		x := report.Entry{Verdict: v, Properties: map[string]string{"file": r.File}}
		x.Ref.APIVersion, x.Ref.Kind, x.Ref.Namespace, x.Ref.Name = apiVersion(r), r.Kind, r.Namespace, r.Name
		stored = append(stored, x)
	}
	audited := report.Build(stored, at)
	evaluated := Reports(results, at)
	if len(evaluated) != len(audited) {
		t.Fatalf("eval gives %d reports, the audit %d", len(evaluated), len(audited))
	}
	// default: the Pod the defaults complete passes, the one with tag latest and the one
	// without labels fail, kube-system is exempt; shop: the excepted probe is a skip.
	want := map[string]openreports.ReportSummary{"default": {Pass: 1, Fail: 2}, "shop": {Skip: 1}}
	got := map[string]openreports.ReportSummary{}
	for _, rep := range evaluated {
		got[rep.Namespace] = rep.Summary
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summaries %+v, want %+v", got, want)
	}
	for i, rep := range evaluated {
		if rep.Name != "podguard-eval" {
			t.Errorf("report named %q, want podguard-eval", rep.Name)
		}
		rep.Name = report.Name
		if !reflect.DeepEqual(rep, audited[i]) {
			t.Errorf("eval's report\n%+v\nthe audit's\n%+v", rep, audited[i])
		}
	}
}
