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
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), nil
	}
	return out.String(), 0, err
}
