// Command podguard is the admission webhook and its offline checker. The work is done in
// webhook/ (serve), policies/offline (eval) and policies/audit (audit); this file only
// dispatches.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/podguard/podguard/policies/audit"
	"github.com/podguard/podguard/policies/offline"
	"github.com/podguard/podguard/policies/selftest"
	"github.com/podguard/podguard/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: podguard <command> [flags]

commands:
  serve     run the admission webhook (podguard serve --help)
  eval      check manifests offline (podguard eval --help)
  audit     list what already runs in a cluster and violates the policies (podguard audit --help)
  selftest  dry-run a compliant and a violating Pod through the cluster's podguard (helm test)
  version   print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(ctx, os.Args[2:]))
	case "eval":
		os.Exit(offline.Main(ctx, version, os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "audit":
		os.Exit(audit.Main(ctx, os.Args[2:], os.Stdout, os.Stderr))
	case "selftest":
		os.Exit(selftest.Main(ctx, os.Args[2:], os.Stdout, os.Stderr))
	case "version":
		fmt.Println(version)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("podguard serve", flag.ContinueOnError)
	var o webhook.Options
	o.AddFlags(fs)
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := zap.New(zap.UseFlagOptions(&zopts), zap.JSONEncoder())
	ctrl.SetLogger(log)
	if err := webhook.Run(ctrl.LoggerInto(ctx, log), o); err != nil {
		log.Error(err, "podguard serve failed")
		return 1
	}
	return 0
}
