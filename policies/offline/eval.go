package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

// Exit codes of `podguard eval`.
const (
	ExitAdmit  = 0 // the cluster would admit every manifest
	ExitRefuse = 1 // at least one manifest would be refused
	ExitUsage  = 2 // bad flags or unreadable input
)

// Finding is a violation of the manifest as written, or one its defaults bring in.
type Finding = engine.Finding

// Result is the verdict on one manifest.
type Result struct {
	Manifest
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Verdict is one of the Verdict constants.
	Verdict string `json:"verdict"`
	// Reason says why a document was skipped, could not be read or not be judged.
	Reason   string            `json:"reason,omitempty"`
	Findings []Finding         `json:"violations"`
	Added    []engine.Addition `json:"defaults,omitempty"`
	mutated  map[string]any    // a Pod as the cluster would store it
	decision engine.Decision   // the violations of the object as admitted
}

// Verdicts of a Result.
const (
	VerdictAdmit      = "admit"      // the cluster would admit it
	VerdictRefuse     = "refuse"     // the cluster would refuse it
	VerdictExempt     = "exempt"     // its namespace is exempt
	VerdictUnchecked  = "unchecked"  // a kind podguard does not judge
	VerdictSkipped    = "skipped"    // not a Kubernetes object (a kustomization, a patch)
	VerdictUnreadable = "unreadable" // the document could not be read
	VerdictUnrendered = "unrendered" // a chart or kustomization that could not be rendered
	VerdictError      = "error"      // the policies failed on it
)

// Output is how eval reports its results.
type Output struct {
	// Format is text, json, junit or sarif.
	Format string
	// Mutate prints the manifests as the cluster would store them (Format text or json);
	// Explain describes each rule that fired (text); Quiet leaves out what is not judged
	// (text).
	Mutate, Explain, Quiet bool
	// Version is podguard's, which a SARIF report names.
	Version string
	// Strict shows unrendered charts and kustomizations as warnings, not notes (SARIF).
	Strict bool
}

// Write writes the results as out asks.
func Write(w io.Writer, e *engine.Engine, results []Result, out Output) error {
	switch {
	case out.Mutate:
		return writeMutated(w, results, out.Format == "json")
	case out.Format == "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	case out.Format == "junit":
		return writeJUnit(w, results)
	case out.Format == "sarif":
		return writeSARIF(w, e, out.Version, results, out.Strict)
	case out.Format == "github":
		return writeGitHub(w, results, out.Strict)
	case out.Format == "report":
		return WriteReports(w, results)
	}
	writeText(w, results, out.Quiet)
	if out.Explain {
		writeExplain(w, e, results)
	}
	return nil
}

// ExitCode is the worst that happened: unreadable input or a failed evaluation (2), a
// refused manifest (1), or nothing (0).
func ExitCode(results []Result) int {
	code := ExitAdmit
	for _, r := range results {
		switch r.Verdict {
		case VerdictUnreadable, VerdictError:
			return ExitUsage
		case VerdictRefuse:
			code = ExitRefuse
		}
	}
	return code
}

// StrictExitCode is ExitCode under --strict: a chart or kustomization that could not be
// rendered is input not judged (2), and a warning fails the run like a refusal (1).
func StrictExitCode(results []Result) int {
	code := ExitCode(results)
	for _, r := range results {
		switch {
		case r.Verdict == VerdictUnrendered:
			return ExitUsage
		case code == ExitAdmit && hasWarning(r):
			code = ExitRefuse
		}
	}
	return code
}

// hasWarning reports whether a judged manifest breaks a rule that only warns.
func hasWarning(r Result) bool {
	for _, f := range r.Findings {
		if f.Enforcement == "warn" && !f.Defaulted {
			return true
		}
	}
	return false
}

