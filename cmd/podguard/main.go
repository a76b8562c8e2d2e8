// Command podguard is the admission webhook and its offline checker. The work is done in
// webhook/ (serve), policies/offline (eval) and policies/audit (audit); this file only
// dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/podguard/podguard/policies/audit"
	"github.com/podguard/podguard/policies/offline"
	"github.com/podguard/podguard/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: podguard <command> [flags]

commands:
  serve     run the admission webhook (podguard serve --help)
  eval      check manifests offline (podguard eval --help)
  audit     list what already runs in a cluster and violates the policies (podguard audit --help)
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
	case "version":
		fmt.Println(version)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
}

func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("podguard serve", flag.ContinueOnError)
	o := webhook.Options{Version: version}
	o.AddFlags(fs)
	// controller-runtime's logging flags; without them, JSON lines with RFC 3339 times.
	zopts := zap.Options{}
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
	log := zap.New(zap.UseFlagOptions(&zopts))
	ctrl.SetLogger(log)
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
