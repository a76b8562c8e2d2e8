package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/podguard/podguard/policies/audit"
	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/report"
)

const auditSynopsis = "usage: podguard audit [--kubeconfig FILE] [--context NAME] [--namespace NS] [--config FILE] [--policy-dir DIR] [-o table|json|report]\n       podguard audit --watch [--kubeconfig FILE] [--config FILE] [--policy-dir DIR] [--leader-elect] [flags]"

const auditHelp = `Lists the Pods and workloads already in a cluster that violate the policies, grouped by
namespace and rule, with each violation's enforcement. Objects made by a controller that
podguard checks are reported through that controller.

Exit code: 0 nothing violates the policies; 1 at least one object does; 2 bad flags, an
unreachable cluster or policies that do not load.

-o report prints OpenReports (openreports.io/v1alpha1) Report objects, one per namespace
with something to report, as the audit controller keeps them: kubectl apply -f takes them.

--watch runs the audit controller instead: it keeps those reports in the cluster up to
date as objects, namespaces and the configuration change, until it is stopped. With
--leader-elect, one replica of several writes them.
`

// watchDefaults are the audit controller's settings that `audit --watch` starts from and
// `serve --audit` runs with, so that both elect their leader in the same Lease.
var watchDefaults = audit.WatchOptions{LeaseName: "podguard-audit", LeaseDuration: 15 * time.Second, PollInterval: 5 * time.Second}

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
	var watch bool
	wo := watchDefaults
	fs.BoolVar(&watch, "watch", false, "run the audit controller: keep OpenReports Reports in the cluster up to date")
	fs.StringVar(&wo.MetricsAddr, "metrics-bind-address", ":8080", "--watch: /metrics listen address (0 turns it off)")
	fs.StringVar(&wo.HealthAddr, "health-probe-bind-address", ":8081", "--watch: /healthz and /readyz listen address (0 turns it off)")
	fs.BoolVar(&wo.LeaderElection, "leader-elect", false, "--watch: elect one replica to write the reports")
	fs.StringVar(&wo.LeaseNamespace, "leader-election-namespace", os.Getenv("POD_NAMESPACE"), "--watch: namespace of the Lease podguard-audit (default: $POD_NAMESPACE)")
	fs.DurationVar(&wo.LeaseDuration, "lease-duration", watchDefaults.LeaseDuration, "--watch: how long a leader that stops renewing keeps the Lease; another replica takes over after it")
	fs.StringVar(&wo.Identity, "identity", "", "--watch: this replica's name in the Lease and as the reports' field manager (default: host name and a random suffix)")
	fs.Float64Var(&wo.Controller.Rate, "rate", 1000, "--watch: objects judged per second at most")
	fs.DurationVar(&wo.PollInterval, "poll-interval", watchDefaults.PollInterval, "--watch: how often the policy files are read for changes")
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
	if watch {
		switch {
		case output != "table":
			return usageError("-o and --watch: the controller writes reports into the cluster")
		case namespace != "":
			return usageError("--namespace and --watch: the controller audits every namespace")
		case wo.LeaderElection && wo.LeaseNamespace == "":
			return usageError("--leader-elect needs --leader-election-namespace (or $POD_NAMESPACE)")
		case wo.LeaseDuration <= 0 || wo.Controller.Rate <= 0 || wo.PollInterval <= 0:
			return usageError("--lease-duration, --rate and --poll-interval must be positive")
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "podguard audit: %v\n", err)
		return audit.ExitError
	}
	cfg, err := auditRestConfig(kubeconfig, kubecontext)
	if err != nil {
		return fail(err)
	}
	if watch {
		log := zap.New(zap.UseDevMode(false))
		ctrl.SetLogger(log)
		wo.Policies = opts
		if err := audit.Watch(ctrl.LoggerInto(ctx, log), cfg, wo); err != nil {
			return fail(err)
		}
		return audit.ExitClean
	}
	e, err := engine.Load(ctx, opts)
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
