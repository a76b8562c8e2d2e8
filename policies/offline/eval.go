package offline

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
)

// Exit codes of `podguard eval`.
const (
	ExitAdmit  = 0 // the cluster would admit every manifest
	ExitRefuse = 1 // at least one manifest would be refused
	ExitUsage  = 2 // bad flags or unreadable input
)

// Finding is a violation of the manifest as written.
type Finding struct {
	engine.Violation
	// Defaulted is true when defaults fill the gap, so the cluster would not refuse the
	// manifest for it; FilledBy says whose: "kubernetes" (the namespace's LimitRange, or
	// requests taken from limits) or "podguard" (its mutation defaults).
	Defaulted bool   `json:"defaulted"`
	FilledBy  string `json:"filledBy,omitempty"`
	// CausedBy is set for a violation the manifest as written does not have, which a
	// default brings in (a default limit above the configured maximum, say): whose
	// default, "kubernetes" or "podguard".
	CausedBy string `json:"causedBy,omitempty"`
}

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
}

// Verdicts of a Result.
const (
	VerdictAdmit      = "admit"      // the cluster would admit it
	VerdictRefuse     = "refuse"     // the cluster would refuse it
	VerdictExempt     = "exempt"     // its namespace is exempt
	VerdictUnchecked  = "unchecked"  // a kind podguard does not judge
	VerdictSkipped    = "skipped"    // not a Kubernetes object (a kustomization, a patch)
	VerdictUnreadable = "unreadable" // the document could not be read
	VerdictError      = "error"      // the policies failed on it
)

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

const synopsis = "usage: podguard eval [-f] FILE|DIR|- ... [--config FILE] [--policy-dir DIR] [-o text|json|junit|sarif] [--explain] [--mutate] [--quiet]"

