package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/offline"
)

const evalSynopsis = "usage: podguard eval [-f] FILE|DIR|- ... [--exclude GLOB]... [--helm-chart DIR]... [--helm-values FILE]... [--helm-set K=V]... [--config FILE] [--policy-dir DIR] [--policy-test-timeout D] [--evaluator plan|rego] [-o text|json|junit|sarif|github|report] [--strict] [--explain] [--mutate] [--fix [--dry-run]] [--quiet]"

const evalHelp = `Judges Kubernetes manifests as the cluster would admit them: Pods, and the pod
templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
Jobs and CronJobs, with the API server's, the LimitRanges' (from the same input) and
podguard's defaults applied first. Documents are read as kubectl reads them: a key twice
in one mapping or an object without apiVersion is refused. Directories are read
recursively (.yaml, .yml, .json; hidden directories and --exclude matches left out).
A directory holding a Chart.yaml is rendered as helm template renders it (its default
values; --helm-values and --helm-set apply to the charts named with --helm-chart), and a
kustomization no other one names is built as kubectl apply -k builds it; their files are
never judged raw. Nothing is fetched: a chart dependency must be vendored in charts/.
A chart or kustomization that cannot be rendered is named with the reason.

Exit code:
  0  the cluster would admit every manifest
  1  it would refuse at least one (with --strict: or one breaks a rule that warns)
  2  the run could not judge what it was asked to: a usage error, policies that do not
     load or pass their tests, input that could not be read (reported after everything
     else is judged and printed); with --strict, a chart or kustomization not rendered
`

type paths []string

// once is a single-valued flag that refuses a second value rather than keep the last.
type once struct {
	v   *string
	set bool
}

func (o *once) String() string {
	if o.v == nil {
		return ""
	}
	return *o.v
}

func (o *once) Set(v string) error {
	if o.set {
		return fmt.Errorf("given twice (%q, then %q): it takes one value", *o.v, v)
	}
	*o.v, o.set = v, true
	return nil
}

func (p *paths) String() string     { return strings.Join(*p, ",") }
func (p *paths) Set(v string) error { *p = append(*p, v); return nil }