// Evaluate judges each manifest as the cluster would: the API server's and the
// LimitRanges' defaults first (LimitRanges are taken from the same input), then
// podguard's, then the rules. Documents that were not read, and objects the policies
// fail on, are results too, so one bad document does not hide the verdicts on the others.
func Evaluate(ctx context.Context, e *engine.Engine, manifests []Manifest) []Result {
	namespaces, badRanges := clusterOf(manifests)
	scope := newScopes(manifests)
	out := make([]Result, 0, len(manifests))
	for i, m := range manifests {
		r := Result{Manifest: m, Verdict: VerdictUnchecked, Findings: []Finding{}}
		switch {
		case m.Err != nil:
			r.Verdict, r.Reason = VerdictUnreadable, m.Err.Error()
		case m.Refused != "":
			r.Verdict, r.Reason = VerdictRefuse, m.Refused
		case m.Unrendered != "":
			r.Verdict, r.Reason = VerdictUnrendered, m.Unrendered
		case m.Skipped != "":
			r.Verdict, r.Reason = VerdictSkipped, m.Skipped
		case badRanges[i] != nil:
			r.Verdict, r.Reason = VerdictUnreadable, badRanges[i].Error()
		}
		if r.Verdict != VerdictUnchecked {
			out = append(out, r)
			continue
		}
		r.Kind, _ = m.Object["kind"].(string)
		meta, _ := m.Object["metadata"].(map[string]any)
		r.Name, _ = meta["name"].(string)
		if r.Name == "" {
			r.Name, _ = meta["generateName"].(string)
		}
		if r.Namespace, _ = meta["namespace"].(string); r.Namespace == "" && !scope.clusterScoped(m.Object) {
			r.Namespace = "default"
		}
		raw, err := json.Marshal(m.Object)
		if err != nil {
			r.Verdict, r.Reason = VerdictUnreadable, err.Error()
			out = append(out, r)
			continue
		}
		v, err := e.Review(ctx, engine.Request{Source: engine.Manifest, Operation: engine.Create, Namespace: r.Namespace, Object: engine.BodyOf(raw), Cluster: namespaces})
		var bad *engine.ObjectError
		switch {
		case errors.As(err, &bad) || v.Skipped == engine.SkipKind:
			// Services, ConfigMaps and the like travel with workloads; they are not ours.
		case err != nil:
			r.Verdict, r.Reason = VerdictError, err.Error()
		case v.Skipped == engine.SkipExempt:
			r.Verdict = VerdictExempt
		case v.Skipped != engine.NotSkipped:
			r.Verdict, r.Reason = VerdictError, v.Reason // no manifest is skipped otherwise
		default:
			r.Findings, r.Added, r.decision = v.Findings, v.Additions, v.Decision
			if v.Mutated != nil {
				if err := json.Unmarshal(v.Mutated, &r.mutated); err != nil {
					r.Verdict, r.Reason = VerdictError, err.Error()
					break
				}
			}
			r.Verdict = VerdictAdmit
			if len(v.Decision.Deny) > 0 {
				r.Verdict = VerdictRefuse
			}
		}
		out = append(out, r)
	}
	return out
}

// namespaceLabels collects the labels of the Namespaces in the input, which namespace
// overrides may select on.
func namespaceLabels(manifests []Manifest) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, m := range manifests {
		if m.Object["kind"] != "Namespace" {
			continue
		}
		meta, _ := m.Object["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		labels, _ := meta["labels"].(map[string]any)
		out[name] = map[string]string{}
		for k, v := range labels {
			out[name][k] = fmt.Sprint(v)
		}
	}
	return out
}

// clusterOf is what the manifests tell the engine about namespaces: their labels and
// LimitRanges; bad are the LimitRanges that could not be read, by manifest index.
func clusterOf(manifests []Manifest) (namespaces engine.Namespaces, bad map[int]error) {
	ranges, bad := limitRanges(manifests)
	namespaces = engine.Namespaces{}
	for name, labels := range namespaceLabels(manifests) {
		namespaces[name] = engine.Namespace{Labels: labels}
	}
	for name, lr := range ranges {
		ns := namespaces[name]
		ns.LimitRanges = lr
		namespaces[name] = ns
	}
	return namespaces, bad
}

// limitRanges collects the LimitRanges of the input by namespace, and the error of each
// one that does not decode (by its index in manifests).
func limitRanges(manifests []Manifest) (map[string][]corev1.LimitRange, map[int]error) {
	out := map[string][]corev1.LimitRange{}
	bad := map[int]error{}
	for i, m := range manifests {
		if m.Object["kind"] != "LimitRange" {
			continue
		}
		b, err := json.Marshal(m.Object)
		if err != nil {
			bad[i] = err
			continue
		}
		var lr corev1.LimitRange
		if err := json.Unmarshal(b, &lr); err != nil {
			bad[i] = fmt.Errorf("LimitRange: %w", err)
			continue
		}
		if lr.Namespace == "" {
			lr.Namespace = "default"
		}
		out[lr.Namespace] = append(out[lr.Namespace], lr)
	}
	return out, bad
}

// id names an object: its kind and namespace/name (name alone for cluster-scoped kinds).
func (r Result) id() string {
	switch {
	case r.Name != "" && r.Namespace != "":
		return r.Kind + " " + r.Namespace + "/" + r.Name
	case r.Name != "":
		return r.Kind + " " + r.Name
	}
	return r.Kind
}