// Main runs `podguard eval` with the arguments after the subcommand and returns the exit
// code. version goes into reports that name the tool.
func Main(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard eval", flag.ContinueOnError)
	var files paths
	var opts engine.Options
	var output string
	var mutate, explain, quiet bool
	fs.Var(&files, "f", "manifest file, directory or - for stdin (repeatable; also as plain arguments)")
	fs.StringVar(&opts.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&opts.PolicyDir, "policy-dir", "", "directory of custom Rego rules; their *_test.rego must pass")
	fs.DurationVar(&opts.TestTimeout, "policy-test-timeout", engine.DefaultTestTimeout, "how long each *_test.rego test of --policy-dir may run")
	fs.StringVar(&output, "o", "text", "output format: text, json, junit or sarif")
	fs.BoolVar(&explain, "explain", false, "with text output, describe each rule that fired and link to its documentation")
	fs.BoolVar(&mutate, "mutate", false, "print the manifests as the cluster would store them (YAML, or JSON with -o json)")
	fs.BoolVar(&quiet, "quiet", false, "with text output, leave out what is not judged: kinds podguard does not check and documents that are no objects")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, synopsis, evalHelp)
	if !ok {
		return code
	}
	files = append(files, rest...)
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "podguard eval: "+format+"\n", a...)
		fmt.Fprintln(stderr, synopsis)
		return ExitUsage
	}
	switch {
	case len(files) == 0:
		return usageError("no input: name files, directories or - (stdin), with or without -f")
	case output != "text" && output != "json" && output != "junit" && output != "sarif":
		return usageError("-o %q: use text, json, junit or sarif", output)
	case mutate && output != "text" && output != "json":
		return usageError("--mutate prints manifests: use -o text (YAML) or -o json, not -o %s", output)
	}
	// A policy directory is loaded as serve loads it: its tests must pass.
	opts.RunTests = opts.PolicyDir != ""
	e, err := engine.Load(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	if opts.PolicyDir != "" {
		warnings, err := engine.Lint(opts)
		if err != nil {
			fmt.Fprintf(stderr, "podguard eval: %v\n", err)
			return ExitUsage
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "podguard eval: warning: %s\n", w)
		}
	}
	results := Evaluate(ctx, e, ReadPaths(files, stdin))
	switch {
	case mutate:
		err = writeMutated(stdout, results, output == "json")
	case output == "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(results)
	case output == "junit":
		err = writeJUnit(stdout, results)
	case output == "sarif":
		err = writeSARIF(stdout, e, version, results)
	default:
		writeText(stdout, results, quiet)
		if explain {
			writeExplain(stdout, e, results)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	if output != "text" || mutate {
		// The report on stdout is for machines; say on stderr why the exit code is 2.
		for _, r := range results {
			if r.Verdict == VerdictUnreadable || r.Verdict == VerdictError {
				fmt.Fprintf(stderr, "podguard eval: %s: %s\n", r.Position(), r.Reason)
			}
		}
	}
	return exitCode(results)
}

const evalHelp = `Judges Kubernetes manifests as the cluster would admit them: Pods, and the pod
templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
Jobs and CronJobs, with the API server's, the LimitRanges' (from the same input) and
podguard's defaults applied first. Directories are read recursively (.yaml, .yml, .json;
hidden directories left out). Kustomizations, kustomize patches and other documents that
are no objects are listed as skipped; Helm templates must be rendered first.

Exit code: 0 the cluster would admit every manifest; 1 it would refuse at least one;
2 a usage error, policies that do not load or pass their tests, or input that could not
be read (reported after everything else has been judged and printed).
`

// exitCode is the worst that happened: unreadable input or a failed evaluation (2), a
// refused manifest (1), or nothing (0).
func exitCode(results []Result) int {
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

// parseArgs parses flags and plain arguments in any order. -h and --help print the help
// on stdout (exit 0); a bad flag or value is named on stderr (exit 2). ok is false when
// the command should stop with code.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, synopsis, help string) (rest []string, code int, ok bool) {
	fs.SetOutput(io.Discard) // errors are printed below, once
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "%s\n\n%s\nflags:\n", synopsis, help)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, 0, false
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n%s\n", fs.Name(), err, synopsis)
			return nil, ExitUsage, false
		}
		if fs.NArg() == 0 {
			return rest, 0, true
		}
		// After "--" everything is an argument.
		if i := len(args) - fs.NArg() - 1; i >= 0 && args[i] == "--" {
			return append(rest, fs.Args()...), 0, true
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Evaluate judges each manifest as the cluster would: the API server's and the
// LimitRanges' defaults first (LimitRanges are taken from the same input), then
// podguard's, then the rules. Documents that were not read, and objects the policies
// fail on, are results too, so one bad document does not hide the verdicts on the others.
func Evaluate(ctx context.Context, e *engine.Engine, manifests []Manifest) []Result {
	ranges, badRanges := limitRanges(manifests)
	nsLabels := namespaceLabels(manifests)
	scope := newScopes(manifests)
	out := make([]Result, 0, len(manifests))
	for i, m := range manifests {
		r := Result{Manifest: m, Verdict: VerdictUnchecked, Findings: []Finding{}}
		switch {
		case m.Err != nil:
			r.Verdict, r.Reason = VerdictUnreadable, m.Err.Error()
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
		if r.Namespace, _ = meta["namespace"].(string); r.Namespace == "" && !scope.clusterScoped(m.Object) {
			r.Namespace = "default"
		}
		obj, err := engine.FromMap(m.Object)
		if err != nil {
			// Services, ConfigMaps and the like travel with workloads; they are not ours.
			out = append(out, r)
			continue
		}
		obj.Namespace, r.Name = r.Namespace, obj.Name
		if _, ok := e.Config().Exempted(obj.Namespace); ok {
			r.Verdict = VerdictExempt
			out = append(out, r)
			continue
		}
		ns := engine.Namespace{Labels: nsLabels[obj.Namespace], LimitRanges: ranges[obj.Namespace]}
		if err := judge(ctx, e, obj, ns, &r); err != nil {
			r.Verdict, r.Reason, r.Findings, r.Added, r.mutated = VerdictError, err.Error(), []Finding{}, nil, nil
		}
		out = append(out, r)
	}
	return out
}

func judge(ctx context.Context, e *engine.Engine, obj *engine.Object, ns engine.Namespace, r *Result) error {
	// The manifest as written, with the cluster's defaults, and as admitted (podguard's
	// defaults too): a violation of the first that is gone from the next is one that
	// defaults fill in, and one that appears only as admitted is caused by a default.
	var decisions [3]engine.Decision
	for i, stage := range []engine.Stage{engine.AsWritten, engine.WithClusterDefaults, engine.AsAdmitted} {
		d, err := e.Evaluate(ctx, obj, ns, stage)
		if err != nil {
			return err
		}
		decisions[i] = d
	}
	written, cluster, admitted := keys(decisions[0]), keys(decisions[1]), keys(decisions[2])
	for _, v := range decisions[0].All() {
		f := Finding{Violation: v}
		switch {
		case !cluster[v.Key()]:
			f.Defaulted, f.FilledBy = true, "kubernetes"
		case !admitted[v.Key()]:
			f.Defaulted, f.FilledBy = true, "podguard"
		}
		r.Findings = append(r.Findings, f)
	}
	for _, v := range decisions[2].All() {
		if written[v.Key()] {
			continue
		}
		f := Finding{Violation: v, CausedBy: "podguard"}
		if cluster[v.Key()] {
			f.CausedBy = "kubernetes"
		}
		r.Findings = append(r.Findings, f)
	}
	if obj.Kind == "Pod" {
		mutated, adds, err := e.Admitted(ctx, obj, ns)
		if err != nil {
			return err
		}
		r.Added = adds
		if err := json.Unmarshal(mutated, &r.mutated); err != nil {
			return err
		}
	}
	r.Verdict = VerdictAdmit
	if len(decisions[2].Deny) > 0 {
		r.Verdict = VerdictRefuse
	}
	return nil
}

// keys are the violations of a decision, by Violation.Key.
func keys(d engine.Decision) map[string]bool {
	m := map[string]bool{}
	for _, v := range d.All() {
		m[v.Key()] = true
	}
	return m
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
// Note says what defaults do to the finding when the manifest is admitted, or "".
func (f Finding) Note() string {
	switch {
	case f.FilledBy == "podguard":
		return "filled in by podguard's defaults"
	case f.FilledBy == "kubernetes":
		return "filled in by Kubernetes: LimitRange defaults or requests from limits"
	case f.CausedBy == "podguard":
		return "caused by podguard's defaults, when the manifest is admitted"
	case f.CausedBy == "kubernetes":
		return "caused by Kubernetes' defaults (LimitRange defaults or requests from limits), when the manifest is admitted"
	}
	return ""
}

func label(f Finding) string {
	if f.Defaulted {
		return "filled"
	}
	return f.Enforcement
}

func writeText(w io.Writer, results []Result, quiet bool) {
	var count struct{ objects, refused, admitted, exempt, unchecked, failed, skipped, unreadable int }
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
	if len(docs) > 0 {
		summary += fmt.Sprintf("; %s %s", plural(count.skipped+count.unreadable, "other document", "other documents")+":", strings.Join(docs, ", "))
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
		if r.Object == nil || r.Verdict == VerdictSkipped || r.Verdict == VerdictUnreadable {
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
	for i, obj := range objects {
		b, err := yaml.Marshal(obj)
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
