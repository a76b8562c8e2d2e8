package harness

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
)

// Selftest runs `podguard selftest` with args, as the chart's helm test does, and returns
// its output (stdout and stderr) and exit code.
func Selftest(ctx context.Context, args ...string) (string, int, error) {
	bin, err := Binary()
	if err != nil {
		return "", 0, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"selftest"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	code, err := ExitCode(cmd.Run())
	return out.String(), code, err
}

// ExitCode is the exit code of a command that ran to its end, from what its Run or Wait
// returned: 0 for nil, the code of an *exec.ExitError; any other error is returned, as
// the command could not run.
func ExitCode(err error) (int, error) {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}
