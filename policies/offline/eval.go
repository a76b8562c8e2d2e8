package offline

import (
	"context"
	"encoding/json"
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
}

// Result is the verdict on one manifest.
type Result struct {
	Manifest
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Verdict is admit, refuse, exempt (namespace exempt) or unchecked (kind not judged).
	Verdict  string            `json:"verdict"`
	Findings []Finding         `json:"violations"`
	Added    []engine.Addition `json:"defaults,omitempty"`
	mutated  *engine.Object
}

type paths []string

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

// Main runs `podguard eval` with the arguments after the subcommand and returns the exit
// code. version goes into reports that name the tool.
func Main(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files paths
	var opts engine.Options
	var output string
	var mutate, explain bool
	fs.Var(&files, "f", "manifest file, directory or - for stdin (repeatable)")
	fs.StringVar(&opts.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&opts.PolicyDir, "policy-dir", "", "directory of custom Rego rules")
	fs.StringVar(&output, "o", "text", "output format: text, json, junit or sarif")
	fs.BoolVar(&explain, "explain", false, "with text output, describe each rule that fired and link to its documentation")
	fs.BoolVar(&mutate, "mutate", false, "print the manifests as the cluster would store them")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if len(files) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: podguard eval -f FILE|DIR|- [-f ...] [--config FILE] [--policy-dir DIR] [-o text|json|junit|sarif] [--explain] [--mutate]")
		return ExitUsage
	}
	if output != "text" && output != "json" && output != "junit" && output != "sarif" {
		fmt.Fprintf(stderr, "podguard eval: -o %q: use text, json, junit or sarif\n", output)
		return ExitUsage
	}
	e, err := engine.Load(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	manifests, err := ReadPaths(files, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	results, err := Evaluate(ctx, e, manifests)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	switch {
	case mutate:
		err = writeMutated(stdout, results)
	case output == "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(results)
	case output == "junit":
		err = writeJUnit(stdout, results)
	case output == "sarif":
		err = writeSARIF(stdout, e, version, results)
	default:
		writeText(stdout, results)
		if explain {
			writeExplain(stdout, e, results)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return ExitUsage
	}
	for _, r := range results {
		if r.Verdict == "refuse" {
			return ExitRefuse
		}
	}
	return ExitAdmit
}

// Evaluate judges each manifest as the cluster would: the API server's and the
// LimitRanges' defaults first (LimitRanges are taken from the same input), then
// podguard's, then the rules.
func Evaluate(ctx context.Context, e *engine.Engine, manifests []Manifest) ([]Result, error) {
	ranges, err := limitRanges(manifests)
	if err != nil {
		return nil, err
	}
	nsLabels := namespaceLabels(manifests)
	out := make([]Result, 0, len(manifests))
	for _, m := range manifests {
		r := Result{Manifest: m, Verdict: "unchecked", Findings: []Finding{}}
		r.Kind, _ = m.Object["kind"].(string)
		meta, _ := m.Object["metadata"].(map[string]any)
		r.Name, _ = meta["name"].(string)
		if r.Namespace, _ = meta["namespace"].(string); r.Namespace == "" {
			r.Namespace = "default"
		}
		obj, err := engine.FromMap(m.Object)
		if err != nil {
			// Services, ConfigMaps and the like travel with workloads; they are not ours.
			out = append(out, r)
			continue
		}
		obj.Namespace, r.Name = r.Namespace, obj.Name
		obj.NamespaceLabels = nsLabels[obj.Namespace]
		if _, ok := e.Config().Exempted(obj.Namespace); ok {
			r.Verdict = "exempt"
			out = append(out, r)
			continue
		}
		if err := judge(ctx, e, obj, ranges[obj.Namespace], &r); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Position(), err)
		}
		out = append(out, r)
	}
	return out, nil
}

func judge(ctx context.Context, e *engine.Engine, obj *engine.Object, ranges []corev1.LimitRange, r *Result) error {
	before, err := e.Evaluate(ctx, obj)
	if err != nil {
		return err
	}
	clusterDefaulted := engine.WithClusterDefaults(obj, ranges)
	afterCluster, err := e.Evaluate(ctx, clusterDefaulted)
	if err != nil {
		return err
	}
	mutated, adds, err := e.Mutate(ctx, clusterDefaulted)
	if err != nil {
		return err
	}
	after, err := e.Evaluate(ctx, mutated)
	if err != nil {
		return err
	}
	keys := func(d engine.Decision) map[string]bool {
		m := map[string]bool{}
		for _, v := range d.All() {
			m[v.Key()] = true
		}
		return m
	}
	stillAfterCluster, stillAfter := keys(afterCluster), keys(after)
	for _, v := range before.All() {
		f := Finding{Violation: v}
		switch {
		case !stillAfterCluster[v.Key()]:
			f.Defaulted, f.FilledBy = true, "kubernetes"
		case !stillAfter[v.Key()]:
			f.Defaulted, f.FilledBy = true, "podguard"
		}
		r.Findings = append(r.Findings, f)
	}
	r.Added, r.mutated = adds, mutated
	r.Verdict = "admit"
	if len(after.Deny) > 0 {
		r.Verdict = "refuse"
	}
	return nil
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

// limitRanges collects the LimitRanges of the input by namespace.
func limitRanges(manifests []Manifest) (map[string][]corev1.LimitRange, error) {
	out := map[string][]corev1.LimitRange{}
	for _, m := range manifests {
		if m.Object["kind"] != "LimitRange" {
			continue
		}
		b, err := json.Marshal(m.Object)
		if err != nil {
			return nil, err
		}
		var lr corev1.LimitRange
		if err := json.Unmarshal(b, &lr); err != nil {
			return nil, &InputError{File: m.File, Line: m.Line, Err: fmt.Errorf("LimitRange: %w", err)}
		}
		if lr.Namespace == "" {
			lr.Namespace = "default"
		}
		out[lr.Namespace] = append(out[lr.Namespace], lr)
	}
	return out, nil
}

func writeText(w io.Writer, results []Result) {
	refused := 0
	for _, r := range results {
		id := r.Kind
		if r.Name != "" {
			id += " " + r.Namespace + "/" + r.Name
		}
		switch r.Verdict {
		case "unchecked":
			what := "not checked"
			if r.Kind == "LimitRange" {
				what += "; its defaults apply to the manifests in its namespace"
			}
			fmt.Fprintf(w, "%s %s: %s\n", r.Position(), id, what)
			continue
		case "exempt":
			fmt.Fprintf(w, "%s %s: exempt (namespace %s)\n", r.Position(), id, r.Namespace)
			continue
		case "refuse":
			refused++
			fmt.Fprintf(w, "%s %s: REFUSED\n", r.Position(), id)
		default:
			fmt.Fprintf(w, "%s %s: admitted\n", r.Position(), id)
		}
		for _, f := range r.Findings {
			note := ""
			switch f.FilledBy {
			case "podguard":
				note = " [filled in by podguard's defaults]"
			case "kubernetes":
				note = " [filled in by Kubernetes: LimitRange defaults or requests from limits]"
			}
			fmt.Fprintf(w, "  %-5s %s%s\n", f.Enforcement, f.String(), note)
		}
	}
	fmt.Fprintf(w, "%d manifests, %d refused\n", len(results), refused)
}

func writeMutated(w io.Writer, results []Result) error {
	for i, r := range results {
		obj := r.Object
		if r.mutated != nil {
			obj = r.mutated.Raw
		}
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
