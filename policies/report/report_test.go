package report_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

var update = flag.Bool("update", false, "rewrite testdata/reports.golden.yaml")

// TestBuild judges the samples with the default policies and holds the reports built from
// the verdicts to a golden file: a violating Pod and Deployment in one namespace, a
// compliant Pod alone in another (no report), an error in a third.
func TestBuild(t *testing.T) {
	e, err := engine.Load(t.Context(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	objects := []struct{ file, namespace string }{
		{"pod-violating.yaml", "team-a"},
		{"pod-compliant.yaml", "team-a"},
		{"deployment-no-probes.yaml", "team-a"},
		{"pod-compliant.yaml", "team-b"},
	}
	var entries []report.Entry
	for _, o := range objects {
		y, err := os.ReadFile("../../test/samples/" + o.file)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.Review(t.Context(), engine.Request{Source: engine.Stored, Operation: engine.Create, Namespace: o.namespace, Object: engine.BodyOf(raw)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Skipped != engine.NotSkipped {
			t.Fatalf("%s skipped: %s", o.file, v.Reason)
		}
		entries = append(entries, report.Entry{Ref: corev1.ObjectReference{APIVersion: v.Object.APIVersion, Kind: v.Object.Kind, Namespace: o.namespace, Name: v.Object.Name, UID: types.UID("uid-" + o.file)}, Verdict: v})
	}
	entries = append(entries, report.Entry{Ref: corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: "team-c", Name: "broken", UID: "uid-broken"}, Err: errors.New("spec.containers: not an array")})
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
	if len(reports) != 2 || reports[0].Namespace != "team-a" || reports[1].Namespace != "team-c" {
		t.Fatalf("want reports for team-a and team-c only, got %d", len(reports))
	}
	if s := reports[0].Summary; s.Pass != 1 || s.Fail == 0 || s.Fail+s.Warn != len(reports[0].Results) {
		t.Errorf("team-a summary %+v does not count its %d results and its one compliant Pod", s, len(reports[0].Results))
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