// label is what a finding's line starts with: its enforcement, or "filled" when the
// defaults fill the gap, so the cluster would not refuse the manifest for it.
func label(f Finding) string {
	if f.Defaulted {
		return "filled"
	}
	return f.Enforcement
}

func writeText(w io.Writer, results []Result, quiet bool) {
	var count struct{ objects, refused, admitted, exempt, unchecked, failed, skipped, unreadable, unrendered int }
	for _, r := range results {
		id := r.id()
		switch r.Verdict {
		case VerdictSkipped:
			count.skipped++
			if !quiet {
				fmt.Fprintf(w, "%s: skipped: %s\n", r.Position(), r.Reason)
			}
			continue
		case VerdictUnreadable:
			count.unreadable++
			fmt.Fprintf(w, "%s: UNREADABLE: %s\n", r.Position(), r.Reason)
			continue
		case VerdictRefuse:
			if r.Object == nil { // kubectl would not send it
				count.objects++
				count.refused++
				fmt.Fprintf(w, "%s: REFUSED: %s\n", r.Position(), r.Reason)
				continue
			}
		case VerdictUnrendered:
			count.unrendered++
			fmt.Fprintf(w, "%s: NOT RENDERED: %s\n", r.Position(), r.Reason)
			continue
		}
		count.objects++
		switch r.Verdict {
		case VerdictUnchecked:
			count.unchecked++
			if quiet {
				continue
			}
			what := "not checked"
			if r.Kind == "LimitRange" {
				what += "; its defaults apply to the manifests in its namespace"
			}
			fmt.Fprintf(w, "%s %s: %s\n", r.Position(), id, what)
			continue
		case VerdictExempt:
			count.exempt++
			fmt.Fprintf(w, "%s %s: exempt (namespace %s)\n", r.Position(), id, r.Namespace)
			continue
		case VerdictError:
			count.failed++
			fmt.Fprintf(w, "%s %s: NOT EVALUATED: %s\n", r.Position(), id, r.Reason)
			continue
		case VerdictRefuse:
			count.refused++
			fmt.Fprintf(w, "%s %s: REFUSED\n", r.Position(), id)
		default:
			count.admitted++
			fmt.Fprintf(w, "%s %s: admitted\n", r.Position(), id)
		}
		for _, f := range r.Findings {
			note := ""
			if n := f.Note(); n != "" {
				note = " [" + n + "]"
			}
			fmt.Fprintf(w, "  %-6s %s%s\n", label(f), f.String(), note)
		}
	}
	summary := fmt.Sprintf("%s: %d refused, %d admitted", plural(count.objects, "manifest", "manifests"), count.refused, count.admitted)
	for _, part := range []struct {
		n    int
		what string
	}{{count.exempt, "exempt"}, {count.unchecked, "not checked"}, {count.failed, "not evaluated (policy error)"}} {
		if part.n > 0 {
			summary += fmt.Sprintf(", %d %s", part.n, part.what)
		}
	}
	var docs []string
	if count.skipped > 0 {
		docs = append(docs, fmt.Sprintf("%d skipped", count.skipped))
	}
	if count.unreadable > 0 {
		docs = append(docs, fmt.Sprintf("%d unreadable", count.unreadable))
	}
	if count.unrendered > 0 {
		docs = append(docs, fmt.Sprintf("%d not rendered", count.unrendered))
	}
	if len(docs) > 0 {
		summary += fmt.Sprintf("; %s %s", plural(count.skipped+count.unreadable+count.unrendered, "other document", "other documents")+":", strings.Join(docs, ", "))
	}
	fmt.Fprintln(w, summary)
}

// plural is "1 manifest" or "2 manifests".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writeMutated prints each object as the cluster would store it: a Pod with the defaults
// the API server, the LimitRanges and podguard's mutating webhook fill in; any other kind
// as written, since podguard mutates only Pods (a workload's Pods get the defaults when
// they are created). Documents that are no objects are left out.
func writeMutated(w io.Writer, results []Result, asJSON bool) error {
	var objects []map[string]any
	for _, r := range results {
		if r.Object == nil || r.Verdict == VerdictSkipped || r.Verdict == VerdictUnreadable || r.Verdict == VerdictUnrendered {
			continue
		}
		obj := r.Object
		if r.mutated != nil {
			obj = r.mutated
		}
		objects = append(objects, obj)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(objects) == 1 {
			return enc.Encode(objects[0])
		}
		// Several objects are one v1 List, as kubectl prints them.
		items := make([]any, len(objects))
		for i, o := range objects {
			items[i] = o
		}
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	return report.WriteYAML(w, objects)
}
