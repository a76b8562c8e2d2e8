package report

import (
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
)

const (
	// Source names podguard in every report and result, as Policy Reporter filters by it.
	Source = "podguard"
	// Name is the name of podguard's Report in each namespace.
	Name = "podguard"
	// ManagedBy labels podguard's reports (app.kubernetes.io/managed-by), so they can be
	// listed apart from other engines' reports in the same namespace.
	ManagedBy = "podguard"
	// MaxResults bounds a report's results so that it stays far below the API server's
	// object size limit however much a namespace violates; the summary still counts all.
	MaxResults = 1000
)

// Entry is one object and the verdict on it. Err is an error judging it, reported as an
// "error" result (the object is neither passed nor failed). Properties say where the object
// came from (eval: its file); every result of the entry carries them.
type Entry struct {
	Ref        corev1.ObjectReference
	Verdict    engine.Verdict
	Err        error
	Properties map[string]string
}

// Object is what one judged object contributes to its namespace's report: one result per
// rule it violates (or one error result), and whether it passed every rule.
type Object struct {
	Results []openreports.ReportResult
	Passed  bool
}

// Judge returns what an entry contributes to its namespace's report. An object left
// unjudged (exempt namespace, made by a judged controller, a kind podguard does not check)
// contributes nothing, as a resource a policy does not match has no result in Kyverno's
// reports. The violations reported are the decision's: those of the object as the cluster
// holds it, after the defaults; a gap the defaults fill is no violation there.
func Judge(x Entry, at time.Time) Object {
	// Seconds only, as Kyverno writes them: nanoseconds say nothing to a reader.
	ts := metav1.Timestamp{Seconds: at.Unix()}
	if x.Err != nil {
		return Object{Results: []openreports.ReportResult{{
			Source: Source, Policy: "podguard", Result: "error", Timestamp: ts,
			Subjects: []corev1.ObjectReference{x.Ref}, Description: x.Err.Error(),
			Properties: properties(x),
		}}}
	}
	if x.Verdict.Skipped != engine.NotSkipped {
		return Object{}
	}
	all := x.Verdict.Decision.All()
	if len(all) == 0 {
		return Object{Passed: true}
	}
	// One result per rule and enforcement: a rule broken by several containers is one
	// finding of the object, with each container's part in the message; a container an
	// exception covers is apart, as its result is another.
	type key struct{ rule, enforcement string }
	groups := map[key][]engine.Violation{}
	var keys []key
	for _, v := range all {
		k := key{v.Rule, v.Enforcement}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], v)
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].rule < keys[j].rule })
	out := Object{Results: make([]openreports.ReportResult, 0, len(keys))}
	for _, k := range keys {
		out.Results = append(out.Results, result(x, groups[k], ts))
	}
	return out
}

// properties is a new map of the entry's properties, for one result to add to.
func properties(x Entry) map[string]string {
	m := make(map[string]string, len(x.Properties)+6)
	for k, v := range x.Properties {
		m[k] = v
	}
	return m
}

// result is the result of one object, rule and enforcement. Enforcement decides the
// outcome as Kyverno decides it: deny is a scored "fail"; warn and audit are "warn",
// unscored, which Policy Reporter shows apart from failures; a violation an exception
// covers is "skip", with the exception named, as Kyverno reports a PolicyException.
func result(x Entry, vs []engine.Violation, ts metav1.Timestamp) openreports.ReportResult {
	first := vs[0]
	r := openreports.ReportResult{
		Source:     Source,
		Policy:     first.Rule,
		Rule:       first.Rule,
		Timestamp:  ts,
		Subjects:   []corev1.ObjectReference{x.Ref},
		Properties: properties(x),
	}
	r.Properties["enforcement"] = first.Enforcement
	switch first.Enforcement {
	case "deny":
		r.Result, r.Scored, r.Severity = "fail", true, "high"
	case "warn":
		r.Result, r.Severity = "warn", "medium"
	case engine.Excepted:
		r.Result = "skip"
	default:
		r.Result, r.Severity = "warn", "low"
	}
	var msgs, fields, fixes, containers, exceptions []string
	for _, v := range vs {
		m := v.Message
		if v.Container != "" {
			m = "container " + v.Container + ": " + m
			containers = appendNew(containers, v.Container)
		}
		msgs = appendNew(msgs, m)
		fields = appendNew(fields, v.Field)
		fixes = appendNew(fixes, v.Fix)
		exceptions = appendNew(exceptions, v.Exception)
	}
	r.Description = strings.Join(msgs, "; ")
	setNonEmpty(r.Properties, "field", strings.Join(fields, ", "))
	setNonEmpty(r.Properties, "fix", strings.Join(fixes, " "))
	setNonEmpty(r.Properties, "container", strings.Join(containers, ", "))
	setNonEmpty(r.Properties, "enforceAfter", first.EnforceAfter)
	setNonEmpty(r.Properties, "exception", strings.Join(exceptions, "; "))
	return r
}

