// Command podguard is the admission webhook and its offline checker. Each subcommand's
// command line is in its own file (serve.go, eval.go, audit.go, prefilter.go, selftest.go, test.go); the work is
// done in webhook/ (serve), policies/offline (eval), policies/audit (audit) and
// policies/selftest (selftest). This file dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: podguard <command> [flags]

commands:
  serve     run the admission webhook (podguard serve --help)
  eval      check manifests offline (podguard eval --help)
  audit     list what already runs in a cluster and violates the policies (podguard audit --help)
  prefilter print the matchConditions that skip calls whose answer cannot matter
  selftest  dry-run a compliant and a violating Pod through the cluster's podguard (helm test)
  test      run a custom rule directory's Rego tests against the embedded library (podguard test --help)
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
		return serve(ctx, rest) // on --help it prints its flags and returns 0 before anything starts
	case "eval":
		return evalCommand(ctx, version, rest, stdin, stdout, stderr)
	case "audit":
		return auditCommand(ctx, rest, stdout, stderr)
	case "prefilter":
		return prefilterCommand(ctx, rest, stdout, stderr)
	case "selftest":
		return selftestCommand(ctx, rest, stdout, stderr)
	case "test":
		return testCommand(ctx, rest, stdout, stderr)
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
