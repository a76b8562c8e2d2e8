package auditctl

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

// TestWithoutCRDs: on a cluster without the OpenReports CRDs the controller says what is
// missing and how to install it, and exits with an error instead of waiting forever.
func TestWithoutCRDs(t *testing.T) {
	c := cluster.Start(t)
	kubeconfig := harness.AdminKubeconfig(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.bin, "audit", "--watch", "--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, stderr.String())
	}
	if want := "the OpenReports CRDs (reports.openreports.io/v1alpha1) are not installed"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
}
