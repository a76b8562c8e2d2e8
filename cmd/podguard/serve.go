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

	"github.com/podguard/podguard/webhook"
)

// serve runs `podguard serve` and returns the exit code.
func serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("podguard serve", flag.ContinueOnError)
	o := webhook.Options{Version: version}
	o.AddFlags(fs)
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
