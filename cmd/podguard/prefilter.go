package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/prefilter"
)

const prefilterUsage = `usage: podguard prefilter [--config FILE] [--policy-dir DIR]

Prints, as YAML, the matchConditions that let the API server skip podguard's webhooks
when their answer cannot matter (mutating: the Pod has every default; validating: the
object complies with every rule in every namespace). Put them after your own conditions
in each webhook. An empty list means that webhook has no prefilter; reasons says why.`

// prefilterCommand runs `podguard prefilter` and returns the exit code.
func prefilterCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard prefilter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, prefilterUsage); fs.PrintDefaults() }
	var o engine.Options
	fs.StringVar(&o.ConfigFile, "config", "", "podguard's configuration file, as the webhook reads it (default: the embedded defaults)")
	fs.StringVar(&o.PolicyDir, "policy-dir", "", "directory of custom Rego rules, as the webhook reads it")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, prefilterUsage)
		return 2
	}
	e, err := engine.Load(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "podguard prefilter: %v\n", err)
		return 1
	}
	out, err := yaml.Marshal(prefilter.Generate(e.Config(), e.Rules()))
	if err != nil {
		fmt.Fprintf(stderr, "podguard prefilter: %v\n", err)
		return 1
	}
	_, _ = stdout.Write(out)
	return 0
}
