package offline

import (
	"io"
	"sort"
	"time"

	reports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podguard/podguard/policies/report"
)

// reportName is the name of the Report eval writes in each namespace.
const reportName = "podguard-eval"

// Reports turns verdicts into OpenReports Reports (openreports.io/v1alpha1), one per
// namespace, as Kyverno and Policy Reporter read them: a result per violation (fail for
// a denial, warn for a warning, pass when the defaults fill it), a pass for a manifest
// with none, skip for an exempt one, error when the policies failed on it. Kinds
// podguard does not judge and documents that are no objects are left out. Reports are
// in namespace order; at is the time the results carry.
func Reports(results []Result, version string, at time.Time) []reports.Report {
	byNS := map[string]*reports.Report{}
	ts := metav1.Timestamp{Seconds: at.Unix(), Nanos: int32(at.Nanosecond())}
	for _, r := range results {
		if r.Namespace == "" {
			continue
		}
		var rs []reports.ReportResult
		base := func(res reports.Result, sev reports.ResultSeverity, rule, msg string) reports.ReportResult {
			props := map[string]string{"file": r.File, "version": version}
			if r.Via != "" {
				props["renderedBy"] = r.Via
			}
			return reports.ReportResult{
				Source: "podguard", Policy: "podguard", Rule: rule, Result: res, Severity: sev,
				Timestamp: ts, Scored: true, Description: msg, Properties: props,
				Subjects: []corev1.ObjectReference{{APIVersion: apiVersion(r), Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}},
			}
		}
		switch r.Verdict {
		case VerdictExempt:
			rs = append(rs, base("skip", "", "", "namespace "+r.Namespace+" is exempt"))
		case VerdictError:
			rs = append(rs, base("error", "", "", r.Reason))
		case VerdictAdmit, VerdictRefuse:
			failed := false
			for _, f := range r.Findings {
				res, sev := reports.Result("pass"), reports.ResultSeverity("info")
				switch {
				case f.Defaulted:
				case f.Enforcement == "deny":
					res, sev, failed = "fail", "high", true
				case f.Enforcement == "warn":
					res, sev, failed = "warn", "medium", true
				}
				x := base(res, sev, f.Rule, f.String())
				if f.Field != "" {
					x.Properties["field"] = f.Field
				}
				if n := f.Note(); n != "" {
					x.Properties["note"] = n
				}
				rs = append(rs, x)
			}
			if !failed && len(r.Findings) == 0 {
				rs = append(rs, base("pass", "", "", "admitted"))
			}
		default:
			continue
		}
		rep := byNS[r.Namespace]
		if rep == nil {
			rep = &reports.Report{
				TypeMeta:   metav1.TypeMeta{APIVersion: reports.SchemeGroupVersion.String(), Kind: "Report"},
				ObjectMeta: metav1.ObjectMeta{Name: reportName, Namespace: r.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "podguard"}},
				Source:     "podguard",
			}
			byNS[r.Namespace] = rep
		}
		for _, x := range rs {
			switch x.Result {
			case "pass":
				rep.Summary.Pass++
			case "fail":
				rep.Summary.Fail++
			case "warn":
				rep.Summary.Warn++
			case "error":
				rep.Summary.Error++
			case "skip":
				rep.Summary.Skip++
			}
		}
		rep.Results = append(rep.Results, rs...)
	}
	names := make([]string, 0, len(byNS))
	for ns := range byNS {
		names = append(names, ns)
	}
	sort.Strings(names)
	out := make([]reports.Report, 0, len(names))
	for _, ns := range names {
		out = append(out, *byNS[ns])
	}
	return out
}

// apiVersion is the apiVersion of a judged object.
func apiVersion(r Result) string {
	v, _ := r.Object["apiVersion"].(string)
	return v
}

// WriteReports prints the Reports of results as a YAML stream, for kubectl apply.
func WriteReports(w io.Writer, results []Result, version string) error {
	return report.WriteYAML(w, Reports(results, version, time.Now()))
}
