package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/podguard/podguard/policies/engine"
)

const testSynopsis = "usage: podguard test DIR [--config FILE]"

const testHelp = `Runs the *_test.rego of a directory of custom rules against the policy library embedded
in this binary (data.pod.lib, data.pod.testing, the built-in rules), as serve and eval
--policy-dir run them before they use the rules: no podguard source tree is needed. The
tests see the default configuration; with --config, the configuration is validated
against the rules too. Each failing test is printed with the expression that failed and
the values of its variables (what the rule gave and what the test expected), and what
it printed.

Exit code: 0 every test passed; 1 a test failed; 2 a usage error, or rules, tests or a
configuration that do not load.
`

// testCommand runs `podguard test` and returns the exit code.
func testCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard test", flag.ContinueOnError)
	opts := engine.Options{RunTests: true, TestReport: stdout}
	fs.StringVar(&opts.ConfigFile, "config", "", "configuration file, validated against the rules (default: the embedded defaults)")
	rest, code, ok := parseArgs(fs, args, stdout, stderr, testSynopsis, testHelp)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintf(stderr, "podguard test: name one directory of custom rules\n%s\n", testSynopsis)
		return 2
	}
	opts.PolicyDir = rest[0]
	if _, err := engine.Load(ctx, opts); err != nil {
		var failed *engine.TestsFailed
		if errors.As(err, &failed) {
			return 1 // the report on stdout names each failure
		}
		fmt.Fprintf(stderr, "podguard test: %v\n", err)
		return 2
	}
	return 0
}
