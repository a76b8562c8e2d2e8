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

const evalSynopsis = "usage: podguard eval [-f] FILE|DIR|- ... [--config FILE] [--policy-dir DIR] [--policy-test-timeout D] [--evaluator plan|rego] [-o text|json|junit|sarif] [--explain] [--mutate] [--fix [--dry-run]] [--quiet]"

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

type paths []string

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
	fs.StringVar(&opts.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&opts.PolicyDir, "policy-dir", "", "directory of custom Rego rules; their *_test.rego must pass")
	fs.DurationVar(&opts.TestTimeout, "policy-test-timeout", engine.DefaultTestTimeout, "how long each *_test.rego test of --policy-dir may run")
	evaluator := fs.String("evaluator", "plan", "what runs the rules: plan (OPA's planner, run by podguard; OPA's evaluator for rules it cannot plan) or rego (OPA's evaluator, slower)")
	fs.StringVar(&out.Format, "o", "text", "output format: text, json, junit or sarif")
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
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "podguard eval: "+format+"\n", a...)
		fmt.Fprintln(stderr, evalSynopsis)
		return offline.ExitUsage
	}
	if err := opts.UseEvaluator(*evaluator); err != nil {
		return usageError("--evaluator: %v", err)
	}
	switch f := out.Format; {
	case len(files) == 0:
		return usageError("no input: name files, directories or - (stdin), with or without -f")
	case f != "text" && f != "json" && f != "junit" && f != "sarif":
		return usageError("-o %q: use text, json, junit or sarif", f)
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
	}
	manifests := offline.ReadPaths(files, stdin)
	results := offline.Evaluate(ctx, e, manifests)
	if fixFiles {
		if !fix(ctx, e, manifests, results, dryRun, stdout, stderr) {
			return offline.ExitUsage
		}
		if dryRun {
			return offline.ExitAdmit
		}
		// The verdicts are those on the files as fixed.
		manifests = offline.ReadPaths(files, stdin)
		results = offline.Evaluate(ctx, e, manifests)
	}
	if err := offline.Write(stdout, e, results, out); err != nil {
		fmt.Fprintf(stderr, "podguard eval: %v\n", err)
		return offline.ExitUsage
	}
	if out.Format != "text" || out.Mutate {
		// The report on stdout is for machines; say on stderr why the exit code is 2.
		for _, r := range results {
			if r.Verdict == offline.VerdictUnreadable || r.Verdict == offline.VerdictError {
				fmt.Fprintf(stderr, "podguard eval: %s: %s\n", r.Position(), r.Reason)
			}
		}
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