// evalCommand runs `podguard eval` with the arguments after the subcommand and returns
// the exit code. version goes into reports that name the tool.
func evalCommand(ctx context.Context, version string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard eval", flag.ContinueOnError)
	var files paths
	var opts engine.Options
	out := offline.Output{Version: version}
	fs.Var(&files, "f", "manifest file, directory or - for stdin (repeatable; also as plain arguments)")
	var in offline.Inputs
	out.Format = "text"
	fs.Var(&once{v: &opts.ConfigFile}, "config", "configuration file (default: the embedded defaults; once)")
	fs.Var(&once{v: &opts.PolicyDir}, "policy-dir", "directory of custom Rego rules; their *_test.rego must pass (once: put the rules of several in one directory)")
	fs.DurationVar(&opts.TestTimeout, "policy-test-timeout", engine.DefaultTestTimeout, "how long each *_test.rego test of --policy-dir may run")
	evaluator := fs.String("evaluator", "plan", "what runs the rules: plan (OPA's planner, run by podguard; OPA's evaluator for rules it cannot plan) or rego (OPA's evaluator, slower)")
	fs.Var(&once{v: &out.Format}, "o", "output format: text, json, junit, sarif, github (workflow commands) or report (OpenReports Reports, one per namespace) (default text)")
	fs.Var((*paths)(&in.Exclude), "exclude", "leave out paths under the directories read that match, as a .gitignore line does (repeatable)")
	fs.Var((*paths)(&in.Helm.Charts), "helm-chart", "chart directory to render with --helm-values and --helm-set (repeatable)")
	fs.Var((*paths)(&in.Helm.ValueFiles), "helm-values", "values file for the charts named with --helm-chart, as helm -f takes it (repeatable, later ones win)")
	fs.Var((*paths)(&in.Helm.Set), "helm-set", "K=V for the charts named with --helm-chart, as helm --set takes it (repeatable)")
	fs.BoolVar(&out.Strict, "strict", false, "fail the run on warnings (exit 1) and on charts or kustomizations that cannot be rendered (exit 2)")
	fs.BoolVar(&out.Explain, "explain", false, "with text output, describe each rule that fired and link to its documentation")
	fs.BoolVar(&out.Mutate, "mutate", false, "print the manifests as the cluster would store them (YAML, or JSON with -o json)")
	var fixFiles, dryRun bool
	fs.BoolVar(&fixFiles, "fix", false, "write podguard's defaults (what the mutating webhook adds, into the pod template for workloads) into the YAML files of the judged manifests, keeping every byte already there; then judge the fixed files. Never touches Helm templates or documents that were not judged")
	fs.BoolVar(&dryRun, "dry-run", false, "with --fix, print the change as a unified diff instead of writing it (exit 0, 2 on error)")
	fs.BoolVar(&out.Quiet, "quiet", false, "with text output, leave out what is not judged: kinds podguard does not check and documents that are no objects")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, evalSynopsis, evalHelp)
	if !ok {
		return code
	}
	files = append(files, rest...)
	in.Paths = files
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "podguard eval: "+format+"\n", a...)
		fmt.Fprintln(stderr, evalSynopsis)
		return offline.ExitUsage
	}
	if err := opts.UseEvaluator(*evaluator); err != nil {
		return usageError("--evaluator: %v", err)
	}
	switch f := out.Format; {
	case len(files) == 0 && len(in.Helm.Charts) == 0:
		return usageError("no input: name files, directories or - (stdin), with or without -f")
	case f != "text" && f != "json" && f != "junit" && f != "sarif" && f != "github" && f != "report":
		return usageError("-o %q: use text, json, junit, sarif, github or report", f)
	case len(in.Helm.Charts) == 0 && (len(in.Helm.ValueFiles) > 0 || len(in.Helm.Set) > 0):
		return usageError("--helm-values and --helm-set apply to the charts named with --helm-chart: name one")
	case fixFiles && slices.Contains(files, "-"):
		return usageError("--fix writes files: it cannot fix stdin (-)")
	case dryRun && !fixFiles:
		return usageError("--dry-run goes with --fix")
	case fixFiles && out.Mutate:
		return usageError("--fix writes the files; --mutate prints them: use one")
	case out.Mutate && f != "text" && f != "json":
		return usageError("--mutate prints manifests: use -o text (YAML) or -o json, not -o %s", f)
	}
	// A policy directory is loaded as serve loads it: its tests must pass.
	opts.RunTests = opts.PolicyDir != ""
	e, err := engine.Load(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return offline.ExitUsage
	}
	warnExpired(stderr, "eval", e.Config(), time.Now())
	if opts.PolicyDir != "" {
		warnings, err := engine.Lint(opts)
		if err != nil {
			fmt.Fprintf(stderr, "podguard eval: %v\n", err)
			return offline.ExitUsage
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "podguard eval: warning: %s\n", w)
		}
		if len(warnings) > 0 && out.Strict {
			fmt.Fprintln(stderr, "podguard eval: --strict: the policies have warnings")
			return offline.ExitUsage
		}
	}
	manifests, err := offline.ReadInputs(in, stdin)
	if err != nil {
		return usageError("%v", err)
	}
	results := offline.Evaluate(ctx, e, manifests)
	if fixFiles {
		if !fix(ctx, e, manifests, results, dryRun, stdout, stderr) {
			return offline.ExitUsage
		}
		if dryRun {
			return offline.ExitAdmit
		}
		// The verdicts are those on the files as fixed.
		if manifests, err = offline.ReadInputs(in, stdin); err != nil {
			return usageError("%v", err)
		}
		results = offline.Evaluate(ctx, e, manifests)
	}
	if err := offline.Write(stdout, e, results, out); err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return offline.ExitUsage
	}
	if out.Format != "text" || out.Mutate {
		// The report on stdout is for machines; say on stderr why the exit code is 2.
		for _, r := range results {
			if r.Verdict == offline.VerdictUnreadable || r.Verdict == offline.VerdictError || r.Verdict == offline.VerdictUnrendered {
				fmt.Fprintf(stderr, "podguard eval: %s: %s\n", r.Position(), r.Reason)
			}
		}
	}
	if out.Strict {
		return offline.StrictExitCode(results)
	}
	return offline.ExitCode(results)
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
			return nil, 2, false
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