func appendNew(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func setNonEmpty(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// New assembles a namespace's report from its objects' contributions, or returns nil when
// there is nothing to report (no failure, warning, error or skip): a namespace whose
// objects all pass has no podguard report. Passes are counted, one per object that breaks
// no rule, but not listed, and the report's configuration says so (statusFilter), as it
// says that at most MaxResults are listed. Results are in a stable order, so that an
// unchanged namespace gives an equal report.
func New(namespace string, objects []Object) *openreports.Report {
	var results []openreports.ReportResult
	var sum openreports.ReportSummary
	for _, o := range objects {
		if o.Passed {
			sum.Pass++
		}
		for _, r := range o.Results {
			switch r.Result {
			case "fail":
				sum.Fail++
			case "warn":
				sum.Warn++
			case "error":
				sum.Error++
			case "skip":
				sum.Skip++
			}
			results = append(results, r)
		}
	}
	if len(results) == 0 {
		return nil
	}
	sort.SliceStable(results, func(i, j int) bool { return less(results[i], results[j]) })
	rep := &openreports.Report{
		TypeMeta: metav1.TypeMeta{APIVersion: openreports.GroupVersion.String(), Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": ManagedBy},
		},
		Source:        Source,
		Configuration: &openreports.ReportConfiguration{Limits: openreports.Limits{MaxResults: MaxResults, StatusFilter: slices.Clone(listed)}},
		Summary:       sum,
		Results:       results,
	}
	if len(results) > MaxResults {
		rep.Results = results[:MaxResults]
	}
	return rep
}

// less orders results by outcome (fail first), rule, then object.
func less(a, b openreports.ReportResult) bool {
	if a.Result != b.Result {
		return rank[a.Result] < rank[b.Result]
	}
	if a.Policy != b.Policy {
		return a.Policy < b.Policy
	}
	ra, rb := a.Subjects[0], b.Subjects[0]
	if ra.Kind != rb.Kind {
		return ra.Kind < rb.Kind
	}
	return ra.Name < rb.Name
}

var rank = map[openreports.Result]int{"error": 0, "fail": 1, "warn": 2, "skip": 3}

// listed are the outcomes a report lists.
var listed = []openreports.StatusFilter{"fail", "warn", "error", "skip"}

// Build groups entries by namespace and returns one report per namespace that has
// something to report, ordered by namespace.
func Build(entries []Entry, at time.Time) []*openreports.Report {
	byNS := map[string][]Object{}
	for _, x := range entries {
		byNS[x.Ref.Namespace] = append(byNS[x.Ref.Namespace], Judge(x, at))
	}
	names := make([]string, 0, len(byNS))
	for ns := range byNS {
		names = append(names, ns)
	}
	sort.Strings(names)
	var out []*openreports.Report
	for _, ns := range names {
		if r := New(ns, byNS[ns]); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Equal says whether two reports hold the same results and summary, whatever their
// timestamps: a report is rewritten only when what it says changes.
func Equal(a, b *openreports.Report) bool {
	if a.Source != b.Source || a.Summary != b.Summary || len(a.Results) != len(b.Results) {
		return false
	}
	if !reflect.DeepEqual(a.Configuration, b.Configuration) {
		return false
	}
	for i := range a.Results {
		x, y := a.Results[i], b.Results[i]
		x.Timestamp, y.Timestamp = metav1.Timestamp{}, metav1.Timestamp{}
		if !equalResult(x, y) {
			return false
		}
	}
	return true
}

func equalResult(x, y openreports.ReportResult) bool {
	if x.Source != y.Source || x.Policy != y.Policy || x.Rule != y.Rule || x.Result != y.Result ||
		x.Severity != y.Severity || x.Scored != y.Scored || x.Description != y.Description ||
		len(x.Subjects) != len(y.Subjects) || len(x.Properties) != len(y.Properties) {
		return false
	}
	for i := range x.Subjects {
		if x.Subjects[i] != y.Subjects[i] {
			return false
		}
	}
	for k, v := range x.Properties {
		if y.Properties[k] != v {
			return false
		}
	}
	return true
}

// WriteYAML writes docs (reports, or any objects) as a YAML stream, one document each,
// for kubectl apply -f.
func WriteYAML[T any](w io.Writer, docs []T) error {
	for i, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
