package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/podguard/podguard/policies/audit"
	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

const auditSynopsis = "usage: podguard audit [--kubeconfig FILE] [--context NAME] [--namespace NS] [--config FILE] [--policy-dir DIR] [-o table|json|report]"

const auditHelp = `Lists the Pods and workloads already in a cluster that violate the policies, grouped by
namespace and rule, with each violation's enforcement. Objects made by a controller that
podguard checks are reported through that controller.

Exit code: 0 nothing violates the policies; 1 at least one object does; 2 bad flags, an
unreachable cluster or policies that do not load.

-o report prints OpenReports (openreports.io/v1alpha1) Report objects, one per namespace
with something to report, as the audit controller keeps them: kubectl apply -f takes them.
`

// auditCommand runs `podguard audit` and returns the exit code.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard audit", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, once
	var kubeconfig, kubecontext, namespace, output string
	var opts engine.Options
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.StringVar(&kubecontext, "context", "", "kubeconfig context to use (default: its current context)")
	fs.StringVar(&namespace, "namespace", "", "audit one namespace (default: all)")
	fs.StringVar(&opts.ConfigFile, "config", "", "configuration file (default: the embedded defaults)")
	fs.StringVar(&opts.PolicyDir, "policy-dir", "", "directory of custom Rego rules")
	fs.StringVar(&output, "o", "table", "output format: table, json or report (OpenReports Report objects, YAML)")
	usageError := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "podguard audit: "+format+"\n%s\n", append(a, auditSynopsis)...)
		return audit.ExitError
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, "%s\n\n%s\nflags:\n", auditSynopsis, auditHelp)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return audit.ExitClean
	case err != nil:
		return usageError("%v", err)
	case fs.NArg() > 0:
		return usageError("unexpected argument %q", fs.Arg(0))
	case output != "table" && output != "json" && output != "report":
		return usageError("-o %q: use table, json or report", output)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "podguard audit: %v\n", err)
		return audit.ExitError
	}
	e, err := engine.Load(ctx, opts)
	if err != nil {
		return fail(err)
	}
	cfg, err := auditRestConfig(kubeconfig, kubecontext)
	if err != nil {
		return fail(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	if output == "report" {
		entries, err := audit.Judge(ctx, e, dc, namespace)
		if err != nil {
			return fail(err)
		}
		reports := report.Build(entries, time.Now())
		if err := report.WriteYAML(stdout, reports); err != nil {
			return fail(err)
		}
		if len(reports) > 0 {
			return audit.ExitViolations
		}
		return audit.ExitClean
	}
	findings, err := audit.Run(ctx, e, dc, namespace)
	if err != nil {
		return fail(err)
	}
	if err := audit.Write(stdout, findings, output); err != nil {
		return fail(err)
	}
	if len(findings) > 0 {
		return audit.ExitViolations
	}
	return audit.ExitClean
}

// auditRestConfig finds the cluster: in the kubeconfig named, or where kubectl looks
// ($KUBECONFIG, ~/.kube/config) and in-cluster, using the context named or the current one.
func auditRestConfig(kubeconfig, kubecontext string) (*rest.Config, error) {
	if kubeconfig == "" {
		return config.GetConfigWithContext(kubecontext)
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubecontext}).ClientConfig()
}
