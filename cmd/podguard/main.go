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
	"runtime"
	"runtime/debug"
	"syscall"

	"go.uber.org/zap/zapcore"
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
  version   print podguard's version, commit, Go and OPA versions (also --version)
  help      print this, or a command's help (podguard help eval)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		if len(rest) > 0 && isHelp(rest[0]) {
			serve(ctx, rest) // prints serve's flags and returns before anything starts
			return 0
		}
		return serve(ctx, rest)
	case "eval":
		return offline.Main(ctx, version, rest, stdin, stdout, stderr)
	case "audit":
		return audit.Main(ctx, rest, stdout, stderr)
	case "selftest":
		return selftest.Main(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprint(stdout, versionText(version))
		return 0
	case "help":
		if len(rest) > 0 && rest[0] != "help" {
			return run(ctx, []string{rest[0], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if isHelp(cmd) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "podguard: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// versionText says what this binary is: podguard's version (set at build time, or the
// module version that go install built), the commit it was built from, and the Go and
// OPA versions in it.
func versionText(version string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	return describeBuild(version, bi)
}

func describeBuild(version string, bi *debug.BuildInfo) string {
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	commit := settings["vcs.revision"]
	switch {
	case commit == "":
		commit = "unknown (built without version control information)"
	case settings["vcs.modified"] == "true":
		commit += " (with uncommitted changes)"
	}
	if t := settings["vcs.time"]; t != "" && settings["vcs.revision"] != "" {
		commit += ", " + t
	}
	opa := "unknown"
	for _, d := range bi.Deps {
		if d.Path == "github.com/open-policy-agent/opa" {
			opa = d.Version
			if d.Replace != nil {
				opa = d.Replace.Version + " (replaces " + d.Version + ")"
			}
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return fmt.Sprintf("podguard %s\ncommit:   %s\ngo:       %s\nopa:      %s\nplatform: %s/%s\n",
		version, commit, goVersion, opa, runtime.GOOS, runtime.GOARCH)
}

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
