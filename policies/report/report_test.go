package report_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

var update = flag.Bool("update", false, "rewrite testdata/reports.golden.yaml")

// judge reviews a sample file as a stored object in namespace, with the engine e.
func judge(t *testing.T, e *engine.Engine, file, namespace string) report.Entry {
	t.Helper()
	y, err := os.ReadFile("../../test/" + file)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Review(t.Context(), engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: namespace, Object: engine.BodyOf(raw)})
	if err != nil {
		t.Fatal(err)
	}
	if v.Skipped != engine.NotSkipped {
		t.Fatalf("%s skipped: %s", file, v.Reason)
	}
	return report.Entry{Ref: corev1.ObjectReference{APIVersion: v.Object.APIVersion, Kind: v.Object.Kind, Namespace: namespace, Name: v.Object.Name, UID: types.UID("uid-" + filepath.Base(file))}, Verdict: v}
}

// TestBuild judges the samples with the default policies and holds the reports built from
// the verdicts to a golden file: a violating Pod and Deployment in one namespace, a
// compliant Pod alone in another (no report), an error in a third, and in a fourth a
// Deployment whose missing readiness probe an exception of the configuration covers.
func TestBuild(t *testing.T) {
	e, err := engine.Load(t.Context(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	excepting, err := engine.Load(t.Context(), engine.Options{ConfigFile: "../../test/fixtures/eval/exceptions/in-force.config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	entries := []report.Entry{
		judge(t, e, "samples/pod-violating.yaml", "team-a"),
		judge(t, e, "samples/pod-compliant.yaml", "team-a"),
		judge(t, e, "samples/deployment-no-probes.yaml", "team-a"),
		judge(t, e, "samples/pod-compliant.yaml", "team-b"),
		{Ref: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "team-c", Name: "broken", UID: "uid-broken"}, Err: errors.New("spec.containers: not an array")},
		judge(t, excepting, "fixtures/eval/exceptions/web.yaml", "shop"),
	}
	reports := report.Build(entries, time.Unix(1700000000, 0))
	var got bytes.Buffer
	if err := report.WriteYAML(&got, reports); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/reports.golden.yaml"
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("reports differ from %s (go test -update rewrites it):\n%s", golden, got.String())
	}
	if len(reports) != 3 || reports[0].Namespace != "shop" || reports[1].Namespace != "team-a" || reports[2].Namespace != "team-c" {
		t.Fatalf("want reports for shop, team-a and team-c only, got %d", len(reports))
	}
	if s := reports[1].Summary; s.Pass != 1 || s.Fail == 0 || s.Fail+s.Warn != len(reports[1].Results) {
		t.Errorf("team-a summary %+v does not count its %d results and its one compliant Pod", s, len(reports[1].Results))
	}
}

// TestJudge holds the outcome of each kind of verdict: what Kyverno's reports and Policy
// Reporter make of result, severity and scored.
func TestJudge(t *testing.T) {
	ref := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "ns", Name: "d"}
	at := time.Unix(1700000000, 999)
	violation := func(rule, enforcement, container string) engine.Violation {
		return engine.Violation{Rule: rule, Enforcement: enforcement, Container: container, Message: rule + " broken", Field: "spec." + container, Fix: "fix " + container}
	}
	type row struct {
		policy, result, severity string
		scored                   bool
		message                  string
		properties               map[string]string
	}
	tests := map[string]struct {
		entry  report.Entry
		want   []row
		passed bool
	}{
		"no violation: a pass, counted but not listed": {
			entry: report.Entry{Ref: ref}, passed: true,
		},
		"a deny is a scored fail of severity high": {
			entry: report.Entry{Ref: ref, Verdict: engine.Verdict{Decision: engine.Decision{Deny: []engine.Violation{violation("image-tag", "deny", "a")}}}},
			want:  []row{{"image-tag", "fail", "high", true, "container a: image-tag broken", map[string]string{"enforcement": "deny", "container": "a", "field": "spec.a", "fix": "fix a"}}},
		},
		"warn and audit are unscored warns, medium and low": {
			entry: report.Entry{Ref: ref, Verdict: engine.Verdict{Decision: engine.Decision{Warn: []engine.Violation{violation("image-tag", "warn", "")}, Audit: []engine.Violation{violation("liveness-probe", "audit", "")}}}},
			want: []row{
				{"image-tag", "warn", "medium", false, "image-tag broken", map[string]string{"enforcement": "warn", "field": "spec.", "fix": "fix "}},
				{"liveness-probe", "warn", "low", false, "liveness-probe broken", map[string]string{"enforcement": "audit", "field": "spec.", "fix": "fix "}},
			},
		},
		"containers breaking one rule are one result; one an exception covers is a skip apart": {
			entry: report.Entry{Ref: ref, Properties: map[string]string{"file": "d.yaml"}, Verdict: engine.Verdict{Decision: engine.Decision{
				Deny:     []engine.Violation{violation("image-tag", "deny", "a"), violation("image-tag", "deny", "b")},
				Excepted: []engine.Violation{{Rule: "image-tag", Enforcement: engine.Excepted, Container: "c", Message: "image-tag broken", Exception: "exceptions[0]: vendor image"}},
			}}},
			want: []row{
				{"image-tag", "fail", "high", true, "container a: image-tag broken; container b: image-tag broken", map[string]string{"enforcement": "deny", "container": "a, b", "field": "spec.a, spec.b", "fix": "fix a fix b", "file": "d.yaml"}},
				{"image-tag", "skip", "", false, "container c: image-tag broken", map[string]string{"enforcement": "excepted", "container": "c", "exception": "exceptions[0]: vendor image", "file": "d.yaml"}},
			},
		},
		"an error judging the object is an error result, with the entry's properties": {
			entry: report.Entry{Ref: ref, Err: errors.New("no containers"), Properties: map[string]string{"file": "d.yaml"}},
			want:  []row{{"podguard", "error", "", false, "no containers", map[string]string{"file": "d.yaml"}}},
		},
		"an object left unjudged contributes nothing": {
			entry: report.Entry{Ref: ref, Verdict: engine.Verdict{Skipped: engine.SkipExempt, Decision: engine.Decision{Deny: []engine.Violation{violation("image-tag", "deny", "a")}}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := report.Judge(tc.entry, at)
			if o.Passed != tc.passed {
				t.Errorf("passed %v, want %v", o.Passed, tc.passed)
			}
			var got []row
			for _, r := range o.Results {
				got = append(got, row{r.Policy, string(r.Result), string(r.Severity), r.Scored, r.Description, r.Properties})
				if r.Source != "podguard" || r.Timestamp.Seconds != at.Unix() || r.Timestamp.Nanos != 0 || len(r.Subjects) != 1 || r.Subjects[0] != ref {
					t.Errorf("result %+v: want source podguard, the time in seconds and the object as its one resource", r)
				}
				if r.Rule != r.Policy && r.Result != "error" {
					t.Errorf("rule %q, want the policy %q", r.Rule, r.Policy)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("results\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// TestNewSummary: the summary counts every outcome, passes as objects, and the report says
// which outcomes it lists and how many at most.
func TestNewSummary(t *testing.T) {
	ref := func(name string) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: name}
	}
	at := time.Unix(1700000000, 0)
	deny := engine.Decision{Deny: []engine.Violation{{Rule: "image-tag", Enforcement: "deny"}}}
	excepted := engine.Decision{Excepted: []engine.Violation{{Rule: "image-tag", Enforcement: engine.Excepted}}}
	objects := []report.Object{
		report.Judge(report.Entry{Ref: ref("ok")}, at),
		report.Judge(report.Entry{Ref: ref("ok2")}, at),
		report.Judge(report.Entry{Ref: ref("x"), Verdict: engine.Verdict{Decision: excepted}}, at),
		report.Judge(report.Entry{Ref: ref("y"), Err: errors.New("bad")}, at),
	}
	for i := range report.MaxResults {
		objects = append(objects, report.Judge(report.Entry{Ref: ref(fmt.Sprintf("bad-%04d", i)), Verdict: engine.Verdict{Decision: deny}}, at))
	}
	r := report.New("ns", objects)
	if want := (openreports.ReportSummary{Pass: 2, Fail: report.MaxResults, Error: 1, Skip: 1}); r.Summary != want {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}
	if len(r.Results) != report.MaxResults || r.Results[0].Result != "error" || r.Results[len(r.Results)-1].Result != "fail" {
		t.Errorf("%d results from %s to %s: want the first %d, errors first", len(r.Results), r.Results[0].Result, r.Results[len(r.Results)-1].Result, report.MaxResults)
	}
	want := &openreports.ReportConfiguration{Limits: openreports.Limits{MaxResults: report.MaxResults, StatusFilter: []openreports.StatusFilter{"fail", "warn", "error", "skip"}}}
	if !reflect.DeepEqual(r.Configuration, want) {
		t.Errorf("configuration %+v, want %+v", r.Configuration, want)
	}
	if r := report.New("ns", objects[:2]); r != nil {
		t.Errorf("a namespace whose objects all pass has a report: %+v", r)
	}
}

func TestEqualIgnoresTimestamps(t *testing.T) {
	ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "ns", Name: "p"}
	v := engine.Verdict{Decision: engine.Decision{Deny: []engine.Violation{{Rule: "image-tag", Enforcement: "deny", Message: "m", Field: "f", Fix: "x"}}}}
	a := report.New("ns", []report.Object{report.Judge(report.Entry{Ref: ref, Verdict: v}, time.Unix(1, 0))})
	b := report.New("ns", []report.Object{report.Judge(report.Entry{Ref: ref, Verdict: v}, time.Unix(2, 0))})
	if !report.Equal(a, b) {
		t.Error("reports that differ only in timestamps are not Equal")
	}
	v.Decision.Deny[0].Message = "other"
	c := report.New("ns", []report.Object{report.Judge(report.Entry{Ref: ref, Verdict: v}, time.Unix(1, 0))})
	if report.Equal(a, c) {
		t.Error("reports with different messages are Equal")
	}
}
