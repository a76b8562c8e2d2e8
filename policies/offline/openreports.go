package offline

import (
	"errors"
	"io"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

// reportName names eval's Reports apart from the audit controller's, so that applying them
// to a cluster where the controller runs neither overwrites its reports nor is undone.
const reportName = "podguard-eval"

// Reports are the OpenReports Reports (openreports.io/v1alpha1) of the results, built by
// the report package as the audit controller builds them: what the manifests would get
// once applied, since the decision they carry is on each object as admitted. Each result
// also names the file the manifest came from and, for rendered output, what rendered it.
// Objects that were not judged (exempt, not checked, not read) are left out; at is the time
// the results carry.
func Reports(results []Result, at time.Time) []*openreports.Report {
	var entries []report.Entry
	for _, r := range results {
		if r.Namespace == "" { // cluster-scoped, or an object kubectl would not send
			continue
		}
		x := report.Entry{
			Ref:        corev1.ObjectReference{APIVersion: apiVersion(r), Kind: r.Kind, Namespace: r.Namespace, Name: r.Name},
			Properties: map[string]string{"file": r.File},
		}
		if r.Via != "" {
			x.Properties["renderedBy"] = r.Via
		}
		switch r.Verdict {
		case VerdictError:
			x.Err = errors.New(r.Reason)
		case VerdictAdmit, VerdictRefuse:
			x.Verdict = engine.Verdict{Decision: r.decision}
		default:
			continue
		}
		entries = append(entries, x)
	}
	reports := report.Build(entries, at)
	for _, rep := range reports {
		rep.Name = reportName
	}
	return reports
}

// apiVersion is the apiVersion of a judged object.
func apiVersion(r Result) string {
	v, _ := r.Object["apiVersion"].(string)
	return v
}

// WriteReports prints the Reports of results as a YAML stream, for kubectl apply.
func WriteReports(w io.Writer, results []Result) error {
	return report.WriteYAML(w, Reports(results, time.Now()))
}
