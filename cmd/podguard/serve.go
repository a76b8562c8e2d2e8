package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/podguard/podguard/policies/audit"
	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/webhook"
)

// startAudit runs the audit controller beside the webhook, on the same configuration files
// and cluster. It elects its own leader, so one of the webhook's replicas writes the
// reports; its failure (no OpenReports CRDs, say) is logged and the webhook serves on.
func startAudit(ctx context.Context, o webhook.Options, leaseNamespace string) error {
	cfg, err := auditRestConfig(o.Kubeconfig, "")
	if err != nil {
		return err
	}
	wo := watchDefaults
	wo.Policies = engine.Options{ConfigFile: o.ConfigFile, PolicyDir: o.PolicyDir}
	wo.MetricsAddr, wo.HealthAddr = "0", "0" // served by the webhook's /metrics: the same registry
	wo.LeaderElection, wo.LeaseNamespace = true, leaseNamespace
	go func() {
		if err := audit.Watch(ctx, cfg, wo); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "the audit controller stopped; the webhook serves on")
		}
	}()
	return nil
}

// serve runs `podguard serve` and returns the exit code.
func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("podguard serve", flag.ContinueOnError)
	o := webhook.Options{Version: version}
	o.AddFlags(fs)
	var auditOn bool
	var auditLeaseNamespace string
	fs.BoolVar(&auditOn, "audit", false, "also run the audit controller in this process, as podguard audit --watch --leader-elect does (its metrics on /metrics); the webhook keeps serving if it fails")
	fs.StringVar(&auditLeaseNamespace, "audit-lease-namespace", os.Getenv("POD_NAMESPACE"), "--audit: namespace of the Lease podguard-audit (default: $POD_NAMESPACE)")
	// controller-runtime's logging flags; without them, JSON lines with RFC 3339 times
	// and no stack traces on error lines (an error answered is not a bug in podguard):
	// --zap-stacktrace-level=error brings them back.
	zopts := zap.Options{StacktraceLevel: zapcore.PanicLevel}
	zopts.BindFlags(fs)
	if f := fs.Lookup("zap-time-encoding"); f != nil {
		f.Usage = "time encoding of log lines: epoch, millis, nano, iso8601, rfc3339 or rfc3339nano (default rfc3339)"
	}
	// Parse errors are reported on one line below; the flags are listed on --help only.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: podguard serve --cert-dir DIR [flags]")
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(os.Stderr, "podguard serve: %v (podguard serve --help lists the flags)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "podguard serve: unexpected argument %q (podguard serve --help lists the flags)\n", fs.Arg(0))
		return 2
	}
	if auditOn && auditLeaseNamespace == "" {
		fmt.Fprintln(os.Stderr, "podguard serve: --audit needs --audit-lease-namespace (or $POD_NAMESPACE)")
		return 2
	}
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)
	if auditOn {
		if err := startAudit(ctrl.LoggerInto(ctx, log.WithName("audit")), o, auditLeaseNamespace); err != nil {
			fmt.Fprintf(os.Stderr, "podguard serve: --audit: %v\n", err)
			return 2
		}
	}
	if err := webhook.Run(ctrl.LoggerInto(ctx, log), o); err != nil {
		// One line, without a stack trace: what is wrong and, for the command line, that
		// the fault is there.
		fmt.Fprintf(os.Stderr, "podguard serve: %v\n", err)
		var usage *webhook.OptionError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}
